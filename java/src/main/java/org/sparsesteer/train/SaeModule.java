package org.sparsesteer.train;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeConfig;
import org.sparsesteer.sae.SaeConfig.Architecture;
import org.sparsesteer.tensor.Tensors;

/**
 * The trainable SAE: its parameters (float32 leaves with requires_grad) and a differentiable
 * forward pass, in the units it trains in (activations scaled so that E||x||^2 = d_in).
 * <pre>
 *   pre = x . W_enc + b_enc        x^ = f . W_dec + b_dec        (no b_dec subtraction)
 *   topk: f = the k largest pre, ReLU'd    standard: f = ReLU(pre)
 *   jumprelu: f = pre . H(pre - theta), theta = exp(log_threshold)
 * </pre>
 * JumpReLU's threshold gets its gradient from straight-through estimators with a rectangle kernel of
 * bandwidth eps (Rajamanoharan et al. 2024, "Jumping Ahead"): d f/d theta = -(theta/eps) K((pre -
 * theta)/eps), d H/d theta = -(1/eps) K(...), d H/d pre = 0. libtorch's Java API has no custom
 * autograd functions, so each estimator is written as {@code value + (s - s.detach())}: s is zero in
 * the forward pass and has exactly the pseudo-derivative as its gradient.
 */
final class SaeModule implements AutoCloseable {
    final Architecture arch;
    final int d, m, k;
    final double bandwidth;
    final Tensor wEnc, bEnc, wDec, bDec;
    /** JumpReLU only (else null). Logs keep the threshold positive and let it move by ratios. */
    final Tensor logThreshold;

    /** A forward pass; tensors belong to the caller's scope. */
    record Out(Tensor pre, Tensor f, Tensor xHat, Tensor active, Tensor l0) {}

    private SaeModule(Architecture arch, int d, int m, int k, double bandwidth, Tensor wEnc, Tensor bEnc, Tensor wDec, Tensor bDec,
                      Tensor logThreshold) {
        this.arch = arch;
        this.d = d;
        this.m = m;
        this.k = k;
        this.bandwidth = bandwidth;
        this.wEnc = wEnc;
        this.bEnc = bEnc;
        this.wDec = wDec;
        this.bDec = bDec;
        this.logThreshold = logThreshold;
    }

    /** A module over given tensors, which become leaves it owns (for tests of the estimators). */
    static SaeModule of(Architecture arch, int k, double bandwidth, Tensor wEnc, Tensor bEnc, Tensor wDec, Tensor bDec, Tensor logThreshold) {
        try (PointerScope s = new PointerScope()) {
            return new SaeModule(arch, (int) wEnc.size(0), (int) wEnc.size(1), k, bandwidth, leaf(wEnc), leaf(bEnc), leaf(wDec), leaf(bDec),
                    logThreshold == null ? null : leaf(logThreshold));
        }
    }

    /**
     * Initialises from a sample of (scaled) activation rows: W_dec rows are random unit directions,
     * W_enc = W_dec^T times the scalar that best reconstructs the sample, b_dec the sample's
     * geometric median, b_enc = 0, thresholds at {@code initThreshold}.
     */
    static SaeModule init(SaeTrainingOptions o, int d, Tensor sample, GeneratorOptional gen, Device device) {
        int m = o.width;
        Tensor wEnc, bEnc, wDec, bDec, logThr = null;
        try (PointerScope s = new PointerScope(); NoGradGuard ng = new NoGradGuard();
             TensorOptions f32 = new TensorOptions(ScalarType.Float)) {
            // Drawn on the CPU from the seeded generator, so CPU and CUDA runs start alike.
            Tensor dirs = torch.randn(new long[] {m, d}, gen, f32).to(device, ScalarType.Float);
            Tensor wd = dirs.div(rowNorms(dirs));
            Tensor bd = geometricMedian(sample, 20);
            Tensor be = torch.zeros(new long[] {m}, f32).to(device, ScalarType.Float);
            Tensor we = wd.t().contiguous();
            Tensor lt = o.architecture == Architecture.JUMPRELU
                    ? Tensors.full(ScalarType.Float, Math.log(o.initThreshold), m).to(device, ScalarType.Float) : null;
            SaeModule probe = new SaeModule(o.architecture, d, m, o.k, o.bandwidth, we, be, wd, bd, lt);
            // The least-squares scale of the initial code: with the right scale the first steps
            // refine directions instead of first growing or shrinking every feature together.
            Tensor r = probe.forward(sample).xHat().sub(bd);
            Tensor xc = sample.sub(bd);
            double alpha = xc.mul(r).sum().item_float() / Math.max(1e-12, r.mul(r).sum().item_float());
            if (!(alpha > 0 && Double.isFinite(alpha))) alpha = 1;
            we = we.mul(new Scalar(alpha));
            wEnc = leaf(we);
            bEnc = leaf(be);
            wDec = leaf(wd);
            bDec = leaf(bd);
            if (lt != null) logThr = leaf(lt);
        }
        return new SaeModule(o.architecture, d, m, o.k, o.bandwidth, wEnc, bEnc, wDec, bDec, logThr);
    }

    private static Tensor leaf(Tensor t) {
        Tensor c = Tensors.keep(t.detach().clone().contiguous());
        c.set_requires_grad(true);
        return c;
    }

    private static Tensor rowNorms(Tensor w) {
        return w.mul(w).sum(new long[] {1}, true, new ScalarTypeOptional()).sqrt();
    }

