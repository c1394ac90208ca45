package org.sparsesteer.steer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.kernels.SasKernels;
import org.sparsesteer.kernels.TopK;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.TokenBatch;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.tensor.Tensors;

/**
 * Builds Sparse Activation Steering vectors (Bayat et al., 2025), exactly:
 * <ol>
 *   <li>for every positive and negative sequence, x = the activation at the SAE's hook at the last
 *       token; f = encode(x);</li>
 *   <li>freq+_j = fraction of positive sequences with f_j &gt; 0; S+ = {j : freq+_j &gt;= tau}; the
 *       same over the negatives gives S-;</li>
 *   <li>S+' = S+ \ S-, S-' = S- \ S+ (shared features removed);</li>
 *   <li>v+_j = mean of f_j over all positive sequences (zeros included) for j in S+', else 0; v- likewise;</li>
 *   <li>v = v+ - v-; optionally only the k entries of largest |v| (ties by lower index).</li>
 * </ol>
 * Codes are accumulated in chunks (counts and sums per feature), so wide SAEs never hold an [N, width]
 * matrix.
 */
public final class SasBuilder {
    private final Gemma2 model;
    private final Sae sae;
    private double tau = 0.5;
    private int topK = 0;
    private int batchSize = 16;
    private IntConsumer progress = n -> {};

    public SasBuilder(Gemma2 model, Sae sae) {
        sae.checkCompatible(model);
        this.model = model;
        this.sae = sae;
    }

    public SasBuilder tau(double tau) {
        if (!(tau >= 0 && tau <= 1)) throw new IllegalArgumentException("tau must be in [0, 1], got " + tau);
        this.tau = tau;
        return this;
    }

    public SasBuilder topK(int k) {
        if (k < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 = keep all), got " + k);
        this.topK = k;
        return this;
    }

    public SasBuilder batchSize(int b) {
        if (b < 1) throw new IllegalArgumentException("batch size must be >= 1");
        this.batchSize = b;
        return this;
    }

    /** Called with the number of sequences done so far (for progress bars). */
    public SasBuilder onProgress(IntConsumer progress) {
        this.progress = progress;
        return this;
    }

    /** Per-side statistics: how many sequences activated each feature and the sum of its activations. */
    record SideStats(float[] count, float[] sum, int n) {
        float[] freq() {
            float[] f = new float[count.length];
            for (int j = 0; j < f.length; j++) f[j] = count[j] / n;
            return f;
        }
    }

    public SteeringVector build(List<ContrastivePair> pairs, String datasetName, String datasetSha256) {
        if (pairs.isEmpty()) throw new IllegalArgumentException("no contrastive pairs");
        List<int[]> pos = new ArrayList<>(), neg = new ArrayList<>();
        for (ContrastivePair p : pairs) {
            pos.add(p.positive());
            neg.add(p.negative());
        }
        int[] done = {0};
        return vector(stats(pos, done), stats(neg, done), pairs.size(), datasetName, datasetSha256);
    }

    /**
     * The same vector from last-token activations already computed at the SAE's hook ({@link
     * #lastTokenActivations}): [N, d] of the positive and of the negative sequences. Lets one pass
     * over the pairs serve both SAS and CAA ({@link CaaVector#fromActivations}).
     */
    public SteeringVector build(Tensor positive, Tensor negative, String datasetName, String datasetSha256) {
        if (positive.size(0) == 0 || positive.size(0) != negative.size(0)) {
            throw new IllegalArgumentException("need as many positive as negative activations (and some), got "
                    + positive.size(0) + " and " + negative.size(0));
        }
        return vector(stats(positive), stats(negative), (int) positive.size(0), datasetName, datasetSha256);
    }

