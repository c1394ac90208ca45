package org.sparsesteer.model;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.tensor.Tensors;

/** Log-probabilities of given tokens after prompts: what A/B evaluations and perplexities need. */
public final class Scorer {
    private Scorer() {}

    /**
     * For each prompt, log p(token | prompt) of each of {@code tokens} at the position after the
     * prompt: [prompts][tokens]. Prompts are scored as one left-padded batch.
     */
    public static float[][] nextTokenLogProbs(Gemma2 model, List<int[]> prompts, int[] tokens, Hooks hooks) {
        for (int t : tokens) {
            if (t < 0 || t >= model.config().vocabSize()) throw new IllegalArgumentException("token " + t + " is outside the vocabulary");
        }
        TokenBatch batch = TokenBatch.leftPadded(prompts, model.config().padTokenId());
        try (PointerScope scope = new PointerScope()) {
            Tensor logits = model.forward(batch, batch.length(), null, hooks, true); // [B, 1, V]
            Tensor lp = logits.select(1, 0).log_softmax(-1).cpu();
            logits.close();
            Tensor idx = Tensors.fromInts(tokens, tokens.length);
            float[] flat = Tensors.toFloats(lp.index_select(1, idx));
            float[][] r = new float[prompts.size()][tokens.length];
            for (int b = 0; b < r.length; b++) System.arraycopy(flat, b * tokens.length, r[b], 0, tokens.length);
            return r;
        }
    }

    /** Full next-token log-probabilities [vocab] after one prompt. */
    public static float[] nextTokenLogProbs(Gemma2 model, int[] prompt, Hooks hooks) {
        TokenBatch batch = TokenBatch.single(prompt);
        try (PointerScope scope = new PointerScope()) {
            Tensor logits = model.forward(batch, batch.length(), null, hooks, true);
            float[] r = Tensors.toFloats(logits.select(1, 0).select(0, 0).log_softmax(-1));
            logits.close();
            return r;
        }
    }

    /**
     * log p(continuation[i] | prompt, continuation[:i]) for each row and each continuation token,
     * scored as one left-padded batch of prompt + continuation sequences.
     */
    public static float[][] continuationLogProbs(Gemma2 model, List<int[]> prompts, List<int[]> continuations, Hooks hooks) {
        if (prompts.size() != continuations.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts but " + continuations.size() + " continuations");
        }
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int[] p = prompts.get(i), c = continuations.get(i);
            if (p.length == 0) throw new IllegalArgumentException("prompt " + i + " is empty");
            int[] r = new int[p.length + c.length];
            System.arraycopy(p, 0, r, 0, p.length);
            System.arraycopy(c, 0, r, p.length, c.length);
            rows.add(r);
        }
        TokenBatch batch = TokenBatch.leftPadded(rows, model.config().padTokenId());
        float[][] out = new float[rows.size()][];
        try (PointerScope scope = new PointerScope()) {
            Tensor logits = model.forward(batch, batch.length(), null, hooks, false);
            Tensor lp = logits.log_softmax(-1).cpu();
            logits.close();
            for (int b = 0; b < rows.size(); b++) {
                int[] c = continuations.get(b);
                out[b] = new float[c.length];
                int L = batch.length();
                for (int j = 0; j < c.length; j++) {
                    // The token at sequence index L - c.length + j is predicted at the index before it.
                    out[b][j] = lp.get(b).get(L - c.length + j - 1).get(c[j]).item_float();
                }
            }
        }
        return out;
    }
}
