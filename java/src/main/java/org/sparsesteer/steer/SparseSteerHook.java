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
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeConfig.Architecture;
import org.sparsesteer.tensor.Tensors;

/**
 * Steers in SAE space at the SAE's hook: at every selected position,
 * <pre>  x' = x + (relu(f + lambda v) - f) . W_dec,   f = encode(x)</pre>
 * which equals decode(relu(f + lambda v)) + (x - decode(f)): the SAE's error term is kept. Only the
 * features in supp(v) change, so the support path computes just those: O(|S| d) per token.
 *
 * <p>Modes: {@link Mode#SUPPORT} (default) evaluates the formula over the support only; {@link Mode#DENSE}
 * is the reference over all features (also the only correct one for TopK SAEs, whose code depends on
 * every feature). Both are exact for JumpReLU and ReLU SAEs.
 */
public final class SparseSteerHook implements Hook, AutoCloseable {
    public enum Mode { SUPPORT, DENSE }

    private final Sae sae;
    private final double lambda;
    private final Positions positions;
    private final Mode mode;
    // Support-restricted operands (packed once): W_enc[:, S] [d, s], b_enc[S] (with b_dec folded in
    // when the SAE encodes x - b_dec), threshold[S], W_dec[S] [s, d], v_S [s].
    private final Tensor wEncS, bEncS, thrS, wDecS, vS;
    private final Tensor vDense;

    public SparseSteerHook(Sae sae, SteeringVector v, double lambda, Positions positions, Mode mode) {
        if (v.size() == 0) throw new IllegalArgumentException("steering vector is empty (no features)");
        for (long i : v.indices()) {
            if (i < 0 || i >= sae.width()) throw new IllegalArgumentException("steering vector feature " + i + " is outside the SAE's width " + sae.width());
        }
        if (!Double.isFinite(lambda)) throw new IllegalArgumentException("scale must be finite, got " + lambda);
        if (mode == Mode.SUPPORT && sae.config().architecture() == Architecture.TOPK) mode = Mode.DENSE;
        this.sae = sae;
        this.lambda = lambda;
        this.positions = positions;
        this.mode = mode;
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
    }
}