    private SteeringVector vector(SideStats sp, SideStats sn, int pairs, String datasetName, String datasetSha256) {
        float[] fp = sp.freq(), fn = sn.freq();
        int m = sae.width();
        float[] v = new float[m];
        int sPos = 0, sNeg = 0;
        for (int j = 0; j < m; j++) {
            boolean inPos = fp[j] >= tau, inNeg = fn[j] >= tau;
            if (inPos) sPos++;
            if (inNeg) sNeg++;
            float vp = inPos && !inNeg ? sp.sum[j] / sp.n : 0f;
            float vn = inNeg && !inPos ? sn.sum[j] / sn.n : 0f;
            v[j] = vp - vn;
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("method", "sas");
        meta.put("hook", sae.config().hookName());
        meta.put("sae_path", sae.config().source());
        meta.put("sae_width", Integer.toString(m));
        meta.put("sae_d_in", Integer.toString(sae.dIn()));
        meta.put("sae_sha256", sae.config().identity());
        meta.put("tau", Double.toString(tau));
        meta.put("top_k", Integer.toString(topK));
        meta.put("s_pos", Integer.toString(sPos));
        meta.put("s_neg", Integer.toString(sNeg));
        meta.put("pairs", Integer.toString(pairs));
        meta.put("position", "last");
        if (datasetName != null) meta.put("dataset", datasetName);
        if (datasetSha256 != null) meta.put("dataset_sha256", datasetSha256);
        meta.put("tool_version", Version.get());
        if (topK > 0) v = keepLargest(v, topK);
        return SteeringVector.fromDense(v, fp, fn, meta);
    }

    /**
     * Zeroes all but the k entries of largest |v| (ties by lower index) with the native top-k kernel;
     * beyond its k limit, the Java reference ({@link SteeringVector#topK}) does the same.
     */
    static float[] keepLargest(float[] v, int k) {
        if (k >= v.length) return v;
        float[] out = new float[v.length];
        if (k > SasKernels.MAX_K) {
            SteeringVector all = SteeringVector.fromDense(v, null, null, Map.of()).topK(k);
            for (int i = 0; i < all.size(); i++) out[(int) all.indices()[i]] = all.values()[i];
            return out;
        }
        try (Tensor t = Tensors.fromFloats(v, v.length); TopK top = SasKernels.topkAbs(t, k)) {
            long[] idx = Tensors.toLongs(top.indices());
            for (long i : idx) out[(int) i] = v[(int) i]; // zeros picked when v has fewer than k non-zeros stay zero
        }
        return out;
    }

    /**
     * Last-token activations at the SAE's hook for sequences, [N, d] float32 on the CPU, rows in the
     * order of {@code seqs}. Batches are formed from sequences of similar length (less padding).
     */
    public static Tensor lastTokenActivations(Gemma2 model, HookPoint hook, List<int[]> seqs, int batchSize, IntConsumer perSequence) {
        Integer[] order = new Integer[seqs.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Integer.compare(seqs.get(a).length, seqs.get(b).length));
        List<Tensor> parts = new ArrayList<>();
        try {
            for (int i = 0; i < order.length; i += batchSize) {
                List<int[]> chunk = new ArrayList<>();
                for (int k = i; k < Math.min(order.length, i + batchSize); k++) chunk.add(seqs.get(order[k]));
                TokenBatch b = TokenBatch.leftPadded(chunk, model.config().padTokenId());
                try (Tensor act = model.activations(b, hook, Hooks.NONE); Tensor last = act.select(1, b.length() - 1)) {
                    parts.add(last.contiguous().clone());
                }
                for (int k = 0; k < chunk.size(); k++) perSequence.accept(1);
            }
            long[] inverse = new long[order.length];
            for (int k = 0; k < order.length; k++) inverse[order[k]] = k;
            try (TensorVector v = new TensorVector(parts.toArray(Tensor[]::new)); Tensor sorted = torch.cat(v, 0);
                 Tensor idx = Tensors.fromLongs(inverse, inverse.length)) {
                return sorted.index_select(0, idx);
            }
        } finally {
            parts.forEach(Tensor::close);
        }
    }

    private SideStats stats(List<int[]> seqs, int[] done) {
        int m = sae.width();
        try (PointerScope scope = new PointerScope()) {
            Tensor count = Tensors.zeros(ScalarType.Float, m), sum = Tensors.zeros(ScalarType.Float, m);
            for (int i = 0; i < seqs.size(); i += batchSize) {
                List<int[]> chunk = seqs.subList(i, Math.min(seqs.size(), i + batchSize));
                try (PointerScope step = new PointerScope()) {
                    accumulate(lastTokenActivations(model, sae.hook(), chunk, batchSize, n -> progress.accept(++done[0])), count, sum);
                }
            }
            return new SideStats(Tensors.toFloats(count), Tensors.toFloats(sum), seqs.size());
        }
    }

    /** Statistics of precomputed activations [N, d], encoded in chunks of {@code batchSize} rows. */
    private SideStats stats(Tensor x) {
        int m = sae.width();
        long n = x.size(0);
        try (PointerScope scope = new PointerScope()) {
            Tensor count = Tensors.zeros(ScalarType.Float, m), sum = Tensors.zeros(ScalarType.Float, m);
            for (long i = 0; i < n; i += batchSize) {
                try (PointerScope step = new PointerScope()) {
                    accumulate(x.narrow(0, i, Math.min(batchSize, n - i)), count, sum);
                }
            }
            return new SideStats(Tensors.toFloats(count), Tensors.toFloats(sum), (int) n);
        }
    }

    private void accumulate(Tensor x, Tensor count, Tensor sum) {
        Tensor f = sae.encode(x.to(sae.wEnc().device(), ScalarType.Float)).cpu();
        count.add_(f.gt(new Scalar(0.0)).to(ScalarType.Float).sum(new long[] {0}, false, new org.bytedeco.pytorch.ScalarTypeOptional()));
        sum.add_(f.sum(new long[] {0}, false, new org.bytedeco.pytorch.ScalarTypeOptional()));
    }
}
