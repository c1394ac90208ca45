package org.sparsesteer.model;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.Hook;
import org.sparsesteer.hooks.HookContext;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.HookPoint.Kind;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.tensor.Tensors;

/**
 * Gemma 2, exactly as Hugging Face's {@code modeling_gemma2.py} computes it, on libtorch.
 *
 * <pre>
 * h = embed(ids) * sqrt(hidden)                                  hook_embed, blocks.0.hook_resid_pre
 * per layer L:
 *   a = post_attention_norm(attention(input_norm(h)))            blocks.L.hook_attn_out
 *   h = h + a                                                    blocks.L.hook_resid_mid
 *   m = post_ffw_norm(down(gelu_tanh(gate(x)) * up(x))), x = pre_ffw_norm(h)   blocks.L.hook_mlp_out
 *   h = h + m                                                    blocks.L.hook_resid_post
 * logits = cap_final(final_norm(h) @ embed^T)
 * </pre>
 * RMSNorm is x * rsqrt(mean(x^2) + eps) * (1 + w) in float32; attention is grouped-query with
 * rotate-half RoPE, scores scaled by query_pre_attn_scalar^-1/2, soft-capped before the mask, with a
 * sliding window on sliding layers (key k visible from query q when q - window &lt; k &lt;= q).
 *
 * <p>A loaded model is immutable and may be shared by threads; hooks and caches belong to calls.
 * Weights that require grad (built by {@link org.sparsesteer.train.ModelTrainer}) make a trainable
 * model: the same forward, recorded by autograd, reading the weights afresh at every call.
 */
public final class Gemma2 implements AutoCloseable {
    private final Gemma2Config config;
    private final Gemma2Weights weights;
    private final Device device;
    private final ScalarType dtype;
    /** 1 + w of every RMSNorm, precomputed in float32: [numLayers][4] and the final norm. */
    private final Tensor[][] normScales;
    private final Tensor finalNormScale;
    /** RoPE inverse frequencies [head_dim / 2], float32 on the device. */
    private final Tensor invFreq;
    private final double embedScale;
    /** Weights that require grad (training): the norm scales are then derived at every call. */
    private final boolean trainable;

