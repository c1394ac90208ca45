package org.sparsesteer.steer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.TokenBatch;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.tensor.Tensors;

/** Which features carry a vector, and which features fire on a text. */
public final class Inspect {
    private Inspect() {}

    /** One feature of a vector: its index, value and how often it fired on each side (NaN when unknown). */
    public record Feature(long index, float value, float freqPos, float freqNeg) {}

    /** The features of a vector sorted by |v| descending (ties by lower index); at most {@code top} (0 = all). */
    public static List<Feature> features(SteeringVector v, int top) {
        Integer[] order = new Integer[v.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(Math.abs(v.values()[b]), Math.abs(v.values()[a]));
            return c != 0 ? c : Long.compare(v.indices()[a], v.indices()[b]);
        });
        int n = top > 0 ? Math.min(top, order.length) : order.length;
        List<Feature> r = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = order[i];
            r.add(new Feature(v.indices()[k], v.values()[k], v.freqPos() == null ? Float.NaN : v.freqPos()[k],
                    v.freqNeg() == null ? Float.NaN : v.freqNeg()[k]));
        }
        return r;
    }

    /** The k most active features at one token. */
    public record TokenFeatures(int position, int tokenId, long[] features, float[] activations) {}

    /** Per token of a sequence, its top-k active SAE features (inactive ones omitted). */
    public static List<TokenFeatures> activeFeatures(Gemma2 model, Sae sae, int[] ids, int k) {
        sae.checkCompatible(model);
        if (k < 1) throw new IllegalArgumentException("top-k must be >= 1, got " + k);
        List<TokenFeatures> out = new ArrayList<>();
        try (PointerScope s = new PointerScope()) {
            Tensor x = model.activations(TokenBatch.single(ids), sae.hook(), Hooks.NONE).select(0, 0);
            Tensor f = sae.encode(x.to(sae.wEnc().device(), sae.wEnc().scalar_type())).cpu();
            int kk = Math.min(k, sae.width());
            var top = f.topk(kk);
            float[] vals = Tensors.toFloats(top.get0());
            long[] idx = Tensors.toLongs(top.get1());
            for (int t = 0; t < ids.length; t++) {
                int n = 0;
                while (n < kk && vals[t * kk + n] > 0) n++;
                out.add(new TokenFeatures(t, ids[t], Arrays.copyOfRange(idx, t * kk, t * kk + n), Arrays.copyOfRange(vals, t * kk, t * kk + n)));
            }
        }
        return out;
    }
}
