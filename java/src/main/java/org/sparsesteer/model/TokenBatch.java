package org.sparsesteer.model;

import java.util.List;

/**
 * Token sequences of different lengths, left-padded to a common length so that all rows end at the
 * same index (what a batched KV-cache decode needs). {@code padLeft[b]} counts row b's padding.
 */
public record TokenBatch(long[][] ids, int[] padLeft, int length) {
    public static TokenBatch leftPadded(List<int[]> rows, int padId) {
        if (rows.isEmpty()) throw new IllegalArgumentException("batch is empty");
        int len = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (rows.get(i).length == 0) throw new IllegalArgumentException("sequence " + i + " of the batch is empty");
            len = Math.max(len, rows.get(i).length);
        }
        long[][] ids = new long[rows.size()][len];
        int[] pad = new int[rows.size()];
        for (int b = 0; b < rows.size(); b++) {
            int[] r = rows.get(b);
            pad[b] = len - r.length;
            for (int t = 0; t < len; t++) ids[b][t] = t < pad[b] ? padId : r[t - pad[b]];
        }
        return new TokenBatch(ids, pad, len);
    }

    public static TokenBatch single(int[] ids) {
        return leftPadded(List.of(ids), 0);
    }

    public int size() {
        return ids.length;
    }

    /** Row-major flattening for tensor creation. */
    public long[] flat() {
        long[] f = new long[ids.length * length];
        for (int b = 0; b < ids.length; b++) System.arraycopy(ids[b], 0, f, b * length, length);
        return f;
    }
}
