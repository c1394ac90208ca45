// The C API: validates every argument (the same rules for both devices), then routes to the CPU twin
// or the CUDA kernel. Built without CUDA, device SAS_DEVICE_CUDA returns SAS_ERR_DEVICE.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../cpu/cpu_kernels.h"
#include "../cpu/parallel.h"
#include "common.h"
#include "internal.h"
#include "sas_kernels.h"
#include "variants.h"
#ifdef SAS_WITH_CUDA
#include "../cuda/cuda_kernels.h"
#endif

using namespace sas;

namespace {

// Device availability, checked after the arguments (so argument errors read the same on both devices).
sas_status device_ready(sas_device device) {
    if (device == SAS_DEVICE_CPU) return SAS_OK;
#ifdef SAS_WITH_CUDA
    const char *why = "";
    if (!cuda::available(&why))
        return fail(SAS_ERR_DEVICE, "device: SAS_DEVICE_CUDA requested but no CUDA device is usable (%s)", why);
    return SAS_OK;
#else
    return fail(SAS_ERR_DEVICE,
                "device: SAS_DEVICE_CUDA requested but this libsas_kernels was built without CUDA (SAS_CUDA=OFF)");
#endif
}

#ifdef SAS_WITH_CUDA
#define SAS_ROUTE(device, cpu_call, cuda_call) return (device) == SAS_DEVICE_CUDA ? (cuda_call) : (cpu_call)
#else
#define SAS_ROUTE(device, cpu_call, cuda_call) return (cpu_call)
#endif

// Pointer checks: null only when `need` (there is work), alignment always.
sas_status buf(bool need, const char *name, const void *p, size_t align) {
    if (need) SAS_TRY(check_ptr(name, p));
    return check_align(name, p, align);
}

// Checks shared by the encoders.
sas_status check_encode_common(int device, int x_dtype, const void *x, int64_t ldx, int64_t n, int64_t d,
                               int w_dtype, const void *W_enc, const void *b_enc, const void *threshold, int64_t m,
                               int act, bool topk_allowed, int32_t k, const char *func) {
    SAS_TRY(check_device(device));
    SAS_TRY(check_same_dtype(x_dtype, w_dtype));
    SAS_TRY(check_nonneg("n", n));
    SAS_TRY(check_range("d", d, 1, kMaxD));
    SAS_TRY(check_range("m", m, 1, kMaxM));
    SAS_TRY(check_ld("ldx", ldx, "d", d));
    SAS_TRY(check_act(act, topk_allowed, func));
    if (act == SAS_ACT_TOPK) SAS_TRY(check_k(k, m));
    const size_t es = dtype_size(sas_dtype(x_dtype));
    const bool work = n > 0;
    SAS_TRY(buf(work, "x", x, es));
    SAS_TRY(buf(work, "W_enc", W_enc, es));
    SAS_TRY(buf(work, "b_enc", b_enc, es));
    SAS_TRY(buf(work && act == SAS_ACT_JUMPRELU, "threshold", threshold, es));
    return SAS_OK;
}

// No C++ exception may cross the C API: allocation failures become SAS_ERR_ALLOC.
template <class F> sas_status guarded(const char *func, F &&body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(SAS_ERR_ALLOC, "%s: out of host memory", func);
    } catch (const std::exception &e) {
        return fail(SAS_ERR_ALLOC, "%s: host resources exhausted (%s)", func, e.what());
    } catch (...) {
        return fail(SAS_ERR_ALLOC, "%s: unexpected internal exception", func);
    }
}

}  // namespace

