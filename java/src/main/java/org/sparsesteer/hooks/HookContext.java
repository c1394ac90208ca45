package org.sparsesteer.hooks;

import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.tensor.Tensors;

/**
 * What a hook knows about the positions of the activation it sees. Batches are left-padded, so for
 * row b the sequence index i (counted from the start of the KV cache) is padding when
 * {@code i < padLeft[b]}, prompt when {@code padLeft[b] <= i < promptEnd}, and generated after.
 * The activation covers indices {@code [start, start + length)}.
 */
public final class HookContext {
    private final int start;
    private final int length;
    private final int[] padLeft;
    private final int promptEnd;

    public HookContext(int start, int length, int[] padLeft, int promptEnd) {
        this.start = start;
        this.length = length;
        this.padLeft = padLeft;
        this.promptEnd = promptEnd;
    }

    public int batchSize() {
        return padLeft.length;
    }

    /** Sequence index of the activation's first position. */
    public int start() {
        return start;
    }

    /** Number of positions T in the activation. */
    public int length() {
        return length;
    }

    public int padLeft(int row) {
        return padLeft[row];
    }

    public int promptEnd() {
        return promptEnd;
    }

    public boolean isPadding(int row, int t) {
        return start + t < padLeft[row];
    }

    public boolean isPrompt(int row, int t) {
        int i = start + t;
        return i >= padLeft[row] && i < promptEnd;
    }

    public boolean isGenerated(int row, int t) {
        return start + t >= promptEnd;
    }

    /** Which positions a position filter selects. */
    public enum Positions { ALL, PROMPT, GENERATED }

    /** A [batch * T] uint8 CPU mask (1 = selected; padding is never selected), row-major over (b, t). */
    public Tensor mask(Positions which) {
        long[] m = new long[padLeft.length * length];
        for (int b = 0; b < padLeft.length; b++) {
            for (int t = 0; t < length; t++) {
                boolean sel = !isPadding(b, t) && switch (which) {
                    case ALL -> true;
                    case PROMPT -> isPrompt(b, t);
                    case GENERATED -> isGenerated(b, t);
                };
                m[b * length + t] = sel ? 1 : 0;
            }
        }
        try (Tensor l = Tensors.fromLongs(m, m.length)) {
            return l.to(org.bytedeco.pytorch.global.torch.ScalarType.Byte);
        }
    }

    /**
     * Whether every position of the activation is selected (no padding, nothing left out): hooks then
     * need no mask at all (on a GPU, building one is a host-to-device copy every step).
     */
    public boolean all(Positions which) {
        for (int b = 0; b < padLeft.length; b++) {
            for (int t = 0; t < length; t++) {
                if (isPadding(b, t)) return false;
                if (which == Positions.PROMPT ? !isPrompt(b, t) : which == Positions.GENERATED && !isGenerated(b, t))
                    return false;
            }
        }
        return true;
    }

    /** Whether any position of the activation is selected (lets hooks skip work entirely). */
    public boolean any(Positions which) {
        for (int b = 0; b < padLeft.length; b++) {
            for (int t = 0; t < length; t++) {
                if (isPadding(b, t)) continue;
                if (which == Positions.ALL || (which == Positions.PROMPT ? isPrompt(b, t) : isGenerated(b, t))) return true;
            }
        }
        return false;
    }
}
