package org.sparsesteer.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.TokenBatch;
import org.sparsesteer.tensor.Tensors;

/**
 * Activation rows [n, d] at a hook, computed from the model as they are needed and served through a
 * shuffle buffer, so the whole activation set is never held: the buffer holds about
 * {@code capacity} rows; it is topped up with fresh rows (a model call over a few windows of text)
 * and reshuffled whenever it falls below half, which mixes rows of many texts in every batch. The
 * text windows are visited in a new seeded order each epoch; the stream cycles for as long as it is
 * asked.
 */
final class ActivationStream implements AutoCloseable {
    /** Tokens per model call: large enough to keep a GPU busy, small enough for a CPU's cache. */
    static final int TOKENS_PER_CALL = 4096;

    private final Gemma2 model;
    private final HookPoint point;
    private final List<int[]> windows;
    private final int bos;
    private final boolean excludeBos;
    private final int capacity;
    private final Device device;
    private final Random order;
    private final GeneratorOptional gen;
    private final long rowsPerEpoch;
    private int[] perm;
    private int cursor;
    private Tensor buffer; // unread rows, on the device

    ActivationStream(Gemma2 model, HookPoint point, List<int[]> windows, boolean excludeBos, int capacity, Device device, long seed,
                     GeneratorOptional gen) {
        this.model = model;
        this.point = point;
        this.windows = windows;
        this.bos = model.config().bosTokenId();
        this.excludeBos = excludeBos;
        this.capacity = capacity;
        this.device = device;
        this.order = new Random(seed);
        this.gen = gen;
        this.rowsPerEpoch = countRows(windows, bos, excludeBos);
        if (rowsPerEpoch == 0) throw new IllegalArgumentException("--text: the training texts have no tokens besides <bos>");
        this.perm = shuffled(windows.size());
        try (Tensor empty = Tensors.zeros(ScalarType.Float, 0, model.config().hiddenSize())) {
            this.buffer = empty.to(device, ScalarType.Float);
        }
    }

    long rowsPerEpoch() {
        return rowsPerEpoch;
    }

    /** The next {@code rows} rows [rows, d] float32 on the device; the caller owns them. */
    Tensor next(int rows) {
        if (buffer.size(0) < Math.max(rows, capacity / 2)) refill(Math.max(rows, capacity));
        try (PointerScope s = new PointerScope()) {
            long n = buffer.size(0);
            Tensor out = Tensors.keep(buffer.narrow(0, n - rows, rows).clone());
            Tensor rest = Tensors.keep(buffer.narrow(0, 0, n - rows));
            buffer.close();
            buffer = rest;
            return out;
        }
    }

    /** A copy of up to {@code rows} buffered rows, without consuming them (for initialisation). */
    Tensor peek(int rows) {
        if (buffer.size(0) < rows) refill(Math.max(rows, capacity));
        try (PointerScope s = new PointerScope()) {
            return Tensors.keep(buffer.narrow(0, 0, Math.min(rows, buffer.size(0))).clone());
        }
    }

    private void refill(long target) {
        try (PointerScope s = new PointerScope()) {
            TensorVector parts = new TensorVector(buffer);
            long n = buffer.size(0);
            while (n < target) {
                // rows() hands over a tensor it kept: this scope does not own it, so close it here
                try (Tensor r = rows(model, point, nextChunk(), bos, excludeBos)) {
                    parts.push_back(r.to(device, ScalarType.Float));
                    n += r.size(0);
                }
            }
            Tensor all = torch.cat(parts, 0);
            Tensor idx = torch.randperm(n, gen).to(device, ScalarType.Long);
            Tensor shuffled = Tensors.keep(all.index_select(0, idx));
            buffer.close();
            buffer = shuffled;
        }
    }