    public Gemma2(Gemma2Config config, Gemma2Weights weights, ScalarType dtype, Device device) {
        if (dtype != ScalarType.Float && dtype != ScalarType.BFloat16) {
            throw new ModelException("compute dtype must be float32 or bfloat16, got " + dtype);
        }
        if (dtype == ScalarType.BFloat16 && !device.is_cuda()) {
            throw new ModelException("bfloat16 compute is for CUDA; the CPU path runs float32");
        }
        this.config = config;
        this.weights = weights;
        this.device = device;
        this.dtype = dtype;
        this.trainable = weights.embed.requires_grad();
        normScales = new Tensor[config.numLayers()][];
        for (int l = 0; l < normScales.length; l++) {
            Gemma2Weights.Layer w = weights.layers[l];
            normScales[l] = new Tensor[] {plusOne(w.inputNorm()), plusOne(w.postAttnNorm()), plusOne(w.preFfwNorm()), plusOne(w.postFfwNorm())};
        }
        finalNormScale = plusOne(weights.finalNorm);
        int half = config.headDim() / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            // As HF: 1 / theta^(arange(0, dim, 2).float() / dim), evaluated in float32.
            float exponent = (float) (2 * i) / (float) config.headDim();
            inv[i] = (float) (1.0 / Math.pow(config.ropeTheta(), exponent));
        }
        try (Tensor cpu = Tensors.fromFloats(inv, half)) {
            invFreq = cpu.to(device, ScalarType.Float);
        }
        // HF casts sqrt(hidden) to the compute dtype before multiplying.
        double s = Math.sqrt(config.hiddenSize());
        embedScale = dtype == ScalarType.BFloat16 ? Float.intBitsToFloat(roundToBf16Bits((float) s)) : (float) s;
    }

    private static int roundToBf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        int rounding = 0x7FFF + ((bits >> 16) & 1);
        return (bits + rounding) & 0xFFFF0000;
    }

    private Tensor plusOne(Tensor w) {
        try (Tensor f = w.to(ScalarType.Float); Scalar one = new Scalar(1.0)) {
            return f.add(one);
        }
    }

    /** Loads a Hugging Face model directory in float32 on the CPU. */
    public static Gemma2 load(Path dir) {
        return load(dir, new Device("cpu"), ScalarType.Float);
    }

    public static Gemma2 load(Path dir, Device device, ScalarType dtype) {
        if (!Files.isDirectory(dir)) throw new ModelException(dir + ": not a model directory");
        Path cfg = dir.resolve("config.json");
        if (!Files.exists(cfg)) throw new ModelException(dir + ": no config.json");
        Gemma2Config config = Gemma2Config.read(cfg);
        Gemma2Weights w = Gemma2Weights.load(dir, config, dtype, device);
        return new Gemma2(config, w, dtype, device);
    }

    public Gemma2Config config() {
        return config;
    }

    public Gemma2Weights weights() {
        return weights;
    }

    public Device device() {
        return device;
    }

    public ScalarType dtype() {
        return dtype;
    }

    /** Logits [T, vocab] float32 on the CPU for one sequence (no padding, no cache). */
    public Tensor forward(int[] ids, Hooks hooks) {
        TokenBatch b = TokenBatch.single(ids);
        try (PointerScope scope = new PointerScope(); Tensor logits = forward(b, b.length(), null, hooks, false)) {
            return Tensors.keep(logits.select(0, 0).cpu().contiguous());
        }
    }

    /**
     * The whole batch in one call, without a cache: logits [batch, T, vocab] float32 on the device.
     * Every position counts as prompt for hooks.
     */
    public Tensor forward(TokenBatch batch, Hooks hooks) {
        return forward(batch, batch.length(), null, hooks, false);
    }

    /**
     * Runs the positions {@code [cache.length(), cache.length() + T)} of a left-padded batch.
     *
     * @param batch token ids of exactly the new positions, with the batch's padding counts
     * @param promptEnd sequence index where generated tokens begin (hooks use it)
     * @param cache the KV cache to read and extend, or null for a single call over the full sequence
     * @param lastOnly compute the logits of the last position only (generation)
     * @return logits [batch, T or 1, vocab], float32, on the model's device; the caller owns it
     */
    public Tensor forward(TokenBatch batch, int promptEnd, KvCache cache, Hooks hooks, boolean lastOnly) {
        return run(batch, promptEnd, cache, hooks, lastOnly, config.numLayers());
    }

    /**
     * The activation at a hook point [batch, T, d], float32 on the CPU, running only the layers up
     * to the point (no logits). Every position counts as prompt for hooks.
     */
    public Tensor activations(TokenBatch batch, HookPoint point, Hooks hooks) {
        point.checkExists(config.numLayers());
        Tensor[] kept = new Tensor[1];
        Hooks grab = hooks.and(Hooks.builder().add(point, (p, a, ctx) -> {
            kept[0] = Tensors.keep(a.to(ScalarType.Float).cpu().clone());
            return null;
        }).build());
        int layers = point.kind() == Kind.EMBED ? 0 : point.layer() + 1;
        try (Tensor none = run(batch, batch.length(), null, grab, true, layers)) {
            return kept[0];
        }
    }

    /** Runs the first {@code layers} decoder layers; the logits only when all of them ran (else an empty tensor). */
    private Tensor run(TokenBatch batch, int promptEnd, KvCache cache, Hooks hooks, boolean lastOnly, int layers) {
        hooks.checkExist(config.numLayers());
        int start = cache == null ? 0 : cache.length();
        checkIds(batch, start);
        int T = batch.length();
        int B = batch.size();
        if (cache != null) {
            if (cache.batch() != B) throw new IllegalArgumentException("batch has " + B + " rows but the KV cache was made for " + cache.batch());
            if (start + T > cache.maxLength()) {
                throw new IllegalArgumentException("KV cache full: " + start + " + " + T + " positions exceed its length " + cache.maxLength());
            }
        }
        HookContext ctx = new HookContext(start, T, batch.padLeft(), promptEnd);
        Tensor logits;
        try (PointerScope scope = new PointerScope()) {
            Tensor ids = Tensors.fromLongs(batch.flat(), B, T).to(device, ScalarType.Long);
            Attention att = new Attention(batch.padLeft(), start, T, B);
            Tensor h = torch.embedding(weights.embed, ids).mul(new Scalar(embedScale));
            h = hook(hooks, HookPoint.EMBED, h, ctx);
            for (int l = 0; l < layers; l++) {
                // Each layer's temporaries die with its scope; only the new residual stream is kept.
                try (PointerScope layerScope = new PointerScope()) {
                    Tensor out = Tensors.keep(layer(l, h, att, cache, hooks, ctx));
                    h.close();
                    h = out;
                }
            }
            if (layers < config.numLayers()) {
                logits = Tensors.keep(Tensors.empty(ScalarType.Float, 0));
            } else {
                Tensor x = rmsNorm(h, trainable ? plusOne(weights.finalNorm) : finalNormScale);
                if (lastOnly) x = x.narrow(1, T - 1, 1);
                Tensor z = torch.linear(x, weights.lmHead).to(ScalarType.Float);
                if (config.finalLogitSoftcap() > 0) z = softcap(z, config.finalLogitSoftcap());
                logits = Tensors.keep(z);
            }
            h.close();
        }
        if (cache != null) cache.advance(T);
        return logits;
    }

    private Tensor layer(int l, Tensor h, Attention att, KvCache cache, Hooks hooks, HookContext ctx) {
        Gemma2Weights.Layer w = weights.layers[l];
        // Trainable weights change between calls (and need the gradient through 1 + w): derive the scales now.
        Tensor[] ns = trainable
                ? new Tensor[] {plusOne(w.inputNorm()), plusOne(w.postAttnNorm()), plusOne(w.preFfwNorm()), plusOne(w.postFfwNorm())}
                : normScales[l];
        if (!hooks.isEmpty()) h = hook(hooks, HookPoint.of(l, Kind.RESID_PRE), h, ctx);
        Tensor a = rmsNorm(attention(l, rmsNorm(h, ns[0]), att, cache), ns[1]);
        if (!hooks.isEmpty()) a = hook(hooks, HookPoint.of(l, Kind.ATTN_OUT), a, ctx);
        Tensor mid = h.add(a);
        if (!hooks.isEmpty()) mid = hook(hooks, HookPoint.of(l, Kind.RESID_MID), mid, ctx);
        Tensor x = rmsNorm(mid, ns[2]);
        Tensor gate = torch.gelu(torch.linear(x, w.gateProj()), "tanh");
        Tensor m = rmsNorm(torch.linear(gate.mul_(torch.linear(x, w.upProj())), w.downProj()), ns[3]);
        if (!hooks.isEmpty()) m = hook(hooks, HookPoint.of(l, Kind.MLP_OUT), m, ctx);
        Tensor post = mid.add(m);
        if (!hooks.isEmpty()) post = hook(hooks, HookPoint.of(l, Kind.RESID_POST), post, ctx);
        return post;
    }

    /** Masks and rotary tables shared by all layers of one call. */
    private final class Attention {
        final Tensor cos, sin;        // [B, 1, T, head_dim]
        final Tensor fullBias;        // [B, 1, 1, T, S] additive: 0 or the most negative float
        final Tensor slidingBias;
        final int start, T, S;

        Attention(int[] padLeft, int start, int T, int B) {
            this.start = start;
            this.T = T;
            this.S = start + T;
            // Positions restart at 0 at each row's first real token, as HF derives them from the mask.
            long[] pos = new long[B * T];
            long[] valid = new long[B * S];
            for (int b = 0; b < B; b++) {
                for (int t = 0; t < T; t++) pos[b * T + t] = Math.max(0, start + t - padLeft[b]);
                for (int k = 0; k < S; k++) valid[b * S + k] = k >= padLeft[b] ? 1 : 0;
            }
            Tensor p = Tensors.fromLongs(pos, B, T).to(device, ScalarType.Float);
            Tensor freqs = p.unsqueeze(2).mul(invFreq.view(1, 1, -1));           // [B, T, hd/2]
            Tensor emb;
            try (TensorVector v = new TensorVector(freqs, freqs)) {
                emb = torch.cat(v, 2).unsqueeze(1);                                // [B, 1, T, hd]
            }
            cos = emb.cos().to(dtype);
            sin = emb.sin().to(dtype);

            Tensor q = torch.arange(new Scalar(start), new Scalar(start + T)).to(device, ScalarType.Long).view(1, T, 1);
            Tensor k = torch.arange(new Scalar(0), new Scalar(S)).to(device, ScalarType.Long).view(1, 1, S);
            Tensor keyOk = Tensors.fromLongs(valid, B, 1, S).to(device, ScalarType.Bool);
            Tensor full = k.le(q).logical_and(keyOk);                               // [B, T, S]
            Tensor sliding = full.logical_and(k.gt(q.sub(new Scalar(config.slidingWindow()))));
            fullBias = bias(full);
            slidingBias = bias(sliding);
        }

        private Tensor bias(Tensor allowed) {
            Tensor zero = Tensors.zeros(dtype, 1).to(device, dtype);
            Tensor neg = Tensors.full(dtype, -Float.MAX_VALUE, 1).to(device, dtype);
            return torch.where(allowed, zero, neg).unsqueeze(1).unsqueeze(1);
        }
    }

    private Tensor attention(int l, Tensor x, Attention att, KvCache cache) {
        Gemma2Weights.Layer w = weights.layers[l];
        long B = x.size(0), T = x.size(1);
        int H = config.numHeads(), KV = config.numKvHeads(), G = H / KV, hd = config.headDim();
        Tensor q = torch.linear(x, w.qProj()).view(B, T, H, hd).transpose(1, 2);   // [B, H, T, hd]
        Tensor k = torch.linear(x, w.kProj()).view(B, T, KV, hd).transpose(1, 2);  // [B, KV, T, hd]
        Tensor v = torch.linear(x, w.vProj()).view(B, T, KV, hd).transpose(1, 2);
        q = rope(q, att);
        k = rope(k, att);
        Tensor keys = k, values = v;
        if (cache != null) {
            cache.keys[l].narrow(2, att.start, T).copy_(k);
            cache.values[l].narrow(2, att.start, T).copy_(v);
            keys = cache.keys[l].narrow(2, 0, att.S);
            values = cache.values[l].narrow(2, 0, att.S);
        }
        // Grouped-query attention without copying keys: queries [B, KV, G, T, hd] against keys [B, KV, 1, S, hd].
        double scaling = Math.pow(config.queryPreAttnScalar(), -0.5);
        Tensor q5 = q.reshape(B, KV, G, T, hd);
        Tensor scores = q5.matmul(keys.unsqueeze(2).transpose(-1, -2)).mul(new Scalar(scaling)); // [B, KV, G, T, S]
        if (config.attnLogitSoftcap() > 0) scores = softcap(scores, config.attnLogitSoftcap());
        scores = scores.add(config.isSliding(l) ? att.slidingBias : att.fullBias);
        Tensor probs = scores.softmax(-1, new ScalarTypeOptional(ScalarType.Float)).to(dtype);
        Tensor out = probs.matmul(values.unsqueeze(2))                               // [B, KV, G, T, hd]
                .reshape(B, H, T, hd).transpose(1, 2).reshape(B, T, (long) H * hd);
        return torch.linear(out, w.oProj());
    }

    private Tensor rope(Tensor x, Attention att) {
        long half = config.headDim() / 2;
        Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
        Tensor rotated;
        try (TensorVector v = new TensorVector(x2.neg(), x1)) {
            rotated = torch.cat(v, -1);
        }
        return x.mul(att.cos).add(rotated.mul(att.sin));
    }

    private Tensor rmsNorm(Tensor x, Tensor scalePlusOne) {
        Tensor xf = x.to(ScalarType.Float);
        Tensor ms = xf.pow(new Scalar(2)).mean(new long[] {-1}, true, new ScalarTypeOptional());
        Tensor y = xf.mul(ms.add(new Scalar(config.rmsNormEps())).rsqrt()).mul(scalePlusOne);
        return y.to(dtype);
    }

    private static Tensor softcap(Tensor x, double cap) {
        return x.div(new Scalar(cap)).tanh().mul(new Scalar(cap));
    }

    private static Tensor hook(Hooks hooks, HookPoint point, Tensor act, HookContext ctx) {
        List<Hook> list = hooks.at(point);
        for (Hook h : list) {
            Tensor r = h.apply(point, act, ctx);
            if (r != null && r != act) {
                if (r.dim() != act.dim() || r.size(0) != act.size(0) || r.size(1) != act.size(1) || r.size(2) != act.size(2)) {
                    throw new IllegalStateException("hook at '" + point + "' returned shape " + Tensors.shapeString(r)
                            + " for an activation of shape " + Tensors.shapeString(act));
                }
                act = r;
            }
        }
        return act;
    }

    private void checkIds(TokenBatch batch, int start) {
        for (int b = 0; b < batch.size(); b++) {
            long[] row = batch.ids()[b];
            for (int t = Math.max(0, batch.padLeft()[b] - start); t < row.length; t++) {
                if (row[t] < 0 || row[t] >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + row[t] + " (row " + b + ", position " + (start + t - batch.padLeft()[b])
                            + ") is outside the vocabulary [0, " + config.vocabSize() + ")");
                }
            }
        }
    }

    public KvCache newCache(int batch, int maxLength) {
        return new KvCache(config, batch, maxLength, dtype, device);
    }

    @Override
    public void close() {
        for (Tensor[] ns : normScales) for (Tensor t : ns) t.close();
        finalNormScale.close();
        invFreq.close();
        weights.close();
    }
}
