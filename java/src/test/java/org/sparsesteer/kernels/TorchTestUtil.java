package org.sparsesteer.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Tensor helpers and libtorch reference composites for the kernel tests (CPU). */
final class TorchTestUtil {
    private TorchTestUtil() {}

    /** A small random SAE in Gemma Scope layout, f32 on CPU, with positive thresholds. */
    record Sae(Tensor W_enc, Tensor b_enc, Tensor threshold, Tensor W_dec) {
        SaeParams params() {
            return new SaeParams(W_enc, b_enc, threshold, W_dec);
        }

        Sae to(ScalarType dtype) {
            return new Sae(W_enc.to(dtype), b_enc.to(dtype), threshold.to(dtype), W_dec.to(dtype));
        }

        long d() {
            return W_enc.size(0);
        }

        long m() {
            return W_enc.size(1);
        }
    }

    static Sae randomSae(long d, long m, long seed) {
        torch.manual_seed(seed);
        Tensor W_enc = torch.randn(d, m).mul(new Scalar(0.15f));
        Tensor b_enc = torch.randn(m).mul(new Scalar(0.1f));
        Tensor threshold = torch.rand(m).mul(new Scalar(0.3f)).add(new Scalar(0.02f));
        Tensor W_dec = torch.randn(m, d).mul(new Scalar(0.1f));
        return new Sae(W_enc, b_enc, threshold, W_dec);
    }

    static Tensor randn(long seed, long... sizes) {
        torch.manual_seed(seed);
        return torch.randn(sizes);
    }

    static Tensor longs(long... values) {
        LongPointer p = new LongPointer(values);
        return torch.from_blob(p, new long[] {values.length}, new TensorOptions(ScalarType.Long)).clone();
    }

    static Tensor longs2(long rows, long cols, long... values) {
        return longs(values).reshape(rows, cols).contiguous();
    }

    static Tensor floats(float... values) {
        FloatPointer p = new FloatPointer(values);
        return torch.from_blob(p, new long[] {values.length}, new TensorOptions(ScalarType.Float)).clone();
    }

    static Tensor bools(boolean... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (values[i] ? 1 : 0);
        }
        return torch.from_blob(new BytePointer(b), new long[] {b.length}, new TensorOptions(ScalarType.Byte))
                .clone().to(ScalarType.Bool);
    }

    static float[] toFloats(Tensor t) {
        Tensor c = t.to(ScalarType.Float).contiguous();
        float[] a = new float[(int) c.numel()];
        new FloatPointer(c.data_ptr()).get(a);
        return a;
    }

    static long[] toLongs(Tensor t) {
        Tensor c = t.to(ScalarType.Long).contiguous();
        long[] a = new long[(int) c.numel()];
        new LongPointer(c.data_ptr()).get(a);
        return a;
    }

    static int[] toInts(Tensor t) {
        Tensor c = t.to(ScalarType.Int).contiguous();
        int[] a = new int[(int) c.numel()];
        new IntPointer(c.data_ptr()).get(a);
        return a;
    }

    static long[] shape(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.size(i);
        }
        return s;
    }

    static void assertShape(Tensor t, long... expected) {
        assertEquals(Arrays.toString(expected), Arrays.toString(shape(t)), "shape");
    }

    /** |actual - expected| <= atol + rtol * |expected| elementwise. */
    static void assertClose(Tensor expected, Tensor actual, double atol, double rtol, String what) {
        assertEquals(Arrays.toString(shape(expected)), Arrays.toString(shape(actual)), what + ": shape");
        float[] e = toFloats(expected);
        float[] a = toFloats(actual);
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < e.length; i++) {
            double err = Math.abs((double) a[i] - e[i]);
            double excess = err - (atol + rtol * Math.abs(e[i]));
            if (excess > worst || Double.isNaN(err)) {
                worst = Double.isNaN(err) ? Double.POSITIVE_INFINITY : excess;
                worstAt = i;
            }
        }
        if (worstAt >= 0) {
            fail(what + ": element " + worstAt + " is " + a[worstAt] + " but expected " + e[worstAt] + " (atol "
                    + atol + ", rtol " + rtol + ")");
        }
    }

    // ---- libtorch reference composites -----------------------------------------------------------------

    static Tensor f32(Tensor t) {
        return t.to(ScalarType.Float);
    }

    /** pre = x W_enc + b_enc in f32. */
    static Tensor refPre(Tensor x, Tensor W_enc, Tensor b_enc) {
        return f32(x).matmul(f32(W_enc)).add(f32(b_enc));
    }

    static Tensor refAct(Tensor pre, Tensor threshold, Activation act, int k) {
        switch (act) {
            case JUMPRELU:
                return pre.where(pre.gt(f32(threshold)), new Scalar(0f));
            case RELU:
                return pre.relu();
            case TOPK: {
                T_TensorTensor_T top = pre.topk(k, pre.dim() - 1, true, true);
                Tensor zeros = torch.zeros(shape(pre));
                return zeros.scatter(pre.dim() - 1, top.get1(), top.get0()).relu();
            }
            default:
                throw new AssertionError(act);
        }
    }

    static Tensor refEncode(Tensor x, Sae sae, Activation act, int k) {
        return refAct(refPre(x, sae.W_enc(), sae.b_enc()), sae.threshold(), act, k);
    }

    /**
     * The dense steering formula over all m features: x + (relu(f + lambda v) - f) W_dec with f = act(x W_enc +
     * b_enc) and v dense [m] (zero outside S); rows with mask false are unchanged. In f32.
     */
    static Tensor refSteer(Tensor x, Sae sae, Activation act, Tensor S, Tensor v_S, float lambda, boolean[] mask) {
        Tensor f = refEncode(x, sae, act, 0);
        Tensor v = torch.zeros(sae.m()).index_add(0, S, f32(v_S));
        Tensor c = f.add(v.mul(new Scalar(lambda))).relu().sub(f);
        Tensor steered = f32(x).add(c.matmul(f32(sae.W_dec())));
        if (mask == null) {
            return steered;
        }
        Tensor keep = bools(mask).unsqueeze(1);
        return steered.where(keep, f32(x));
    }
}
