package org.sparsesteer.steer;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.Hook;
import org.sparsesteer.hooks.HookContext;
import org.sparsesteer.hooks.HookContext.Positions;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.kernels.Activation;
import org.sparsesteer.kernels.PackedSupport;
import org.sparsesteer.kernels.SasKernels;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeConfig.Architecture;
import org.sparsesteer.tensor.Tensors;

/**
 * Steers in SAE space at the SAE's hook: at every selected position,
 * <pre>  x' = x + (relu(f + lambda v) - f) . W_dec,   f = encode(x)</pre>
 * which equals decode(relu(f + lambda v)) + (x - decode(f)): the SAE's error term is kept. Only the
 * features in supp(v) change, so the support path computes just those: O(|S| d) per token.
 *
 * <p>Modes: {@link Mode#FUSED} (default) runs the native fused kernel (CUDA or its CPU twin) over the
 * support, never touching other features; {@link Mode#SUPPORT} is the same computation as libtorch
 * composites; {@link Mode#DENSE} is the reference over all features (also the only correct one for
 * TopK SAEs, whose code depends on every feature: they always steer densely). All three are exact for
 * JumpReLU and ReLU SAEs.
 */
public final class SparseSteerHook implements Hook, AutoCloseable {
    public enum Mode { FUSED, SUPPORT, DENSE }

    private final Sae sae;
    private final double lambda;
    private final Positions positions;
    private final Mode mode;
    // Support-restricted operands (packed once): W_enc[:, S] [d, s], b_enc[S] (with b_dec folded in
    // when the SAE encodes x - b_dec), threshold[S], W_dec[S] [s, d], v_S [s].
    private final Tensor wEncS, bEncS, thrS, wDecS, vS;
    private final Tensor vDense;
    private final PackedSupport packed;   // the fused kernel's operands (FUSED only)

    public SparseSteerHook(Sae sae, SteeringVector v, double lambda, Positions positions, Mode mode) {
        v.checkFor(sae, "steering vector"); // width, d_in, hook and SAE fingerprint, as far as its metadata says
        if (!Double.isFinite(lambda)) throw new IllegalArgumentException("scale must be finite, got " + lambda);
        if (mode != Mode.DENSE && sae.config().architecture() == Architecture.TOPK) mode = Mode.DENSE;
        this.sae = sae;
        // An empty vector (no feature survived tau) steers nothing: the hook is the identity.
        this.lambda = v.size() == 0 ? 0 : lambda;
        this.positions = positions;
        this.mode = mode;
        if (v.size() == 0) {
            wEncS = bEncS = thrS = wDecS = vS = vDense = null;
            packed = null;
            return;
        }
        try (PointerScope scope = new PointerScope()) {
            var dev = sae.wEnc().device();
            Tensor idx = Tensors.fromLongs(v.indices(), v.size()).to(dev, ScalarType.Long);
            Tensor vals = Tensors.fromFloats(v.values(), v.size()).to(dev, ScalarType.Float);
            Tensor encS = sae.wEnc().index_select(1, idx).contiguous();
            Tensor bS = sae.bEnc().index_select(0, idx);
            if (sae.config().applyBDecToInput()) bS = bS.sub(torch.matmul(sae.bDec(), encS));
            wEncS = Tensors.keep(encS);
            bEncS = Tensors.keep(bS.contiguous());
            thrS = sae.threshold() == null ? null : Tensors.keep(sae.threshold().index_select(0, idx).contiguous());
            wDecS = Tensors.keep(sae.wDec().index_select(0, idx).contiguous());
            vS = Tensors.keep(vals);
            vDense = Tensors.keep(Tensors.fromFloats(v.dense(sae.width()), sae.width()).to(dev, ScalarType.Float));
        }
        if (mode == Mode.FUSED) {
            // The hook owns the packed tensors until close(), whatever scope it was made in.
            PackedSupport p;
            try (Tensor idx = Tensors.fromLongs(v.indices(), v.size()); Tensor onDevice = idx.to(sae.wEnc().device(), ScalarType.Long)) {
                p = SasKernels.packSupport(sae.wEnc(), sae.bEnc(), sae.threshold(), sae.wDec(), onDevice);
            }
            for (Tensor t : new Tensor[] {p.Wenc_S(), p.benc_S(), p.thr_S(), p.Wdec_S(), p.S()}) if (t != null) Tensors.keep(t);
            // An SAE that encodes x - b_dec: fold -b_dec . W_enc[:, S] into the packed bias.
            if (sae.config().applyBDecToInput()) {
                try (Tensor shift = torch.matmul(p.Wenc_S(), sae.bDec())) {
                    p.benc_S().sub_(shift);
                }
            }
            packed = p;
        } else {
            packed = null;
        }
    }