    /**
     * Weiszfeld iterations from the mean: a centre robust to the outlier rows residual streams have.
     * Its tensors belong to the caller's scope.
     */
    static Tensor geometricMedian(Tensor x, int iterations) {
        Tensor y = x.mean(0);
        for (int i = 0; i < iterations; i++) {
            Tensor w = rowNorms(x.sub(y)).clamp_min(new Scalar(1e-6)).reciprocal();
            y = x.mul(w).sum(0).div(w.sum());
        }
        return y;
    }

    TensorVector parameters() {
        return logThreshold == null ? new TensorVector(wEnc, bEnc, wDec, bDec) : new TensorVector(wEnc, bEnc, wDec, bDec, logThreshold);
    }

    /** The differentiable forward pass. {@code l0} is the per-row L0 (with its STE for JumpReLU). */
    Out forward(Tensor x) {
        Tensor pre = x.matmul(wEnc).add(bEnc);
        Tensor f, active, l0;
        switch (arch) {
            case TOPK -> {
                T_TensorTensor_T top = pre.topk(k);
                f = torch.zeros_like(pre).scatter(-1, top.get1(), top.get0().relu());
                active = f.detach().gt(new Scalar(0));
                l0 = active.sum(new long[] {-1}, false, new ScalarTypeOptional(ScalarType.Float));
            }
            case RELU -> {
                f = pre.relu();
                active = f.detach().gt(new Scalar(0));
                l0 = active.sum(new long[] {-1}, false, new ScalarTypeOptional(ScalarType.Float));
            }
            default -> {
                Tensor theta = logThreshold.exp();
                Tensor mask, kernel, thetaNow;
                try (NoGradGuard ng = new NoGradGuard()) {
                    mask = pre.gt(theta).to(ScalarType.Float);
                    kernel = pre.sub(theta).div(new Scalar(bandwidth)).abs().lt(new Scalar(0.5)).to(ScalarType.Float);
                    thetaNow = theta.detach();
                }
                Scalar negInvEps = new Scalar(-1.0 / bandwidth);
                Tensor sf = kernel.mul(thetaNow).mul(negInvEps).mul(theta); // d/dtheta: -(theta/eps) K
                f = pre.mul(mask).add(sf.sub(sf.detach()));
                Tensor sh = kernel.mul(negInvEps).mul(theta);                // d/dtheta: -(1/eps) K
                l0 = mask.add(sh.sub(sh.detach())).sum(new long[] {-1}, false, new ScalarTypeOptional());
                active = mask.gt(new Scalar(0));
            }
        }
        Tensor xHat = f.matmul(wDec).add(bDec);
        return new Out(pre, f, xHat, active, l0);
    }

    /**
     * AuxK (Gao et al. 2024): the residual x - x^ reconstructed by the top {@code kAux} dead
     * features alone, as a normalised MSE; it gives dead TopK features a gradient to come back.
     */
    Tensor auxK(Tensor x, Out out, Tensor dead, int kAux) {
        Tensor e = x.sub(out.xHat()).detach();
        Tensor pre = out.pre().masked_fill(dead.logical_not(), new Scalar(Double.NEGATIVE_INFINITY));
        T_TensorTensor_T top = pre.topk(kAux);
        Tensor fAux = torch.zeros_like(pre).scatter(-1, top.get1(), top.get0().relu());
        Tensor eHat = fAux.matmul(wDec);
        Tensor num = e.sub(eHat).pow(new Scalar(2)).sum(new long[] {-1}, false, new ScalarTypeOptional()).mean();
        Tensor den = e.sub(e.mean(0)).pow(new Scalar(2)).sum(new long[] {-1}, false, new ScalarTypeOptional()).mean().clamp_min(new Scalar(1e-12));
        return num.div(den);
    }

    /**
     * The decoder rows stay unit norm (so feature magnitudes mean something and the sparsity penalty
     * cannot be dodged by shrinking f): the gradient's component along each row is removed before the
     * step, and rows are renormalised after it, as SAELens does.
     */
    void projectDecoderGradient() {
        try (PointerScope s = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Tensor g = wDec.grad();
            if (!g.defined()) return;
            Tensor along = g.mul(wDec).sum(new long[] {1}, true, new ScalarTypeOptional());
            g.sub_(wDec.mul(along));
        }
    }

    void normalizeDecoder() {
        try (PointerScope s = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            wDec.div_(rowNorms(wDec));
        }
    }

    /**
     * The trained SAE in activation units: training saw c.x, so pre' = c.(x W_enc + b_enc/c) and
     * f' = c.f; dividing b_enc, b_dec and the thresholds by c gives an SAE on raw x whose W_dec rows
     * stay unit norm (SAELens instead rescales W_enc and W_dec; both are exact).
     */
    Sae toSae(String hook, double c) {
        SaeConfig cfg = new SaeConfig(arch, d, m, arch == Architecture.TOPK ? k : 0, hook, false, "(trained in memory)", null);
        try (PointerScope s = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Scalar inv = new Scalar(1 / c);
            Tensor thr = logThreshold == null ? null : Tensors.keep(logThreshold.exp().mul(inv));
            return new Sae(cfg, Tensors.keep(wEnc.detach().clone()), Tensors.keep(bEnc.detach().mul(inv)), thr,
                    Tensors.keep(wDec.detach().clone()), Tensors.keep(bDec.detach().mul(inv)));
        }
    }

    @Override
    public void close() {
        wEnc.close();
        bEnc.close();
        wDec.close();
        bDec.close();
        if (logThreshold != null) logThreshold.close();
    }
}