extern "C" {

SAS_API const char *sas_last_error(void) { return last_error(); }

SAS_API const char *sas_status_name(sas_status status) {
    switch (status) {
    case SAS_OK: return "SAS_OK";
    case SAS_ERR_NULL_POINTER: return "SAS_ERR_NULL_POINTER";
    case SAS_ERR_BAD_SIZE: return "SAS_ERR_BAD_SIZE";
    case SAS_ERR_BAD_K: return "SAS_ERR_BAD_K";
    case SAS_ERR_DTYPE: return "SAS_ERR_DTYPE";
    case SAS_ERR_ALIGNMENT: return "SAS_ERR_ALIGNMENT";
    case SAS_ERR_DEVICE: return "SAS_ERR_DEVICE";
    case SAS_ERR_CUDA: return "SAS_ERR_CUDA";
    case SAS_ERR_UNSUPPORTED: return "SAS_ERR_UNSUPPORTED";
    case SAS_ERR_ALLOC: return "SAS_ERR_ALLOC";
    case SAS_ERR_INDEX: return "SAS_ERR_INDEX";
    default: break;
    }
    return "SAS_ERR_UNKNOWN";
}

SAS_API int sas_cuda_available(void) {
#ifdef SAS_WITH_CUDA
    return cuda::available(nullptr);
#else
    return 0;
#endif
}

SAS_API const char *sas_version(void) { return SAS_VERSION_STRING; }

SAS_API const char *sas_build_info(void) {
    thread_local std::string info;
    info = std::string("sas_kernels ") + SAS_VERSION_STRING + "; CPU: " + std::to_string(num_threads()) + " threads";
#ifdef SAS_WITH_CUDA
#if defined(SAS_CUDA_EMU)
    info += "; CUDA kernels: the CPU emulation of native/emu (tests only)";
#elif defined(SAS_CUDA_BUILD_STRING)
    info += "; CUDA kernels: " SAS_CUDA_BUILD_STRING;
#else
    info += "; CUDA kernels: built";
#endif
    const char *why = "";
    if (cuda::available(&why))
        info += std::string("; device: ") + cuda::device_name();
    else
        info += std::string("; no usable CUDA device (") + why + ")";
    info += "; variants:";
    for (const variants::Variant *v : variants::kAll)
        info += std::string(" ") + v->env + "=" +
                (variants::forced(*v) < 0 && v->auto_rule ? std::string("auto (") + v->auto_rule + ")"
                                                          : std::string(variants::on(*v) ? "on" : "off")) +
                (variants::forced(*v) >= 0 ? " (env)" : "");
#else
    info += "; CUDA kernels: not built (SAS_CUDA=OFF, or no nvcc at build time)";
#endif
    return info.c_str();
}

SAS_API sas_status sas_encode_dense(sas_device device, void *stream, sas_dtype x_dtype, const void *x, int64_t ldx,
                                    int64_t n, int64_t d, sas_dtype w_dtype, const void *W_enc, const void *b_enc,
                                    const void *threshold, int64_t m, sas_activation act, int32_t k, float *out,
                                    int64_t ld_out) {
    clear_error();
    return guarded("sas_encode_dense", [&]() -> sas_status {
    SAS_TRY(check_encode_common(device, x_dtype, x, ldx, n, d, w_dtype, W_enc, b_enc, threshold, m, act, true, k,
                                "sas_encode_dense"));
    SAS_TRY(check_ld("ld_out", ld_out, "m", m));
    SAS_TRY(buf(n > 0, "out", out, 4));
    SAS_TRY(device_ready(device));
    if (n == 0) return SAS_OK;
    SAS_ROUTE(device, cpu::encode_dense(x_dtype, x, ldx, n, d, W_enc, b_enc, threshold, m, act, k, out, ld_out),
              cuda::encode_dense(stream, x_dtype, x, ldx, n, d, W_enc, b_enc, threshold, m, act, k, out, ld_out));
    });
}

SAS_API sas_status sas_encode_sparse(sas_device device, void *stream, sas_dtype x_dtype, const void *x, int64_t ldx,
                                     int64_t n, int64_t d, sas_dtype w_dtype, const void *W_enc, const void *b_enc,
                                     const void *threshold, int64_t m, sas_activation act, int32_t k, int32_t max_nnz,
                                     int64_t *out_indices, float *out_values, int32_t *out_count) {
    clear_error();
    return guarded("sas_encode_sparse", [&]() -> sas_status {
    SAS_TRY(check_encode_common(device, x_dtype, x, ldx, n, d, w_dtype, W_enc, b_enc, threshold, m, act, true, k,
                                "sas_encode_sparse"));
    SAS_TRY(check_nonneg("max_nnz", max_nnz));
    SAS_TRY(buf(n > 0 && max_nnz > 0, "out_indices", out_indices, 8));
    SAS_TRY(buf(n > 0 && max_nnz > 0, "out_values", out_values, 4));
    SAS_TRY(buf(n > 0, "out_count", out_count, 4));
    SAS_TRY(device_ready(device));
    if (n == 0) return SAS_OK;
    SAS_ROUTE(device,
              cpu::encode_sparse(x_dtype, x, ldx, n, d, W_enc, b_enc, threshold, m, act, k, max_nnz, out_indices,
                                 out_values, out_count),
              cuda::encode_sparse(stream, x_dtype, x, ldx, n, d, W_enc, b_enc, threshold, m, act, k, max_nnz,
                                  out_indices, out_values, out_count));
    });
}

SAS_API sas_status sas_encode_subset(sas_device device, void *stream, sas_dtype x_dtype, const void *x, int64_t ldx,
                                     int64_t n, int64_t d, sas_dtype w_dtype, const void *W_enc, const void *b_enc,
                                     const void *threshold, int64_t m, sas_activation act, const int64_t *S,
                                     int64_t s, float *out, int64_t ld_out) {
    clear_error();
    return guarded("sas_encode_subset", [&]() -> sas_status {
    SAS_TRY(check_encode_common(device, x_dtype, x, ldx, n, d, w_dtype, W_enc, b_enc, threshold, m, act, false, 1,
                                "sas_encode_subset"));
    SAS_TRY(check_range("s", s, 0, kMaxM));
    SAS_TRY(check_ld("ld_out", ld_out, "s", s));
    const bool work = n > 0 && s > 0;
    SAS_TRY(buf(work, "S", S, 8));
    SAS_TRY(buf(work, "out", out, 4));
    SAS_TRY(device_ready(device));
    if (!work) return SAS_OK;
    if (device == SAS_DEVICE_CPU) SAS_TRY(check_indices("S", S, s, m, false));
    SAS_ROUTE(device, cpu::encode_subset(x_dtype, x, ldx, n, d, W_enc, b_enc, threshold, m, act, S, s, out, ld_out),
              cuda::encode_subset(stream, x_dtype, x, ldx, n, d, W_enc, b_enc, threshold, m, act, S, s, out, ld_out));
    });
}

SAS_API sas_status sas_topk_rows(sas_device device, void *stream, sas_dtype dtype, const void *x, int64_t ldx,
                                 int64_t n, int64_t m, int32_t k, float *out_values, int64_t *out_indices) {
    clear_error();
    return guarded("sas_topk_rows", [&]() -> sas_status {
    SAS_TRY(check_device(device));
    SAS_TRY(check_dtype("dtype", dtype));
    SAS_TRY(check_nonneg("n", n));
    SAS_TRY(check_range("m", m, 1, kMaxM));
    SAS_TRY(check_ld("ldx", ldx, "m", m));
    SAS_TRY(check_k(k, m));
    const bool work = n > 0;
    SAS_TRY(buf(work, "x", x, dtype_size(dtype)));
    SAS_TRY(buf(work, "out_values", out_values, 4));
    SAS_TRY(buf(work, "out_indices", out_indices, 8));
    SAS_TRY(device_ready(device));
    if (!work) return SAS_OK;
    SAS_ROUTE(device, cpu::topk_rows(dtype, x, ldx, n, m, k, false, out_values, out_indices),
              cuda::topk_rows(stream, dtype, x, ldx, n, m, k, false, out_values, out_indices));
    });
}

SAS_API sas_status sas_topk_abs(sas_device device, void *stream, sas_dtype dtype, const void *v, int64_t m, int32_t k,
                                float *out_values, int64_t *out_indices) {
    clear_error();
    return guarded("sas_topk_abs", [&]() -> sas_status {
    SAS_TRY(check_device(device));
    SAS_TRY(check_dtype("dtype", dtype));
    SAS_TRY(check_range("m", m, 1, kMaxM));
    SAS_TRY(check_k(k, m));
    SAS_TRY(check_buf("v", v, dtype_size(dtype)));
    SAS_TRY(check_buf("out_values", out_values, 4));
    SAS_TRY(check_buf("out_indices", out_indices, 8));
    SAS_TRY(device_ready(device));
    SAS_ROUTE(device, cpu::topk_rows(dtype, v, m, 1, m, k, true, out_values, out_indices),
              cuda::topk_rows(stream, dtype, v, m, 1, m, k, true, out_values, out_indices));
    });
}

SAS_API sas_status sas_inject(sas_device device, void *stream, sas_dtype x_dtype, void *x, int64_t ldx, int64_t n,
                              int64_t d, sas_dtype w_dtype, const void *W_dec, int64_t m, int32_t nnz,
                              const int64_t *indices, const float *coeffs) {
    clear_error();
    return guarded("sas_inject", [&]() -> sas_status {
    SAS_TRY(check_device(device));
    SAS_TRY(check_same_dtype(x_dtype, w_dtype));
    SAS_TRY(check_nonneg("n", n));
    SAS_TRY(check_range("d", d, 1, kMaxD));
    SAS_TRY(check_range("m", m, 1, kMaxM));
    SAS_TRY(check_ld("ldx", ldx, "d", d));
    SAS_TRY(check_nonneg("nnz", nnz));
    const bool work = n > 0 && nnz > 0;
    const size_t es = dtype_size(x_dtype);
    SAS_TRY(buf(work, "x", x, es));
    SAS_TRY(buf(work, "W_dec", W_dec, es));
    SAS_TRY(buf(work, "indices", indices, 8));
    SAS_TRY(buf(work, "coeffs", coeffs, 4));
    SAS_TRY(device_ready(device));
    if (!work) return SAS_OK;
    if (device == SAS_DEVICE_CPU) SAS_TRY(check_indices("indices", indices, n * int64_t(nnz), m, true));
    SAS_ROUTE(device, cpu::inject(x_dtype, x, ldx, n, d, W_dec, m, nnz, indices, coeffs),
              cuda::inject(stream, x_dtype, x, ldx, n, d, W_dec, m, nnz, indices, coeffs));
    });
}

SAS_API sas_status sas_pack_support(sas_device device, void *stream, sas_dtype w_dtype, const void *W_enc,
                                    const void *b_enc, const void *threshold, const void *W_dec, int64_t d, int64_t m,
                                    const int64_t *S, int64_t s, void *Wenc_S, void *benc_S, void *thr_S,
                                    void *Wdec_S) {
    clear_error();
    return guarded("sas_pack_support", [&]() -> sas_status {
    SAS_TRY(check_device(device));
    SAS_TRY(check_dtype("w_dtype", w_dtype));
    SAS_TRY(check_range("d", d, 1, kMaxD));
    SAS_TRY(check_range("m", m, 1, kMaxM));
    SAS_TRY(check_range("s", s, 0, kMaxM));
    const bool work = s > 0;
    const size_t es = dtype_size(w_dtype);
    SAS_TRY(buf(work, "W_enc", W_enc, es));
    SAS_TRY(buf(work, "b_enc", b_enc, es));
    SAS_TRY(buf(work, "W_dec", W_dec, es));
    SAS_TRY(buf(work, "S", S, 8));
    SAS_TRY(buf(work, "Wenc_S", Wenc_S, es));
    SAS_TRY(buf(work, "benc_S", benc_S, es));
    SAS_TRY(buf(work, "Wdec_S", Wdec_S, es));
    SAS_TRY(check_align("threshold", threshold, es));
    SAS_TRY(check_align("thr_S", thr_S, es));
    if (threshold != nullptr && thr_S == nullptr)
        return fail(SAS_ERR_NULL_POINTER, "thr_S is NULL but threshold is given (pass both or neither)");
    if (threshold == nullptr && thr_S != nullptr)
        return fail(SAS_ERR_NULL_POINTER, "threshold is NULL but thr_S is given (pass both or neither)");
    SAS_TRY(device_ready(device));
    if (!work) return SAS_OK;
    if (device == SAS_DEVICE_CPU) SAS_TRY(check_indices("S", S, s, m, false));
    SAS_ROUTE(device,
              cpu::pack_support(w_dtype, W_enc, b_enc, threshold, W_dec, d, m, S, s, Wenc_S, benc_S, thr_S, Wdec_S),
              cuda::pack_support(stream, w_dtype, W_enc, b_enc, threshold, W_dec, d, m, S, s, Wenc_S, benc_S, thr_S,
                                 Wdec_S));
    });
}

SAS_API sas_status sas_steer_fused(sas_device device, void *stream, sas_dtype x_dtype, void *x, int64_t ldx,
                                   int64_t n, int64_t d, sas_dtype w_dtype, const void *Wenc_S, const void *benc_S,
                                   const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act,
                                   const float *v_S, float lambda, const uint8_t *row_mask) {
    clear_error();
    return guarded("sas_steer_fused", [&]() -> sas_status {
    SAS_TRY(check_device(device));
    SAS_TRY(check_same_dtype(x_dtype, w_dtype));
    SAS_TRY(check_nonneg("n", n));
    SAS_TRY(check_range("d", d, 1, kMaxD));
    SAS_TRY(check_ld("ldx", ldx, "d", d));
    SAS_TRY(check_range("s", s, 0, kMaxM));
    SAS_TRY(check_act(act, false, "sas_steer_fused"));
    const bool work = n > 0 && s > 0;
    const size_t es = dtype_size(x_dtype);
    SAS_TRY(buf(work, "x", x, es));
    SAS_TRY(buf(work, "Wenc_S", Wenc_S, es));
    SAS_TRY(buf(work, "benc_S", benc_S, es));
    SAS_TRY(buf(work && act == SAS_ACT_JUMPRELU, "thr_S", thr_S, es));
    SAS_TRY(buf(work, "Wdec_S", Wdec_S, es));
    SAS_TRY(buf(work, "v_S", v_S, 4));
    SAS_TRY(device_ready(device));
    if (!work) return SAS_OK;
    SAS_ROUTE(device,
              cpu::steer_fused(x_dtype, x, ldx, n, d, Wenc_S, benc_S, thr_S, Wdec_S, s, act, v_S, lambda, row_mask),
              cuda::steer_fused(stream, x_dtype, x, ldx, n, d, Wenc_S, benc_S, thr_S, Wdec_S, s, act, v_S, lambda,
                                row_mask));
    });
}

}  // extern "C"