    /** Whether this hook runs the native fused kernel (false: libtorch composites). */
    public Mode mode() {
        return mode;
    }

    /** The hooks that steer with this vector at its SAE's hook point. */
    public Hooks hooks() {
        return Hooks.of(sae.config().hookName(), this);
    }

    public HookPoint point() {
        return sae.hook();
    }

    @Override
    public Tensor apply(HookPoint point, Tensor x, HookContext ctx) {
        if (lambda == 0 || !ctx.any(positions)) return null;
        long B = x.size(0), T = x.size(1), d = x.size(2);
        if (mode == Mode.FUSED) return fused(x, ctx, B, T, d);
        Tensor delta;
        try (PointerScope scope = new PointerScope()) {
            Tensor rows = x.reshape(B * T, d).to(ScalarType.Float);
            Tensor mask = ctx.mask(positions).to(x.device(), ScalarType.Float).view(B * T, 1);
            Tensor full = mode == Mode.DENSE ? denseDelta(rows) : supportDelta(rows);
            delta = Tensors.keep(full.mul(mask).view(B, T, d).to(x.scalar_type()));
        }
        try (delta) {
            return x.add(delta); // belongs to the caller's scope, as a hook's result must
        }
    }

    /** The native fused step on a copy of x (in the SAE's dtype), only at the selected positions. */
    private Tensor fused(Tensor x, HookContext ctx, long B, long T, long d) {
        Tensor rows = x.reshape(B * T, d).to(packed.Wenc_S().scalar_type()).clone();   // caller's scope owns it
        try (PointerScope scope = new PointerScope()) {
            // Every row steered (a decode step, an unpadded batch): no mask, so no host-to-device copy.
            Tensor mask = ctx.all(positions) ? null : ctx.mask(positions).to(x.device(), ScalarType.Byte);
            SasKernels.steerFused(rows, packed, activation(), vS, (float) lambda, mask);
        }
        return rows.view(B, T, d).to(x.scalar_type());
    }

    private Activation activation() {
        return sae.config().architecture() == Architecture.JUMPRELU ? Activation.JUMPRELU : Activation.RELU;
    }

    /** (relu(f_S + lambda v_S) - f_S) . W_dec[S], over the support only. */
    private Tensor supportDelta(Tensor rows) {
        Tensor pre = torch.matmul(rows.to(wEncS.scalar_type()), wEncS).add(bEncS).to(ScalarType.Float);
        Tensor f = switch (sae.config().architecture()) {
            case JUMPRELU -> torch.where(pre.gt(thrS.to(ScalarType.Float)), pre, torch.zeros_like(pre));
            case RELU -> pre.relu();
            case TOPK -> throw new IllegalStateException("TopK SAEs steer densely");
        };
        Tensor c = f.add(vS.mul(new Scalar(lambda))).relu().sub(f);
        return torch.matmul(c.to(wDecS.scalar_type()), wDecS).to(ScalarType.Float);
    }

    /** The reference: the full code f over all features, then (relu(f + lambda v) - f) . W_dec. */
    private Tensor denseDelta(Tensor rows) {
        Tensor f = sae.encode(rows);
        Tensor c = f.add(vDense.mul(new Scalar(lambda))).relu().sub(f);
        return torch.matmul(c.to(sae.wDec().scalar_type()), sae.wDec()).to(ScalarType.Float);
    }

    @Override
    public void close() {
        for (Tensor t : new Tensor[] {wEncS, bEncS, thrS, wDecS, vS, vDense}) if (t != null) t.close();
        if (packed != null) packed.close();
    }
}