    /** The next windows of the epoch order, about TOKENS_PER_CALL tokens (at least one window). */
    private List<int[]> nextChunk() {
        List<int[]> chunk = new ArrayList<>();
        int tokens = 0;
        while (chunk.isEmpty() || tokens + windows.get(perm[cursor]).length <= TOKENS_PER_CALL) {
            int[] w = windows.get(perm[cursor]);
            chunk.add(w);
            tokens += w.length;
            if (++cursor == perm.length) {
                perm = shuffled(windows.size());
                cursor = 0;
                break; // an epoch boundary: the next epoch starts with a fresh chunk
            }
        }
        return chunk;
    }

    private int[] shuffled(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = order.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /**
     * All activation rows [n, d] float32 (CPU) of some windows, in order, without padding and (if
     * asked) without BOS positions, at most {@code maxRows} of them.
     */
    static Tensor rows(Gemma2 model, HookPoint point, List<int[]> windows, int bos, boolean excludeBos, long maxRows) {
        try (PointerScope s = new PointerScope()) {
            TensorVector parts = new TensorVector();
            long n = 0;
            int i = 0;
            while (i < windows.size() && n < maxRows) {
                List<int[]> chunk = new ArrayList<>();
                int tokens = 0;
                while (i < windows.size() && (chunk.isEmpty() || tokens + windows.get(i).length <= TOKENS_PER_CALL)) {
                    tokens += windows.get(i).length;
                    chunk.add(windows.get(i++));
                }
                try (Tensor r = rows(model, point, chunk, bos, excludeBos)) {
                    parts.push_back(r);
                    n += r.size(0);
                }
            }
            Tensor all = parts.size() == 0 ? Tensors.zeros(ScalarType.Float, 0, model.config().hiddenSize()) : torch.cat(parts, 0);
            return Tensors.keep(all.narrow(0, 0, Math.min(n, maxRows)).clone());
        }
    }

    /** One model call over a few windows: the rows of their real (non-padding, non-BOS) positions. */
    static Tensor rows(Gemma2 model, HookPoint point, List<int[]> chunk, int bos, boolean excludeBos) {
        TokenBatch batch = TokenBatch.leftPadded(chunk, model.config().padTokenId());
        int T = batch.length();
        List<Long> keep = new ArrayList<>();
        for (int b = 0; b < batch.size(); b++) {
            for (int t = batch.padLeft()[b]; t < T; t++) {
                if (!(excludeBos && batch.ids()[b][t] == bos)) keep.add((long) b * T + t);
            }
        }
        long[] idx = new long[keep.size()];
        for (int i = 0; i < idx.length; i++) idx[i] = keep.get(i);
        try (PointerScope s = new PointerScope(); Tensor acts = model.activations(batch, point, Hooks.NONE)) {
            Tensor flat = acts.view(-1, acts.size(2));
            return Tensors.keep(flat.index_select(0, Tensors.fromLongs(idx, idx.length)));
        }
    }

    static long countRows(List<int[]> windows, int bos, boolean excludeBos) {
        long n = 0;
        for (int[] w : windows) for (int id : w) if (!(excludeBos && id == bos)) n++;
        return n;
    }

    /**
     * Cuts texts longer than {@code contextSize} into windows of that length; a window after the
     * first starts with a fresh BOS when the text did, so every window looks like a document start.
     */
    static List<int[]> windows(List<int[]> texts, int contextSize, int bos) {
        List<int[]> out = new ArrayList<>();
        for (int[] t : texts) {
            if (t.length <= contextSize) {
                out.add(t);
                continue;
            }
            boolean withBos = t[0] == bos;
            out.add(java.util.Arrays.copyOf(t, contextSize));
            int body = withBos ? contextSize - 1 : contextSize;
            for (int start = contextSize; start < t.length; start += body) {
                int len = Math.min(body, t.length - start);
                int[] w = new int[len + (withBos ? 1 : 0)];
                if (withBos) w[0] = bos;
                System.arraycopy(t, start, w, withBos ? 1 : 0, len);
                out.add(w);
            }
        }
        return out;
    }

    @Override
    public void close() {
        buffer.close();
    }
}
