package org.sparsesteer.kernels;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The raw JavaCPP binding of the SparseSteer kernel library's C API ({@code kernels/include/sas_kernels.h}).
 *
 * <p>One {@code static native} method per C function, same names, same argument order. Nothing here checks
 * anything: a wrong size or a dangling pointer is undefined behaviour. Call {@link SasKernels} instead, which
 * checks every argument of a libtorch tensor before it calls in.
 *
 * <p>The JNI glue ({@code libjnisas_kernels.so}) is generated and compiled by the javacpp Maven plugin at
 * build time and linked against {@code libsas_kernels.so}, which the same build compiles with CMake; both
 * lie in this package's {@code linux-x86_64} resource folder, where {@link Loader} finds them.
 */
@Platform(include = "sas_kernels.h", link = "sas_kernels", library = "jnisas_kernels")
public final class SasKernelsLib {
    static {
        Loader.load();
    }

    private SasKernelsLib() {}

    // ---- sas_status ----------------------------------------------------------------------------------
    public static final int SAS_OK = 0;
    public static final int SAS_ERR_NULL_POINTER = 1;
    public static final int SAS_ERR_BAD_SIZE = 2;
    public static final int SAS_ERR_BAD_K = 3;
    public static final int SAS_ERR_DTYPE = 4;
    public static final int SAS_ERR_ALIGNMENT = 5;
    public static final int SAS_ERR_DEVICE = 6;
    public static final int SAS_ERR_CUDA = 7;
    public static final int SAS_ERR_UNSUPPORTED = 8;
    public static final int SAS_ERR_ALLOC = 9;
    public static final int SAS_ERR_INDEX = 10;

    // ---- sas_dtype, sas_device, sas_activation -------------------------------------------------------
    public static final int SAS_F32 = 0;
    public static final int SAS_BF16 = 1;
    public static final int SAS_F16 = 2;

    public static final int SAS_DEVICE_CPU = 0;
    public static final int SAS_DEVICE_CUDA = 1;

    public static final int SAS_ACT_JUMPRELU = 0;
    public static final int SAS_ACT_RELU = 1;
    public static final int SAS_ACT_TOPK = 2;

    // ---- library information -------------------------------------------------------------------------
    public static native @Cast("const char*") BytePointer sas_last_error();

    public static native @Cast("const char*") BytePointer sas_status_name(@Cast("sas_status") int status);

    public static native int sas_cuda_available();

    public static native @Cast("const char*") BytePointer sas_version();

    public static native @Cast("const char*") BytePointer sas_build_info();

    // ---- 1. SAE encode -------------------------------------------------------------------------------
    public static native @Cast("int") int sas_encode_dense(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int x_dtype, @Const Pointer x, @Cast("int64_t") long ldx,
            @Cast("int64_t") long n, @Cast("int64_t") long d,
            @Cast("sas_dtype") int w_dtype, @Const Pointer W_enc, @Const Pointer b_enc,
            @Const Pointer threshold, @Cast("int64_t") long m,
            @Cast("sas_activation") int act, @Cast("int32_t") int k,
            FloatPointer out, @Cast("int64_t") long ld_out);

    public static native @Cast("int") int sas_encode_sparse(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int x_dtype, @Const Pointer x, @Cast("int64_t") long ldx,
            @Cast("int64_t") long n, @Cast("int64_t") long d,
            @Cast("sas_dtype") int w_dtype, @Const Pointer W_enc, @Const Pointer b_enc,
            @Const Pointer threshold, @Cast("int64_t") long m,
            @Cast("sas_activation") int act, @Cast("int32_t") int k,
            @Cast("int32_t") int max_nnz, @Cast("int64_t*") LongPointer out_indices, FloatPointer out_values,
            @Cast("int32_t*") IntPointer out_count);

    public static native @Cast("int") int sas_encode_subset(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int x_dtype, @Const Pointer x, @Cast("int64_t") long ldx,
            @Cast("int64_t") long n, @Cast("int64_t") long d,
            @Cast("sas_dtype") int w_dtype, @Const Pointer W_enc, @Const Pointer b_enc,
            @Const Pointer threshold, @Cast("int64_t") long m,
            @Cast("sas_activation") int act,
            @Cast("const int64_t*") LongPointer S, @Cast("int64_t") long s,
            FloatPointer out, @Cast("int64_t") long ld_out);

    // ---- 2. Top-k feature selection ------------------------------------------------------------------
    public static native @Cast("int") int sas_topk_rows(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int dtype, @Const Pointer x, @Cast("int64_t") long ldx,
            @Cast("int64_t") long n, @Cast("int64_t") long m,
            @Cast("int32_t") int k, FloatPointer out_values, @Cast("int64_t*") LongPointer out_indices);

    public static native @Cast("int") int sas_topk_abs(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int dtype, @Const Pointer v, @Cast("int64_t") long m,
            @Cast("int32_t") int k, FloatPointer out_values, @Cast("int64_t*") LongPointer out_indices);

    // ---- 3. Decoder-projected injection --------------------------------------------------------------
    public static native @Cast("int") int sas_inject(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int x_dtype, Pointer x, @Cast("int64_t") long ldx,
            @Cast("int64_t") long n, @Cast("int64_t") long d,
            @Cast("sas_dtype") int w_dtype, @Const Pointer W_dec, @Cast("int64_t") long m,
            @Cast("int32_t") int nnz, @Cast("const int64_t*") LongPointer indices, @Const FloatPointer coeffs);

    public static native @Cast("int") int sas_pack_support(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int w_dtype, @Const Pointer W_enc, @Const Pointer b_enc,
            @Const Pointer threshold, @Const Pointer W_dec, @Cast("int64_t") long d, @Cast("int64_t") long m,
            @Cast("const int64_t*") LongPointer S, @Cast("int64_t") long s,
            Pointer Wenc_S, Pointer benc_S, Pointer thr_S, Pointer Wdec_S);

    public static native @Cast("int") int sas_steer_fused(
            @Cast("sas_device") int device, Pointer stream,
            @Cast("sas_dtype") int x_dtype, Pointer x, @Cast("int64_t") long ldx,
            @Cast("int64_t") long n, @Cast("int64_t") long d,
            @Cast("sas_dtype") int w_dtype, @Const Pointer Wenc_S, @Const Pointer benc_S,
            @Const Pointer thr_S, @Const Pointer Wdec_S, @Cast("int64_t") long s,
            @Cast("sas_activation") int act, @Const FloatPointer v_S, float lambda,
            @Cast("const uint8_t*") BytePointer row_mask);
}
