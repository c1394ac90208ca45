package org.sparsesteer.sae;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.tensor.Tensors;

/**
 * A sparse autoencoder on the residual stream (Gemma Scope / SAELens conventions):
 * <pre>
 *   pre = (x - b_dec if apply_b_dec_to_input else x) . W_enc + b_enc       W_enc [d, m]
 *   f   = JumpReLU: pre where pre > threshold, else 0 | ReLU: max(pre, 0) | TopK: the k largest pre, ReLU'd
 *   x^  = f . W_dec + b_dec                                                 W_dec [m, d]
 * </pre>
 * The weights live on one device in one dtype; encode and decode return float32.
 */
public final class Sae implements AutoCloseable {
    private final SaeConfig config;
    private final Tensor wEnc, bEnc, threshold, wDec, bDec;

    /** Takes ownership of the tensors (threshold may be null unless JumpReLU). Shapes are checked. */
    public Sae(SaeConfig config, Tensor wEnc, Tensor bEnc, Tensor threshold, Tensor wDec, Tensor bDec) {
        this.config = config;
        int d = config.dIn(), m = config.width();
        String src = config.source();
        checkShape(src, "W_enc", wEnc, d, m);
        checkShape(src, "b_enc", bEnc, m);
        checkShape(src, "W_dec", wDec, m, d);
        checkShape(src, "b_dec", bDec, d);
        if (config.architecture() == SaeConfig.Architecture.JUMPRELU) {
            if (threshold == null) throw new SaeException(src + ": a JumpReLU SAE needs 'threshold'");
            checkShape(src, "threshold", threshold, m);
        }
        if (config.architecture() == SaeConfig.Architecture.TOPK && (config.k() < 1 || config.k() > m)) {
            throw new SaeException(src + ": TopK k = " + config.k() + " is outside [1, " + m + "]");
        }
        this.wEnc = wEnc;
        this.bEnc = bEnc;
        this.threshold = threshold;
        this.wDec = wDec;
        this.bDec = bDec;
    }

    private static void checkShape(String src, String name, Tensor t, long... shape) {
        if (t == null) throw new SaeException(src + ": missing tensor '" + name + "'");
        if (!java.util.Arrays.equals(Tensors.shape(t), shape)) {
            throw new SaeException(src + ": tensor '" + name + "' has shape " + Tensors.shapeString(t)
                    + ", expected " + java.util.Arrays.toString(shape));
        }
    }

    public SaeConfig config() {
        return config;
    }

    public int dIn() {
        return config.dIn();
    }

    public int width() {
        return config.width();
    }

    public HookPoint hook() {
        return HookPoint.parse(config.hookName());
    }

    public Tensor wEnc() {
        return wEnc;
    }

    public Tensor bEnc() {
        return bEnc;
    }

    /** Null unless JumpReLU. */
    public Tensor threshold() {
        return threshold;
    }

    public Tensor wDec() {
        return wDec;
    }

    public Tensor bDec() {
        return bDec;
    }

    /** Throws, naming both sides, unless this SAE fits the model (d_in = hidden size, the hook exists). */
    public void checkCompatible(Gemma2 model) {
        if (config.dIn() != model.config().hiddenSize()) {
            throw new SaeException(config.source() + ": SAE d_in is " + config.dIn() + " but the model's hidden size is "
                    + model.config().hiddenSize());
        }
        HookPoint p;
        try {
            p = hook();
            p.checkExists(model.config().numLayers());
        } catch (IllegalArgumentException e) {
            throw new SaeException(config.source() + ": " + e.getMessage(), e);
        }
    }

    /** pre-activations [..., m] float32 of activations x [..., d] (any float dtype, same device). */
    public Tensor preActivations(Tensor x) {
        try (PointerScope s = new PointerScope()) {
            Tensor in = x.to(wEnc.scalar_type());
            if (config.applyBDecToInput()) in = in.sub(bDec);
            return Tensors.keep(torch.matmul(in, wEnc).add(bEnc).to(ScalarType.Float));
        }
    }

    /** The feature code f [..., m], float32. */
    public Tensor encode(Tensor x) {
        try (PointerScope s = new PointerScope()) {
            return Tensors.keep(activate(preActivations(x)));
        }
    }

    /** Applies the SAE's activation to float32 pre-activations. */
    public Tensor activate(Tensor pre) {
        try (PointerScope s = new PointerScope()) {
            Tensor f = switch (config.architecture()) {
                case JUMPRELU -> torch.where(pre.gt(threshold.to(ScalarType.Float)), pre, Tensors.zeros(ScalarType.Float, 1).to(pre.device(), ScalarType.Float));
                case RELU -> pre.relu();
                case TOPK -> {
                    var top = pre.topk(config.k());
                    Tensor out = torch.zeros_like(pre);
                    yield out.scatter(-1, top.get1(), top.get0().relu());
                }
            };
            return Tensors.keep(f);
        }
    }

    /** x^ = f . W_dec + b_dec, float32. */
    public Tensor decode(Tensor f) {
        try (PointerScope s = new PointerScope()) {
            return Tensors.keep(torch.matmul(f.to(wDec.scalar_type()), wDec).add(bDec).to(ScalarType.Float));
        }
    }

    /** The reconstruction error x - decode(encode(x)), float32. */
    public Tensor error(Tensor x) {
        try (PointerScope s = new PointerScope()) {
            return Tensors.keep(x.to(ScalarType.Float).sub(decode(encode(x))));
        }
    }

    /** A copy on another device / dtype (the original stays usable). */
    public Sae to(Device device, ScalarType dtype) {
        return new Sae(config, wEnc.to(device, dtype), bEnc.to(device, dtype), threshold == null ? null : threshold.to(device, dtype),
                wDec.to(device, dtype), bDec.to(device, dtype));
    }

    @Override
    public void close() {
        wEnc.close();
        bEnc.close();
        if (threshold != null) threshold.close();
        wDec.close();
        bDec.close();
    }

    @Override
    public String toString() {
        return "Sae[" + config.architecture().saeLensName + ", d_in=" + dIn() + ", width=" + width() + ", hook=" + config.hookName()
                + ", " + config.source() + "]";
    }
}
