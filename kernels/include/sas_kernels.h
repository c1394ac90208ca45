/*
 * sas_kernels.h: the SparseSteer kernel library's C API.
 *
 * Framework-free, in the spirit of FlashAttention's C API: raw pointers, sizes, leading dimensions,
 * a dtype, a device and the caller's CUDA stream. The library knows nothing of libtorch or the JVM;
 * the Java binding adapts tensors to these calls and checks every argument before it calls in.
 *
 * Conventions
 *  - Matrices are row-major. `ld*` is the distance in elements between consecutive rows (>= the row
 *    length). Gemma Scope layout: W_enc is [d, m], W_dec is [m, d], b_enc/threshold are [m].
 *  - Floating inputs are f32, bf16 or f16 (sas_dtype); arithmetic accumulates in f32. The activation
 *    dtype (x) and the SAE weight dtype (w) are passed separately and must be equal
 *    (SAS_ERR_DTYPE otherwise). Outputs named `float*` are always f32; `x` updated in place keeps
 *    its dtype.
 *  - Every pointer must be aligned to its element size (2 bytes for bf16/f16, 4 for f32/int32,
 *    8 for int64): SAS_ERR_ALIGNMENT otherwise.
 *  - `device` says where every pointer of the call lives (all on the host, or all on one CUDA
 *    device). `stream` is a cudaStream_t (NULL = the legacy default stream) and is ignored on CPU.
 *    CUDA calls are asynchronous on `stream`; CPU calls return when the work is done.
 *  - n = 0 is a valid no-op. Sizes: 1 <= d <= 65536, 1 <= m <= 2^24, 1 <= k <= min(m, 1024).
 *  - Every function returns a status. On failure, sas_last_error() gives a readable message for the
 *    calling thread (naming the argument). The library never aborts, exits or prints.
 *  - Results are deterministic and identical in order across devices: top-k orders by value
 *    descending, ties by lower index; sparse outputs list features by ascending index.
 */
#ifndef SAS_KERNELS_H
#define SAS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SAS_API __declspec(dllexport)
#else
#define SAS_API __attribute__((visibility("default")))
#endif

typedef enum sas_status {
    SAS_OK = 0,
    SAS_ERR_NULL_POINTER = 1, /* a required pointer is NULL */
    SAS_ERR_BAD_SIZE = 2,     /* n, d, m, s, ld or max_nnz out of range */
    SAS_ERR_BAD_K = 3,        /* k = 0, k > m or k > 1024 */
    SAS_ERR_DTYPE = 4,        /* unknown dtype, or activation and weight dtypes differ */
    SAS_ERR_ALIGNMENT = 5,    /* a pointer not aligned to its element size */
    SAS_ERR_DEVICE = 6,       /* unknown device, or CUDA requested but not built / no GPU */
    SAS_ERR_CUDA = 7,         /* a CUDA runtime error (message has cudaGetErrorString) */
    SAS_ERR_UNSUPPORTED = 8,  /* a valid combination this kernel does not do (named in the message) */
    SAS_ERR_ALLOC = 9,        /* host or device allocation failed */
    SAS_ERR_INDEX = 10,       /* a feature index outside [0, m) (checked on CPU) */
    SAS_STATUS_MAX_ENUM = 0x7fffffff /* not a status: makes every int32 a valid value of the type */
} sas_status;

/* The *_MAX_ENUM entries are not values to pass: they widen each enum's range to all of int32, so an
 * out-of-range value from a caller (rejected with an error) is well defined in the C++ implementation. */
typedef enum sas_dtype { SAS_F32 = 0, SAS_BF16 = 1, SAS_F16 = 2, SAS_DTYPE_MAX_ENUM = 0x7fffffff } sas_dtype;

typedef enum sas_device { SAS_DEVICE_CPU = 0, SAS_DEVICE_CUDA = 1, SAS_DEVICE_MAX_ENUM = 0x7fffffff } sas_device;

/* The SAE's activation. JumpReLU: f = pre if pre > threshold else 0 (Gemma Scope).
 * ReLU: f = max(pre, 0). TopK: keep the k largest pre of the row (ties by lower index), ReLU'd. */
typedef enum sas_activation {
    SAS_ACT_JUMPRELU = 0,
    SAS_ACT_RELU = 1,
    SAS_ACT_TOPK = 2,
    SAS_ACT_MAX_ENUM = 0x7fffffff
} sas_activation;

/* ---- library information ---------------------------------------------------------------- */

/* The message for the last failed call on this thread ("" if none). Valid until the next call. */
SAS_API const char *sas_last_error(void);
/* A constant name for a status, e.g. "SAS_ERR_BAD_K". */
SAS_API const char *sas_status_name(sas_status status);
/* 1 when the library was built with CUDA and at least one CUDA device is usable, else 0. */
SAS_API int sas_cuda_available(void);
/* Library version, e.g. "0.1.0". */
SAS_API const char *sas_version(void);
/* One line for logs and bug reports: the version, the CPU twins' threads, whether the CUDA kernels are
 * built (and for which architectures), the CUDA device in use or why there is none, and the state of each
 * CUDA kernel variant (an environment variable per variant, "1" on, "0" off, else its default; "(env)"
 * marks the ones set). Valid until this thread's next call; the format may change. Never NULL. */
SAS_API const char *sas_build_info(void);

/* ---- 1. SAE encode ------------------------------------------------------------------------ */

/* out[r, j] = act(x[r,:] . W_enc[:, j] + b_enc[j]) for r < n, j < m, as dense f32 rows.
 * threshold is required for JumpReLU and ignored otherwise; k is used by TopK only. */
