package org.sparsesteer.tensor;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Small conveniences over bytedeco's libtorch API: creation from Java arrays and back. */
public final class Tensors {
    private Tensors() {}

    public static Tensor empty(ScalarType type, long... shape) {
        try (TensorOptions o = new TensorOptions(type); MemoryFormatOptional mf = new MemoryFormatOptional()) {
            return torch.empty(shape, o, mf);
        }
    }

    public static Tensor zeros(ScalarType type, long... shape) {
        try (TensorOptions o = new TensorOptions(type)) {
            return torch.zeros(shape, o);
        }
    }

    public static Tensor full(ScalarType type, double value, long... shape) {
        try (TensorOptions o = new TensorOptions(type); Scalar s = new Scalar(value)) {
            return torch.full(shape, s, o);
        }
    }

    /** A new owned float32 CPU tensor holding a copy of {@code data} in the given shape. */
    public static Tensor fromFloats(float[] data, long... shape) {
        Tensor t = empty(ScalarType.Float, shape);
        checkNumel(t, data.length);
        if (data.length == 0) return t; // an empty tensor has no storage to write (data_ptr is null)
        try (FloatPointer p = new FloatPointer(t.data_ptr())) {
            p.put(data);
        }
        return t;
    }

    /** A new owned int64 CPU tensor holding a copy of {@code data} in the given shape. */
    public static Tensor fromLongs(long[] data, long... shape) {
        Tensor t = empty(ScalarType.Long, shape);
        checkNumel(t, data.length);
        if (data.length == 0) return t;
        try (LongPointer p = new LongPointer(t.data_ptr())) {
            p.put(data);
        }
        return t;
    }

    public static Tensor fromInts(int[] data, long... shape) {
        long[] l = new long[data.length];
        for (int i = 0; i < l.length; i++) l[i] = data[i];
        return fromLongs(l, shape);
    }

    /** Copies any tensor (any device, any floating dtype, any strides) into a Java float array. */
    public static float[] toFloats(Tensor t) {
        try (PointerScope scope = new PointerScope()) {
            Tensor c = t.to(torch.ScalarType.Float).cpu().contiguous();
            float[] a = new float[Math.toIntExact(c.numel())];
            if (a.length > 0) new FloatPointer(c.data_ptr()).get(a);
            return a;
        }
    }

    public static long[] toLongs(Tensor t) {
        try (PointerScope scope = new PointerScope()) {
            Tensor c = t.to(torch.ScalarType.Long).cpu().contiguous();
            long[] a = new long[Math.toIntExact(c.numel())];
            if (a.length > 0) new LongPointer(c.data_ptr()).get(a);
            return a;
        }
    }

    /**
     * Lets a tensor created inside a {@link PointerScope} outlive that scope: the caller owns it
     * afterwards and must close it. Returns the tensor.
     */
    public static Tensor keep(Tensor t) {
        if (PointerScope.getInnerScope() != null) t.retainReference();
        return t;
    }

    public static long[] shape(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) s[i] = t.size(i);
        return s;
    }

    public static String shapeString(Tensor t) {
        return java.util.Arrays.toString(shape(t));
    }

    private static void checkNumel(Tensor t, int n) {
        if (t.numel() != n) {
            long numel = t.numel();
            t.close();
            throw new IllegalArgumentException("data has " + n + " elements but the shape needs " + numel);
        }
    }
}