// ---- internal entry points (tests / bench) ---------------------------------------------------------
namespace sas {
namespace internal {

bool built_with_cuda() {
#ifdef SAS_WITH_CUDA
    return true;
#else
    return false;
#endif
}

int cpu_threads() { return num_threads(); }

sas_status dev_alloc(sas_device dev, void **p, size_t bytes) {
    if (dev == SAS_DEVICE_CPU) {
        *p = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
        return *p ? SAS_OK : fail(SAS_ERR_ALLOC, "host allocation of %zu bytes failed", bytes);
    }
#ifdef SAS_WITH_CUDA
    return cuda::malloc_device(p, bytes);
#else
    return device_ready(dev);
#endif
}

void dev_free(sas_device dev, void *p) {
    if (dev == SAS_DEVICE_CPU) {
        std::free(p);
        return;
    }
#ifdef SAS_WITH_CUDA
    cuda::free_device(p);
#endif
}

sas_status to_device(sas_device dev, void *dst, const void *src, size_t bytes) {
    if (dev == SAS_DEVICE_CPU) {
        std::memcpy(dst, src, bytes);
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    return cuda::memcpy_h2d(dst, src, bytes);
#else
    return device_ready(dev);
#endif
}

sas_status to_host(sas_device dev, void *dst, const void *src, size_t bytes) {
    if (dev == SAS_DEVICE_CPU) {
        std::memcpy(dst, src, bytes);
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    return cuda::memcpy_d2h(dst, src, bytes);
#else
    return device_ready(dev);
#endif
}

sas_status dev_sync(sas_device dev) {
    if (dev == SAS_DEVICE_CPU) return SAS_OK;
#ifdef SAS_WITH_CUDA
    return cuda::synchronize();
#else
    return device_ready(dev);
#endif
}

sas_status decode_dense(sas_device dev, void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d,
                        const void *W_dec, int64_t m, const float *c, int64_t ldc) {
    if (dev == SAS_DEVICE_CPU) return cpu::decode_dense(dt, x, ldx, n, d, W_dec, m, c, ldc);
#ifdef SAS_WITH_CUDA
    return cuda::decode_dense(stream, dt, x, ldx, n, d, W_dec, m, c, ldc);
#else
    return device_ready(dev);
#endif
}

sas_status copy(sas_device dev, void *dst, const void *src, size_t bytes) {
    if (dev == SAS_DEVICE_CPU) {
        const size_t chunk = size_t(1) << 20;
        const int64_t chunks = int64_t((bytes + chunk - 1) / chunk);
        parallel_for(chunks, int64_t(chunk), [&](int64_t a, int64_t b) {
            for (int64_t c = a; c < b; ++c) {
                const size_t off = size_t(c) * chunk;
                const size_t len = bytes - off < chunk ? bytes - off : chunk;
                std::memcpy(static_cast<char *>(dst) + off, static_cast<const char *>(src) + off, len);
            }
        });
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    return cuda::copy(nullptr, dst, src, bytes);
#else
    return device_ready(dev);
#endif
}

sas_status read_probe(sas_device dev, const void *src, size_t bytes, uint32_t *sink) {
    if (dev == SAS_DEVICE_CPU) {
        const size_t chunk = size_t(1) << 20;
        const int64_t chunks = int64_t((bytes + chunk - 1) / chunk);
        std::mutex mu;
        parallel_for(chunks, int64_t(chunk), [&](int64_t a, int64_t b) {
            uint64_t acc = 0;
            const unsigned char *p = static_cast<const unsigned char *>(src);
            const size_t end = std::min(bytes, size_t(b) * chunk);
            size_t i = size_t(a) * chunk;  // a multiple of 8: words stay aligned to src
            for (; i + 8 <= end; i += 8) {
                uint64_t w;
                std::memcpy(&w, p + i, 8);
                acc ^= w;
            }
            for (; i < end; ++i) acc ^= uint64_t(p[i]) << (8 * (i % 4));
            std::lock_guard<std::mutex> lock(mu);
            *sink ^= uint32_t(acc) ^ uint32_t(acc >> 32);
        });
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    return cuda::read_probe(nullptr, src, bytes, sink);
#else
    return device_ready(dev);
#endif
}

sas_status launch_probe(sas_device dev) {
    if (dev == SAS_DEVICE_CPU) return SAS_OK;
#ifdef SAS_WITH_CUDA
    return cuda::launch_probe(nullptr);
#else
    return device_ready(dev);
#endif
}

bool steer_cluster_ready(sas_dtype dt, int *cc_major) {
    *cc_major = 0;
#ifdef SAS_WITH_CUDA
    if (device_ready(SAS_DEVICE_CUDA) != SAS_OK) return false;
    return cuda::steer_cluster_ready(dt, cc_major);
#else
    (void)dt;
    return false;
#endif
}

bool steer_pdl_ready(sas_dtype dt, int *cc_major) {
    *cc_major = 0;
#ifdef SAS_WITH_CUDA
    if (device_ready(SAS_DEVICE_CUDA) != SAS_OK) return false;
    return cuda::steer_pdl_ready(dt, cc_major);
#else
    (void)dt;
    return false;
#endif
}

bool steer_cluster_takes(sas_dtype dt, int64_t n, int64_t d, int64_t s) {
#ifdef SAS_WITH_CUDA
    if (device_ready(SAS_DEVICE_CUDA) != SAS_OK) return false;
    return cuda::steer_cluster_takes(dt, n, d, s);
#else
    (void)dt, (void)n, (void)d, (void)s;
    return false;
#endif
}

namespace {
std::chrono::steady_clock::time_point g_t0;
}

sas_status timer_start(sas_device dev) {
    if (dev == SAS_DEVICE_CPU) {
        g_t0 = std::chrono::steady_clock::now();
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    return cuda::timer_start(nullptr);
#else
    return device_ready(dev);
#endif
}

sas_status timer_stop(sas_device dev, double *ms) {
    if (dev == SAS_DEVICE_CPU) {
        *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_t0).count();
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    float f = 0;
    sas_status st = cuda::timer_stop(nullptr, &f);
    *ms = f;
    return st;
#else
    return device_ready(dev);
#endif
}

namespace {
uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
}  // namespace

sas_status fill_random(sas_device dev, sas_dtype dt, void *p, int64_t count, uint64_t seed, float lo, float hi) {
    if (dev == SAS_DEVICE_CPU) {
        parallel_for(count, 8, [&](int64_t a, int64_t b) {
            for (int64_t i = a; i < b; ++i) {
                const float u = float(mix64(seed * 0x100000001B3ull + uint64_t(i)) >> 40) * (1.0f / 16777216.0f);
                store_f32(dt, p, i, lo + (hi - lo) * u);
            }
        });
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    return cuda::fill_random(dt, p, count, seed, lo, hi);
#else
    return device_ready(dev);
#endif
}

sas_status dense_coef(sas_device dev, void *stream, const float *f, int64_t n, int64_t m, const float *v, float lambda,
                      float *c) {
    if (dev == SAS_DEVICE_CPU) {
        parallel_for(n * m, 4, [&](int64_t a, int64_t b) {
            for (int64_t e = a; e < b; ++e) {
                const float fv = f[e], g = fv + lambda * v[e % m];
                c[e] = (g > 0.0f ? g : 0.0f) - fv;
            }
        });
        return SAS_OK;
    }
#ifdef SAS_WITH_CUDA
    return cuda::dense_coef(stream, f, n, m, v, lambda, c);
#else
    return device_ready(dev);
#endif
}

std::string device_name(sas_device dev) {
    if (dev == SAS_DEVICE_CPU) {
        std::string model = "unknown CPU";
        std::ifstream f("/proc/cpuinfo");
        std::string line;
        while (std::getline(f, line)) {
            if (line.rfind("model name", 0) == 0) {
                size_t p = line.find(':');
                if (p != std::string::npos) model = line.substr(p + 2);
                break;
            }
        }
        return model + " (" + std::to_string(num_threads()) + " threads)";
    }
#ifdef SAS_WITH_CUDA
    return cuda::device_name();
#else
    return "CUDA (not built)";
#endif
}

}  // namespace internal
}  // namespace sas
