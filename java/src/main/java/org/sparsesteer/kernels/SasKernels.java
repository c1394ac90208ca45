package org.sparsesteer.kernels;

import static org.sparsesteer.kernels.SasKernelsLib.SAS_BF16;
import static org.sparsesteer.kernels.SasKernelsLib.SAS_DEVICE_CPU;
import static org.sparsesteer.kernels.SasKernelsLib.SAS_DEVICE_CUDA;
import static org.sparsesteer.kernels.SasKernelsLib.SAS_F16;
import static org.sparsesteer.kernels.SasKernelsLib.SAS_F32;
import static org.sparsesteer.kernels.SasKernelsLib.SAS_OK;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The SparseSteer kernels for libtorch tensors: SAE encode (dense, sparse, on a feature subset), top-k feature
 * selection, decoder-projected injection and the fused steering step.
 *
 * <p>Every method checks every argument before it calls native code: defined (non-null) tensors, rank and sizes
 * agreeing ({@code x [n, d]}, {@code W_enc [d, m]}, {@code b_enc [m]}, {@code threshold [m]}, {@code W_dec [m, d]},
 * {@code S} int64 {@code [s]}, ...), dtypes (float32, bfloat16 or float16 for activations and SAE weights, which
 * must agree; int64 for indices; float32 for coefficients), one device (CPU or CUDA) for all tensors, dense
 * row-major layout (activations may have a row stride, passed as the leading dimension; everything else must
 * be contiguous), k in {@code 1..min(m, 1024)}, and feature indices in {@code [0, m)}. A violation throws
 * {@link IllegalArgumentException} naming the argument; the native library never sees it. A failing native call
 * (a CUDA error, say) throws {@link SasKernelsException}.
 *
 * <p>On CUDA tensors the kernels run asynchronously on libtorch's current CUDA stream of the tensors' device,
 * so they order with the surrounding libtorch ops. On CPU they are done when the method returns.
 *
 * <p>Methods returning tensors allocate new ones (float32 / int64 / int32 on the input's device). The caller owns
 * them: close them, or open a {@link PointerScope} around the call, which they then join. Methods named as
 * acting in place modify {@code x}. Temporaries are freed before a method returns.
 */
public final class SasKernels {
    /** The largest k of the top-k kernels and of TopK SAEs. */
    public static final int MAX_K = 1024;
    /** The largest model width d the kernels accept. */
    public static final long MAX_D = 65536;
    /** The largest SAE width m the kernels accept. */
    public static final long MAX_M = 1L << 24;

    private static volatile IntFunction<Pointer> cudaStreamSupplier = CudaStreams::current;

    private SasKernels() {}

    // ---------------------------------------------------------------------------------------------------
    // library information
    // ---------------------------------------------------------------------------------------------------

    /** The native library's version, e.g. "0.1.0". */
    public static String version() {
        return SasKernelsLib.sas_version().getString();
    }

    /**
     * One line describing the native library for logs and bug reports: its version, the CPU threads, whether its
     * CUDA kernels are built (for which architectures), the GPU in use or why there is none, and each CUDA kernel
     * variant's state (environment variables such as {@code SAS_CUDA_STEER_ONE}: "1" on, "0" off, else the
     * library's default, which for some is a rule on the call's shape, shown as "auto (rule)"; "(env)" marks those
     * set). The format may change.
     */
    public static String buildInfo() {
        return SasKernelsLib.sas_build_info().getString();
    }

    /** Whether the native library was built with CUDA and sees a usable GPU. */
    public static boolean cudaAvailable() {
        return SasKernelsLib.sas_cuda_available() != 0;
    }

    /**
     * Replaces how the CUDA stream for a device index is found (by default libtorch's current stream,
     * {@code at::cuda::getCurrentCUDAStream(index)}, looked up reflectively). The supplier returns a Pointer whose
     * address is a {@code cudaStream_t}, or null for the legacy default stream. Null restores the default.
     */
    public static void setCudaStreamSupplier(IntFunction<Pointer> supplier) {
        cudaStreamSupplier = supplier == null ? CudaStreams::current : supplier;
    }

    // ---------------------------------------------------------------------------------------------------
    // 1. SAE encode
    // ---------------------------------------------------------------------------------------------------

    /** {@link #encodeDense(Tensor, Tensor, Tensor, Tensor, Activation, int)} with the SAE's tensors. */
    public static Tensor encodeDense(Tensor x, SaeParams sae, Activation act, int k) {
        requireSae(sae);
        return encodeDense(x, sae.W_enc(), sae.b_enc(), sae.threshold(), act, k);
    }

    /**
     * The dense SAE code {@code act(x W_enc + b_enc)}, float32 {@code [n, m]}.
     *
     * @param x         activations [n, d] (rows may be strided)
     * @param W_enc     [d, m], same dtype as x
     * @param b_enc     [m]
     * @param threshold [m]; required for JumpReLU, ignored (may be null) otherwise
     * @param act       the activation
     * @param k         TopK's k in 1..min(m, 1024); ignored for JumpReLU and ReLU
     */
    public static Tensor encodeDense(Tensor x, Tensor W_enc, Tensor b_enc, Tensor threshold, Activation act, int k) {
        try (Call c = new Call()) {
            Encode e = checkEncode(c, x, W_enc, b_enc, threshold, act, k);
            Tensor out = c.result(empty(x, e.dev, ScalarType.Float, e.rows.n, e.m));
            if (e.rows.n > 0) {
                check("sas_encode_dense", SasKernelsLib.sas_encode_dense(e.dev.code, c.stream(e.dev), e.dtype,
                        x.data_ptr(), e.rows.ld, e.rows.n, e.rows.cols, e.dtype, W_enc.data_ptr(), b_enc.data_ptr(),
                        e.thresholdPtr, e.m, act.code, e.k, new FloatPointer(out.data_ptr()), e.m));
            }
            return c.done(out);
        }
    }

    /** {@link #encodeSparse(Tensor, Tensor, Tensor, Tensor, Activation, int, int)} with the SAE's tensors. */
    public static SparseCode encodeSparse(Tensor x, SaeParams sae, Activation act, int k, int maxNnz) {
        requireSae(sae);
        return encodeSparse(x, sae.W_enc(), sae.b_enc(), sae.threshold(), act, k, maxNnz);
    }

    /**
     * The SAE code as a sparse list per row: active features by ascending index. Starts with a buffer of
     * {@code maxNnz} slots per row and, when some row has more active features, runs again with a buffer as wide
     * as the largest count, so the result is always complete.
     *
     * @param maxNnz the initial slots per row, 1..m (for TopK, k is enough)
     */
    public static SparseCode encodeSparse(Tensor x, Tensor W_enc, Tensor b_enc, Tensor threshold, Activation act,
            int k, int maxNnz) {
        try (Call c = new Call()) {
            Encode e = checkEncode(c, x, W_enc, b_enc, threshold, act, k);
            if (maxNnz < 1 || maxNnz > e.m) {
                throw iae("maxNnz: expected 1.." + e.m + " (m) but got " + maxNnz);
            }
            long n = e.rows.n;
            int width = maxNnz;
            while (true) {
                Tensor indices = empty(x, e.dev, ScalarType.Long, n, width);
                Tensor values = empty(x, e.dev, ScalarType.Float, n, width);
                Tensor counts = empty(x, e.dev, ScalarType.Int, n);
                if (n == 0) {
                    return c.done(new SparseCode(c.result(indices), c.result(values), c.result(counts)));
                }
                check("sas_encode_sparse", SasKernelsLib.sas_encode_sparse(e.dev.code, c.stream(e.dev), e.dtype,
                        x.data_ptr(), e.rows.ld, n, e.rows.cols, e.dtype, W_enc.data_ptr(), b_enc.data_ptr(),
                        e.thresholdPtr, e.m, act.code, e.k, width, new LongPointer(indices.data_ptr()),
                        new FloatPointer(values.data_ptr()), new IntPointer(counts.data_ptr())));
                long most = maxCount(counts, n);
                if (most <= width) {
                    return c.done(new SparseCode(c.result(indices), c.result(values), c.result(counts)));
                }
                width = (int) most; // counts never exceed m, checked <= 2^24 above
                indices.close();
                values.close();
                counts.close();
            }
        }
    }

    /** {@link #encodeSubset(Tensor, Tensor, Tensor, Tensor, Activation, Tensor)} with the SAE's tensors. */
    public static Tensor encodeSubset(Tensor x, SaeParams sae, Activation act, Tensor S) {
        requireSae(sae);
        return encodeSubset(x, sae.W_enc(), sae.b_enc(), sae.threshold(), act, S);
    }

    /**
     * The SAE code restricted to the features S: {@code out[r, i] = act(x[r] . W_enc[:, S[i]] + b_enc[S[i]])},
     * float32 {@code [n, s]}, in O(n s d). JumpReLU or ReLU only (a TopK code depends on all m features).
     *
     * @param S int64 [s], s >= 1, entries in [0, m) (any order, repeats allowed)
     */
    public static Tensor encodeSubset(Tensor x, Tensor W_enc, Tensor b_enc, Tensor threshold, Activation act,
            Tensor S) {
        try (Call c = new Call()) {
            if (act == Activation.TOPK) {
                throw iae("act: TOPK is not supported by encodeSubset (a TopK code depends on all m features); "
                        + "use JUMPRELU or RELU");
            }
            Encode e = checkEncode(c, x, W_enc, b_enc, threshold, act, 0);
            long s = checkIndexVector(S, "S", e.m, e.dev);
            Tensor out = c.result(empty(x, e.dev, ScalarType.Float, e.rows.n, s));
            if (e.rows.n > 0) {
                check("sas_encode_subset", SasKernelsLib.sas_encode_subset(e.dev.code, c.stream(e.dev), e.dtype,
                        x.data_ptr(), e.rows.ld, e.rows.n, e.rows.cols, e.dtype, W_enc.data_ptr(), b_enc.data_ptr(),
                        e.thresholdPtr, e.m, act.code, new LongPointer(S.data_ptr()), s,
                        new FloatPointer(out.data_ptr()), s));
            }
            return c.done(out);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // 2. Top-k feature selection
    // ---------------------------------------------------------------------------------------------------

    /**
     * Per row of {@code x [n, m]}: the k largest values, descending, ties by lower index, as float32 values and
     * int64 indices {@code [n, k]}.
     */
    public static TopK topkRows(Tensor x, int k) {
        try (Call c = new Call()) {
            Rows rows = checkRows(x, "x", "n", "m", -1);
            int dtype = floatDtype(x, "x");
            Dev dev = device(x, "x");
            long m = rows.cols;
            checkWidth("x", "m", m, MAX_M);
            checkK(k, m, "k");
            Tensor values = c.result(empty(x, dev, ScalarType.Float, rows.n, k));
            Tensor indices = c.result(empty(x, dev, ScalarType.Long, rows.n, k));
            if (rows.n > 0) {
                check("sas_topk_rows", SasKernelsLib.sas_topk_rows(dev.code, c.stream(dev), dtype, x.data_ptr(),
                        rows.ld, rows.n, m, k, new FloatPointer(values.data_ptr()),
                        new LongPointer(indices.data_ptr())));
            }
            return c.done(new TopK(values, indices));
        }
    }

    /**
     * Of one vector {@code v [m]}: the k entries of largest |v|, by |v| descending, ties by lower index; values
     * keep their sign. float32 values and int64 indices {@code [k]}.
     */
    public static TopK topkAbs(Tensor v, int k) {
        try (Call c = new Call()) {
            long m = checkVector(v, "v", "m", -1);
            int dtype = floatDtype(v, "v");
            Dev dev = device(v, "v");
            checkWidth("v", "m", m, MAX_M);
            checkK(k, m, "k");
            Tensor values = c.result(empty(v, dev, ScalarType.Float, k));
            Tensor indices = c.result(empty(v, dev, ScalarType.Long, k));
            check("sas_topk_abs", SasKernelsLib.sas_topk_abs(dev.code, c.stream(dev), dtype, v.data_ptr(), m, k,
                    new FloatPointer(values.data_ptr()), new LongPointer(indices.data_ptr())));
            return c.done(new TopK(values, indices));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // 3. Decoder-projected injection and the fused steering step
    // ---------------------------------------------------------------------------------------------------

    /**
     * In place: {@code x[r] += sum_j coeffs[r, j] * W_dec[indices[r, j]]}. A negative index is padding and is
     * skipped.
     *
     * @param x       activations [n, d] (rows may be strided), updated in place, keeping its dtype
     * @param W_dec   [m, d], same dtype as x
     * @param indices int64 [n, nnz], entries in [0, m) or negative (padding); range-checked on CPU
     * @param coeffs  float32 [n, nnz]
     */
    public static void inject(Tensor x, Tensor W_dec, Tensor indices, Tensor coeffs) {
        try (Call c = new Call()) {
            Rows rows = checkRows(x, "x", "n", "d", -1);
            long n = rows.n;
            long d = rows.cols;
            checkWidth("x", "d", d, MAX_D);
            int dtype = floatDtype(x, "x");
            Dev dev = device(x, "x");
            long m = checkMatrix(W_dec, "W_dec", "(m, d)", -1, d);
            checkWidth("W_dec", "m", m, MAX_M);
            sameDtype(W_dec, "W_dec", dtype, x, "x");
            sameDevice(W_dec, "W_dec", dev);
            long nnz = checkMatrix(indices, "indices", "(n, nnz)", n, -1);
            requireDtype(indices, "indices", ScalarType.Long);
            sameDevice(indices, "indices", dev);
            checkMatrix(coeffs, "coeffs", "(n, nnz)", n, nnz);
            requireDtype(coeffs, "coeffs", ScalarType.Float);
            sameDevice(coeffs, "coeffs", dev);
            if (nnz > Integer.MAX_VALUE) {
                throw iae("indices: nnz = " + nnz + " exceeds " + Integer.MAX_VALUE);
            }
            if (n == 0 || nnz == 0) {
                return;
            }
            if (!dev.cuda) {
                checkIndexRange(indices, "indices", n * nnz, m, true);
            }
            check("sas_inject", SasKernelsLib.sas_inject(dev.code, c.stream(dev), dtype, x.data_ptr(), rows.ld, n, d,
                    dtype, W_dec.data_ptr(), m, (int) nnz, new LongPointer(indices.data_ptr()),
                    new FloatPointer(coeffs.data_ptr())));
        }
    }

    /** {@link #packSupport(Tensor, Tensor, Tensor, Tensor, Tensor)} with the SAE's tensors. */
    public static PackedSupport packSupport(SaeParams sae, Tensor S) {
        requireSae(sae);
        return packSupport(sae.W_enc(), sae.b_enc(), sae.threshold(), sae.W_dec(), S);
    }

    /**
     * Gathers the SAE rows of the features S (a steering vector's support) into the packed, contiguous form of
     * the fused step: {@code Wenc_S[i] = W_enc[:, S[i]]}, {@code Wdec_S[i] = W_dec[S[i]]}, {@code benc_S},
     * {@code thr_S} (null when threshold is null), in the SAE's dtype on its device. Done once per vector.
     *
     * @param threshold [m], or null for a ReLU SAE
     * @param S         int64 [s], s >= 1, entries in [0, m)
     */
    public static PackedSupport packSupport(Tensor W_enc, Tensor b_enc, Tensor threshold, Tensor W_dec, Tensor S) {
        try (Call c = new Call()) {
            checkMatrix(W_enc, "W_enc", "(d, m)", -1, -1);
            long d = W_enc.size(0);
            long m = W_enc.size(1);
            checkWidth("W_enc", "d", d, MAX_D);
            checkWidth("W_enc", "m", m, MAX_M);
            int dtype = floatDtype(W_enc, "W_enc");
            Dev dev = device(W_enc, "W_enc");
            checkVector(b_enc, "b_enc", "m", m);
            sameDtype(b_enc, "b_enc", dtype, W_enc, "W_enc");
            sameDevice(b_enc, "b_enc", dev);
            if (threshold != null) {
                checkVector(threshold, "threshold", "m", m);
                sameDtype(threshold, "threshold", dtype, W_enc, "W_enc");
                sameDevice(threshold, "threshold", dev);
            }
            checkMatrix(W_dec, "W_dec", "(m, d)", m, d);
            sameDtype(W_dec, "W_dec", dtype, W_enc, "W_enc");
            sameDevice(W_dec, "W_dec", dev);
            long s = checkIndexVector(S, "S", m, dev);

            ScalarType wt = W_enc.scalar_type().intern();
            Tensor wencS = c.result(empty(W_enc, dev, wt, s, d));
            Tensor bencS = c.result(empty(W_enc, dev, wt, s));
            Tensor thrS = threshold == null ? null : c.result(empty(W_enc, dev, wt, s));
            Tensor wdecS = c.result(empty(W_enc, dev, wt, s, d));
            Tensor sCopy = c.result(S.clone());
            check("sas_pack_support", SasKernelsLib.sas_pack_support(dev.code, c.stream(dev), dtype,
                    W_enc.data_ptr(), b_enc.data_ptr(), threshold == null ? null : threshold.data_ptr(),
                    W_dec.data_ptr(), d, m, new LongPointer(S.data_ptr()), s, wencS.data_ptr(), bencS.data_ptr(),
                    thrS == null ? null : thrS.data_ptr(), wdecS.data_ptr()));
            return c.done(new PackedSupport(wencS, bencS, thrS, wdecS, sCopy, m));
        }
    }

    /**
     * The fused steering step, in place, for every row r with {@code rowMask[r] != 0} (all rows when rowMask is
     * null): {@code f_S = act(x[r] Wenc_S^T + benc_S)}, {@code x[r] += (relu(f_S + lambda v_S) - f_S) Wdec_S}.
     * This equals {@code x + decode(relu(f + lambda v)) - decode(f)} for a steering vector v supported on S,
     * in O(n s d) instead of O(n m d).
     *
     * @param x       activations [n, d] (rows may be strided), same dtype as the packed SAE rows
     * @param packed  from {@link #packSupport}
     * @param act     JUMPRELU (needs packed.thr_S) or RELU
     * @param v_S     float32 [s], the steering coefficients of the features S
     * @param lambda  the steering strength (finite)
     * @param rowMask bool or uint8 [n], or null for all rows
     */
    public static void steerFused(Tensor x, PackedSupport packed, Activation act, Tensor v_S, float lambda,
            Tensor rowMask) {
        try (Call c = new Call()) {
            if (packed == null) {
                throw iae("packed: is null");
            }
            if (act == null) {
                throw iae("act: is null");
            }
            if (act == Activation.TOPK) {
                throw iae("act: TOPK is not supported by steerFused (a TopK code depends on all m features); "
                        + "use JUMPRELU or RELU");
            }
            Rows rows = checkRows(x, "x", "n", "d", -1);
            long n = rows.n;
            long d = rows.cols;
            checkWidth("x", "d", d, MAX_D);
            int dtype = floatDtype(x, "x");
            Dev dev = device(x, "x");
            long s = checkMatrix(packed.Wenc_S(), "packed.Wenc_S", "(s, d)", -1, d);
            if (s < 1) {
                throw iae("packed.Wenc_S: s must be >= 1 but got " + s);
            }
            sameDtype(packed.Wenc_S(), "packed.Wenc_S", dtype, x, "x");
            sameDevice(packed.Wenc_S(), "packed.Wenc_S", dev);
            checkVector(packed.benc_S(), "packed.benc_S", "s", s);
            sameDtype(packed.benc_S(), "packed.benc_S", dtype, x, "x");
            sameDevice(packed.benc_S(), "packed.benc_S", dev);
            Pointer thr = null;
            if (act == Activation.JUMPRELU) {
                if (packed.thr_S() == null) {
                    throw iae("packed.thr_S: JUMPRELU needs the threshold, but the support was packed without one");
                }
                checkVector(packed.thr_S(), "packed.thr_S", "s", s);
                sameDtype(packed.thr_S(), "packed.thr_S", dtype, x, "x");
                sameDevice(packed.thr_S(), "packed.thr_S", dev);
                thr = packed.thr_S().data_ptr();
            }
            checkMatrix(packed.Wdec_S(), "packed.Wdec_S", "(s, d)", s, d);
            sameDtype(packed.Wdec_S(), "packed.Wdec_S", dtype, x, "x");
            sameDevice(packed.Wdec_S(), "packed.Wdec_S", dev);
            checkVector(v_S, "v_S", "s", s);
            requireDtype(v_S, "v_S", ScalarType.Float);
            sameDevice(v_S, "v_S", dev);
            if (!Float.isFinite(lambda)) {
                throw iae("lambda: must be finite but got " + lambda);
            }
            BytePointer mask = null;
            if (rowMask != null) {
                checkVector(rowMask, "rowMask", "n", n);
                ScalarType mt = rowMask.scalar_type().intern();
                if (mt != ScalarType.Bool && mt != ScalarType.Byte) {
                    throw iae("rowMask: expected dtype bool or uint8 but got " + dtypeName(mt));
                }
                sameDevice(rowMask, "rowMask", dev);
                mask = n == 0 ? null : new BytePointer(rowMask.data_ptr());
            }
            if (n == 0) {
                return;
            }
            check("sas_steer_fused", SasKernelsLib.sas_steer_fused(dev.code, c.stream(dev), dtype, x.data_ptr(),
                    rows.ld, n, d, dtype, packed.Wenc_S().data_ptr(), packed.benc_S().data_ptr(), thr,
                    packed.Wdec_S().data_ptr(), s, act.code, new FloatPointer(v_S.data_ptr()), lambda, mask));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // argument checks
    // ---------------------------------------------------------------------------------------------------

    /** Rows of a 2-D tensor: n rows of {@code cols} elements, {@code ld} elements apart. */
    private record Rows(long n, long cols, long ld) {}

    /** Where the tensors of a call live. */
    private record Dev(boolean cuda, int index, int code, String name) {}

    /** The checked common arguments of the encode functions. */
    private record Encode(Rows rows, int dtype, Dev dev, long m, int k, Pointer thresholdPtr) {}

    private static Encode checkEncode(Call c, Tensor x, Tensor W_enc, Tensor b_enc, Tensor threshold,
            Activation act, int k) {
        if (act == null) {
            throw iae("act: is null");
        }
        Rows rows = checkRows(x, "x", "n", "d", -1);
        long d = rows.cols;
        checkWidth("x", "d", d, MAX_D);
        int dtype = floatDtype(x, "x");
        Dev dev = device(x, "x");
        long m = checkMatrix(W_enc, "W_enc", "(d, m)", d, -1);
        checkWidth("W_enc", "m", m, MAX_M);
        sameDtype(W_enc, "W_enc", dtype, x, "x");
        sameDevice(W_enc, "W_enc", dev);
        checkVector(b_enc, "b_enc", "m", m);
        sameDtype(b_enc, "b_enc", dtype, x, "x");
        sameDevice(b_enc, "b_enc", dev);
        Pointer thr = null;
        if (act == Activation.JUMPRELU) {
            if (threshold == null) {
                throw iae("threshold: is null, but JUMPRELU needs the per-feature threshold [m]");
            }
            checkVector(threshold, "threshold", "m", m);
            sameDtype(threshold, "threshold", dtype, x, "x");
            sameDevice(threshold, "threshold", dev);
            thr = threshold.data_ptr();
        }
        int kk = 0;
        if (act == Activation.TOPK) {
            checkK(k, m, "k");
            kk = k;
        }
        return new Encode(rows, dtype, dev, m, kk, thr);
    }

    private static void requireSae(SaeParams sae) {
        if (sae == null) {
            throw iae("sae: is null");
        }
    }

    private static void requireDefined(Tensor t, String name) {
        if (t == null) {
            throw iae(name + ": is null");
        }
        if (t.isNull() || !t.defined()) {
            throw iae(name + ": is an undefined (or closed) tensor");
        }
        if (t.layout().intern() != torch.Layout.Strided) {
            throw iae(name + ": expected a dense (strided) tensor but got layout " + t.layout().intern());
        }
    }

    private static void requireRank(Tensor t, String name, int rank, String dims) {
        requireDefined(t, name);
        long r = t.dim();
        if (r != rank) {
            throw iae(name + ": expected a " + rank + "-D tensor " + dims + " but got " + r + "-D " + shape(t));
        }
    }

    /** A 2-D activation-like tensor whose rows may be strided (a valid leading dimension). */
    private static Rows checkRows(Tensor t, String name, String rowName, String colName, long cols) {
        String dims = "[" + rowName + ", " + colName + "]";
        requireRank(t, name, 2, dims);
        long n = t.size(0);
        long c = t.size(1);
        if (cols >= 0 && c != cols) {
            throw iae(name + ": expected shape [" + rowName + ", " + cols + "] (" + rowName + ", " + colName
                    + ") but got " + shape(t));
        }
        if (c > 1 && t.stride(1) != 1) {
            throw iae(name + ": rows must be contiguous (stride 1 along " + colName + ") but strides are "
                    + strides(t) + "; call .contiguous()");
        }
        long ld = c;
        if (n > 1) {
            ld = t.stride(0);
            if (ld < c) {
                throw iae(name + ": rows overlap or are not row-major (strides " + strides(t) + " for shape "
                        + shape(t) + "); call .contiguous()");
            }
        }
        return new Rows(n, c, Math.max(ld, 1));
    }

    /** A contiguous 2-D tensor with the given sizes (-1 = any); returns the size of the free dimension. */
    private static long checkMatrix(Tensor t, String name, String dimNames, long rows, long cols) {
        String[] dn = dimNames.substring(1, dimNames.length() - 1).split(", ");
        requireRank(t, name, 2, "[" + dn[0] + ", " + dn[1] + "]");
        long r = t.size(0);
        long c = t.size(1);
        if ((rows >= 0 && r != rows) || (cols >= 0 && c != cols)) {
            throw iae(name + ": expected shape [" + (rows >= 0 ? rows : dn[0]) + ", " + (cols >= 0 ? cols : dn[1])
                    + "] " + dimNames + " but got " + shape(t));
        }
        requireContiguous(t, name);
        return rows < 0 ? r : c;
    }

    /** A contiguous 1-D tensor of the given size (-1 = any); returns its size. */
    private static long checkVector(Tensor t, String name, String dimName, long size) {
        requireRank(t, name, 1, "[" + dimName + "]");
        long s = t.size(0);
        if (size >= 0 && s != size) {
            throw iae(name + ": expected shape [" + size + "] (" + dimName + ") but got " + shape(t));
        }
        requireContiguous(t, name);
        return s;
    }

    private static void requireContiguous(Tensor t, String name) {
        if (!t.is_contiguous()) {
            throw iae(name + ": must be contiguous but has strides " + strides(t) + " for shape " + shape(t)
                    + "; call .contiguous()");
        }
    }

    private static void checkWidth(String name, String dimName, long value, long max) {
        if (value < 1 || value > max) {
            throw iae(name + ": " + dimName + " = " + value + " is out of range 1.." + max);
        }
    }

    private static void checkK(int k, long m, String name) {
        long max = Math.min(m, MAX_K);
        if (k < 1 || k > max) {
            throw iae(name + ": expected 1.." + max + " (min(m, " + MAX_K + ") with m = " + m + ") but got " + k);
        }
    }

    /** An int64 [s] index vector, s >= 1, entries in [0, m); on CUDA the range check costs one sync. */
    private static long checkIndexVector(Tensor S, String name, long m, Dev dev) {
        long s = checkVector(S, name, "s", -1);
        requireDtype(S, name, ScalarType.Long);
        sameDevice(S, name, dev);
        if (s < 1) {
            throw iae(name + ": must hold at least one feature index (s >= 1) but is empty");
        }
        if (dev.cuda) {
            try (PointerScope scope = new PointerScope()) {
                long lo = S.min().item_long();
                long hi = S.max().item_long();
                if (lo < 0 || hi >= m) {
                    throw iae(name + ": feature indices must be in [0, " + m + ") (m) but range over [" + lo + ", "
                            + hi + "]");
                }
            }
        } else {
            checkIndexRange(S, name, s, m, false);
        }
        return s;
    }

    /** Reads a contiguous CPU int64 tensor and checks its entries are below m (and >= 0 unless padding). */
    private static void checkIndexRange(Tensor t, String name, long count, long m, boolean negativeIsPadding) {
        LongPointer p = new LongPointer(t.data_ptr());
        long[] buf = new long[(int) Math.min(count, 1 << 16)];
        for (long off = 0; off < count; off += buf.length) {
            int len = (int) Math.min(buf.length, count - off);
            p.position(off).get(buf, 0, len);
            for (int i = 0; i < len; i++) {
                long v = buf[i];
                if (v >= m || (v < 0 && !negativeIsPadding)) {
                    throw iae(name + ": entry " + (off + i) + " is " + v + ", outside [0, " + m + ") (m)"
                            + (negativeIsPadding ? "; negative entries are padding" : ""));
                }
            }
        }
    }

    private static void requireDtype(Tensor t, String name, ScalarType expected) {
        ScalarType st = t.scalar_type().intern();
        if (st != expected) {
            throw iae(name + ": expected dtype " + dtypeName(expected) + " but got " + dtypeName(st));
        }
    }

    private static int floatDtype(Tensor t, String name) {
        ScalarType st = t.scalar_type().intern();
        switch (st) {
            case Float:
                return SAS_F32;
            case BFloat16:
                return SAS_BF16;
            case Half:
                return SAS_F16;
            default:
                throw iae(name + ": expected dtype float32, bfloat16 or float16 but got " + dtypeName(st));
        }
    }

    private static void sameDtype(Tensor t, String name, int dtype, Tensor ref, String refName) {
        int got = floatDtype(t, name);
        if (got != dtype) {
            throw iae(name + ": dtype " + dtypeName(t.scalar_type().intern()) + " differs from " + refName + "'s "
                    + dtypeName(ref.scalar_type().intern()) + " (the activations and the SAE tensors must share one dtype)");
        }
    }

    static String dtypeName(ScalarType st) {
        switch (st) {
            case Float: return "float32";
            case BFloat16: return "bfloat16";
            case Half: return "float16";
            case Double: return "float64";
            case Long: return "int64";
            case Int: return "int32";
            case Short: return "int16";
            case Char: return "int8";
            case Byte: return "uint8";
            case Bool: return "bool";
            default: return String.valueOf(st);
        }
    }

    private static final Dev CPU = new Dev(false, -1, SAS_DEVICE_CPU, "cpu");
    private static final Dev CUDA0 = new Dev(true, 0, SAS_DEVICE_CUDA, "cuda:0");
    private static volatile int cudaDeviceCount = -1;

    /**
     * Where t lives. Cheap on the hot path: Tensor.device() allocates a native Device (about 1.7 us through
     * JavaCPP), so it is only called for a CUDA tensor on a host with several GPUs, or to name an unsupported
     * device in the exception.
     */
    private static Dev device(Tensor t, String name) {
        if (t.is_cpu()) {
            return CPU;
        }
        if (t.is_cuda()) {
            int count = cudaDeviceCount;
            if (count < 0) {
                count = torch.cuda_device_count();
                cudaDeviceCount = count;
            }
            if (count <= 1) {
                return CUDA0;
            }
            try (Device dv = t.device()) {
                int index = dv.index();
                return new Dev(true, index, SAS_DEVICE_CUDA, "cuda:" + index);
            }
        }
        try (Device dv = t.device()) {
            throw iae(name + ": device " + dv.str().getString() + " is not supported (cpu or cuda)");
        }
    }

    private static void sameDevice(Tensor t, String name, Dev dev) {
        Dev other = device(t, name);
        if (other.cuda != dev.cuda || other.index != dev.index) {
            throw iae(name + ": is on " + other.name + " but the other tensors are on " + dev.name
                    + " (all tensors of a call must be on one device)");
        }
    }

    private static String shape(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.size(i);
        }
        return Arrays.toString(s);
    }

    private static String strides(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.stride(i);
        }
        return Arrays.toString(s);
    }

    private static IllegalArgumentException iae(String message) {
        return new IllegalArgumentException(message);
    }

    // ---------------------------------------------------------------------------------------------------
    // native calls and memory
    // ---------------------------------------------------------------------------------------------------

    /** Turns a non-OK status into a {@link SasKernelsException} with the library's message. */
    static void check(String function, int status) {
        if (status != SAS_OK) {
            BytePointer name = SasKernelsLib.sas_status_name(status);
            BytePointer message = SasKernelsLib.sas_last_error();
            throw new SasKernelsException(function, status, name == null ? "?" : name.getString(),
                    message == null ? "" : message.getString());
        }
    }

    private static long maxCount(Tensor counts, long n) {
        if (counts.is_cpu()) {
            int[] buf = new int[(int) n];
            new IntPointer(counts.data_ptr()).get(buf);
            int most = 0;
            for (int v : buf) {
                most = Math.max(most, v);
            }
            return most;
        }
        try (PointerScope scope = new PointerScope()) {
            return counts.max().item_long();
        }
    }

    /** A new uninitialised tensor of the given sizes and dtype on dev (the device of {@code like}). */
    private static Tensor empty(Tensor like, Dev dev, ScalarType dtype, long... sizes) {
        return torch.empty(sizes, options(like, dev, dtype), NO_MEMORY_FORMAT);
    }

    /*
     * The TensorOptions of new tensors, made once per (device, dtype). Why cache: JavaCPP checks the process's
     * physical memory (a read of /proc) each time it registers a native object, about 1 us per object unless the
     * application sets org.bytedeco.javacpp.maxPhysicalBytes=0 (bin/sas does), and a fresh options object costs
     * four of them; per output tensor that was most of a small call's time. The cached objects are made in a
     * PointerScope of their own and detached from it, so a caller's scope open at that moment cannot free them;
     * they are immutable values that libtorch copies, so threads share them.
     */
    private static final Map<Integer, TensorOptions> OPTIONS = new ConcurrentHashMap<>();
    private static final MemoryFormatOptional NO_MEMORY_FORMAT = detached(MemoryFormatOptional::new);

    private static TensorOptions options(Tensor like, Dev dev, ScalarType dtype) {
        int key = ((dev.cuda() ? dev.index() + 1 : 0) << 8) | dtype.value;
        TensorOptions o = OPTIONS.get(key);
        return o != null ? o : OPTIONS.computeIfAbsent(key, unused -> detached(() -> {
            ScalarTypeOptional st = new ScalarTypeOptional(dtype);
            return like.options().dtype(st);
        }));
    }

    /** Tests only: the cached options. */
    static Collection<TensorOptions> cachedOptionsForTest() {
        return List.copyOf(OPTIONS.values());
    }

    /** Tests only: frees the cached options and empties the cache (no call may be running). */
    static void clearOptionsCacheForTest() {
        for (TensorOptions o : OPTIONS.values()) {
            o.releaseReference();
        }
        OPTIONS.clear();
    }

    private static <P extends Pointer> P detached(Supplier<P> make) {
        try (PointerScope own = new PointerScope()) {
            P p = make.get();
            p.retainReference(); // detach releases the reference attach took: keep one, held by the cache
            own.detach(p);
            return p;
        }
    }

    /**
     * The scope of one call: temporaries (devices, options, streams) are freed on close; tensors passed to
     * {@link #result} survive it when the call gets to {@link #done} and then join the caller's PointerScope, if
     * there is one; when the call throws, they are freed too.
     */
    private static final class Call implements AutoCloseable {
        private final PointerScope scope = new PointerScope();
        private final List<Tensor> results = new ArrayList<>(4);
        private Pointer stream;
        private boolean streamSet;

        private boolean succeeded;

        /** Marks t as a result: it outlives the call if the call succeeds (else it is freed with the rest). */
        Tensor result(Tensor t) {
            results.add(t);
            return t;
        }

        /** The call succeeded: its results outlive it. */
        <T> T done(T value) {
            succeeded = true;
            return value;
        }

        Pointer stream(Dev dev) {
            if (!dev.cuda) {
                return null;
            }
            if (!streamSet) {
                stream = cudaStreamSupplier.apply(dev.index);
                streamSet = true;
            }
            return stream;
        }

        @Override
        public void close() {
            if (!succeeded) {
                results.clear();
            }
            for (Tensor t : results) {
                t.retainReference();
                scope.detach(t);
            }
            scope.close();
            PointerScope outer = PointerScope.getInnerScope();
            if (outer != null) {
                for (Tensor t : results) {
                    try {
                        outer.attach(t);
                        t.releaseReference();
                    } catch (IllegalArgumentException notForTensors) {
                        // the caller's scope takes other classes only: the caller owns the tensor
                    }
                }
            }
        }
    }
}