SAS_API sas_status sas_encode_dense(sas_device device, void *stream,
                                    sas_dtype x_dtype, const void *x, int64_t ldx, int64_t n, int64_t d,
                                    sas_dtype w_dtype, const void *W_enc, const void *b_enc,
                                    const void *threshold, int64_t m,
                                    sas_activation act, int32_t k,
                                    float *out, int64_t ld_out);

/* The same code, sparse per row: out_count[r] = number of active (non-zero) features of row r;
 * the first min(out_count[r], max_nnz) of them, by ascending feature index, go to
 * out_indices[r * max_nnz + i] and out_values[r * max_nnz + i]; unused slots get index -1 and
 * value 0. A row whose count exceeds max_nnz is truncated (the caller sees count > max_nnz and can
 * retry with a larger buffer). */
SAS_API sas_status sas_encode_sparse(sas_device device, void *stream,
                                     sas_dtype x_dtype, const void *x, int64_t ldx, int64_t n, int64_t d,
                                     sas_dtype w_dtype, const void *W_enc, const void *b_enc,
                                     const void *threshold, int64_t m,
                                     sas_activation act, int32_t k,
                                     int32_t max_nnz, int64_t *out_indices, float *out_values,
                                     int32_t *out_count);

/* Encode restricted to a feature subset S (s indices into [0, m), any order, repeats allowed):
 * out[r, i] = act(x[r,:] . W_enc[:, S[i]] + b_enc[S[i]]), O(n*s*d). JumpReLU and ReLU only
 * (TopK depends on all m features: SAS_ERR_UNSUPPORTED). */
SAS_API sas_status sas_encode_subset(sas_device device, void *stream,
                                     sas_dtype x_dtype, const void *x, int64_t ldx, int64_t n, int64_t d,
                                     sas_dtype w_dtype, const void *W_enc, const void *b_enc,
                                     const void *threshold, int64_t m,
                                     sas_activation act,
                                     const int64_t *S, int64_t s,
                                     float *out, int64_t ld_out);

/* ---- 2. Top-k feature selection ----------------------------------------------------------- */

/* Per row r < n of x [n, m]: the k largest values, descending, ties by lower index:
 * out_values[r*k + i], out_indices[r*k + i]. */
SAS_API sas_status sas_topk_rows(sas_device device, void *stream,
                                 sas_dtype dtype, const void *x, int64_t ldx, int64_t n, int64_t m,
                                 int32_t k, float *out_values, int64_t *out_indices);

/* Of one vector v [m]: the k entries of largest |v|, by |v| descending, ties by lower index.
 * out_values keeps the signed value v[idx]. */
SAS_API sas_status sas_topk_abs(sas_device device, void *stream,
                                sas_dtype dtype, const void *v, int64_t m,
                                int32_t k, float *out_values, int64_t *out_indices);

/* ---- 3. Decoder-projected injection ------------------------------------------------------- */

/* x[r,:] += sum_j coeffs[r*nnz + j] * W_dec[indices[r*nnz + j], :] for r < n, j < nnz.
 * A negative index is padding and is skipped. */
SAS_API sas_status sas_inject(sas_device device, void *stream,
                              sas_dtype x_dtype, void *x, int64_t ldx, int64_t n, int64_t d,
                              sas_dtype w_dtype, const void *W_dec, int64_t m,
                              int32_t nnz, const int64_t *indices, const float *coeffs);

/* Gathers the SAE rows a steering vector touches into a packed, contiguous form (done once per
 * vector, so the per-token fused step streams 2*s*d contiguous weights):
 *   Wenc_S[i, :] = W_enc[:, S[i]]   ([s, d], the transposed columns)
 *   Wdec_S[i, :] = W_dec[S[i], :]   ([s, d])
 *   benc_S[i] = b_enc[S[i]], thr_S[i] = threshold[S[i]] (thr_S may be NULL when threshold is NULL)
 * All outputs in w_dtype, on `device`. */
SAS_API sas_status sas_pack_support(sas_device device, void *stream,
                                    sas_dtype w_dtype, const void *W_enc, const void *b_enc,
                                    const void *threshold, const void *W_dec, int64_t d, int64_t m,
                                    const int64_t *S, int64_t s,
                                    void *Wenc_S, void *benc_S, void *thr_S, void *Wdec_S);

/* The fused steering step. For every row r < n with row_mask[r] != 0 (row_mask NULL = all rows):
 *   f_S = act(x[r,:] . Wenc_S^T + benc_S)              (JumpReLU with thr_S, or ReLU)
 *   c   = relu(f_S + lambda * v_S) - f_S
 *   x[r,:] += c . Wdec_S
 * with the packed operands of sas_pack_support. This is exactly
 * x + decode(relu(f + lambda v)) - decode(f) for a v supported on S, never touching features outside S:
 * O(n*s*d) instead of O(n*m*d). TopK SAEs: SAS_ERR_UNSUPPORTED (their code depends on all m). */
SAS_API sas_status sas_steer_fused(sas_device device, void *stream,
                                   sas_dtype x_dtype, void *x, int64_t ldx, int64_t n, int64_t d,
                                   sas_dtype w_dtype, const void *Wenc_S, const void *benc_S,
                                   const void *thr_S, const void *Wdec_S, int64_t s,
                                   sas_activation act, const float *v_S, float lambda,
                                   const uint8_t *row_mask);

#ifdef __cplusplus
}
#endif

#endif /* SAS_KERNELS_H */
