package org.sparsesteer.eval;

import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.TokenBatch;

/**
 * The side effect of steering: mean over every position of neutral texts of
 * KL(p_unsteered || p_steered) of the next-token distributions.
 */
public final class KlDivergence {
    private KlDivergence() {}

    public static double mean(Gemma2 model, List<int[]> texts, Hooks steered) {
        double sum = 0;
        long count = 0;
        for (int[] ids : texts) {
            try (PointerScope s = new PointerScope()) {
                TokenBatch b = TokenBatch.single(ids);
                Tensor p = model.forward(b, Hooks.NONE).log_softmax(-1);   // [1, T, V]
                Tensor q = model.forward(b, steered).log_softmax(-1);
                Tensor kl = p.exp().mul(p.sub(q)).sum(new long[] {-1}, false, new org.bytedeco.pytorch.ScalarTypeOptional(ScalarType.Double));
                sum += kl.sum().item_double();
                count += ids.length;
            }
        }
        return count == 0 ? 0 : sum / count;
    }
}
