// Small vector helpers of the CPU twins (compiled for AVX2+FMA and baseline x86-64, picked at load time).
#include <algorithm>
#include <cstring>

#include "cpu_kernels.h"

// Not under ThreadSanitizer: the loader runs target_clones' resolvers before the sanitizer's runtime is up,
// and its instrumentation of them crashes the process; the baseline code is taken there.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SAS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SAS_CLONES
#endif

namespace sas {
namespace cpu {

// 32 fixed partial sums (four independent 8-wide FMA chains, so the loop is not latency-bound),
// combined in a fixed tree: deterministic for a given n.
SAS_CLONES float dot_f32(const float *a, const float *b, int64_t n) {
    float acc[32];
    for (int l = 0; l < 32; ++l) acc[l] = 0.0f;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 32; ++l) acc[l] += a[i + l] * b[i + l];
    for (int l = 0; i + l < n; ++l) acc[l] += a[i + l] * b[i + l];
    for (int w = 16; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0];
}

SAS_CLONES void axpy_f32(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

namespace {
#pragma GCC diagnostic ignored "-Wpsabi"  // the v8f helpers are always inlined
typedef float v8f __attribute__((vector_size(32)));
__attribute__((always_inline)) inline v8f load8(const float *p) {
    v8f v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
__attribute__((always_inline)) inline void store8(float *p, const v8f &v) { std::memcpy(p, &v, sizeof v); }
// The first cnt (< 8) floats at p, zeros after; the first cnt lanes of v to p.
__attribute__((always_inline)) inline v8f load_part(const float *p, int64_t cnt) {
    v8f v = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t l = 0; l < cnt && l < 8; ++l) v[l] = p[l];  // (a variable-size memcpy trips GCC's -Wstringop-overflow)
    return v;
}
__attribute__((always_inline)) inline void store_part(float *p, const v8f &v, int64_t cnt) {
    std::memcpy(p, &v, size_t(cnt) * sizeof(float));
}
// 8 bf16 at p widened to f32 (exact: the bf16 bits are the top half of the f32); the first cnt (< 8), zeros
// after.
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef uint32_t v8w __attribute__((vector_size(32)));
__attribute__((always_inline)) inline v8f widen8(const v8h &h) {
    const v8w u = __builtin_convertvector(h, v8w) << 16;
    v8f v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}
__attribute__((always_inline)) inline v8f load8(const uint16_t *p) {
    v8h h;
    std::memcpy(&h, p, sizeof h);
    return widen8(h);
}
__attribute__((always_inline)) inline v8f load_part(const uint16_t *p, int64_t cnt) {
    v8h h = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t l = 0; l < cnt && l < 8; ++l) h[l] = p[l];
    return widen8(h);
}

// dot_f32 for R rows of x at once, bit for bit: per row the same 32 partial sums (four vectors of 8),
// updated in the same order, the same tail and tree; w's loads are shared by the R rows.
template <int R>
__attribute__((always_inline)) inline void dot_rows(const float *x, int64_t ldx, const float *w, int64_t n, float *out) {
    v8f acc[R][4];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < 4; ++v) acc[r][v] = v8f{0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        v8f wv[4];
        for (int v = 0; v < 4; ++v) wv[v] = load8(w + i + 8 * v);
        for (int r = 0; r < R; ++r)
            for (int v = 0; v < 4; ++v) acc[r][v] += load8(x + r * ldx + i + 8 * v) * wv[v];
    }
    for (int r = 0; r < R; ++r) {
        float a[32];
        std::memcpy(a, acc[r], sizeof a);
        const float *xr = x + r * ldx;
        for (int l = 0; i + l < n; ++l) a[l] += xr[i + l] * w[i + l];
        for (int h = 16; h >= 1; h /= 2)
            for (int l = 0; l < h; ++l) a[l] += a[l + h];
        out[r] = a[0];
    }
}

// How far ahead update_rows requests each weight row: 512 bytes (8 cache lines). Its rows are read 16
// columns at a time, up to 16 rows side by side, a pattern the hardware prefetcher does not follow well: with
// the packed support out of cache, as between two decode steps, the update ran at ~13 GB/s (one core) and
// took 44 us of a 60 us fused step (n = 1, s = 64, f32); with this, 21 us (RESULTS-cpu.md, "The fused step
// with its operands out of cache").
constexpr uintptr_t kPrefetchAhead = 512;
// R rows (1..4) of update_rows_f32 / _bf16, 16 columns (two vectors) at a time; the last < 16 zero-padded
// through the same expression. T: the weights' element type (float, or uint16_t holding bf16).
template <int R, class T>
__attribute__((always_inline)) inline void update_rows(float *y, int64_t ldy, const float *c, int64_t ldc,
                                                       const T *const *w, const uint8_t *use, int64_t nf,
                                                       int64_t len) {
    for (int64_t j = 0; j < len; j += 16) {
        const int64_t c0 = std::min<int64_t>(8, len - j), c1 = std::min<int64_t>(8, len - j - 8);
        v8f acc[R][2];
        for (int r = 0; r < R; ++r) {
            float *yr = y + r * ldy + j;
            acc[r][0] = c0 < 8 ? load_part(yr, c0) : load8(yr);
            acc[r][1] = c1 <= 0 ? v8f{0, 0, 0, 0, 0, 0, 0, 0} : c1 < 8 ? load_part(yr + 8, c1) : load8(yr + 8);
        }
        for (int64_t i = 0; i < nf; ++i) {
            if (!use[i]) continue;
            const T *wi = w[i] + j;
            // A hint, never a fault, also past the end of the row (the address is computed as an integer).
            __builtin_prefetch(reinterpret_cast<const void *>(reinterpret_cast<uintptr_t>(wi) + kPrefetchAhead), 0, 3);
            const v8f w0 = c0 < 8 ? load_part(wi, c0) : load8(wi);
            const v8f w1 = c1 <= 0 ? v8f{0, 0, 0, 0, 0, 0, 0, 0} : c1 < 8 ? load_part(wi + 8, c1) : load8(wi + 8);
            for (int r = 0; r < R; ++r) {
                const float ci = c[r * ldc + i];
                acc[r][0] += ci * w0;
                acc[r][1] += ci * w1;
            }
        }
        for (int r = 0; r < R; ++r) {
            float *yr = y + r * ldy + j;
            if (c0 < 8)
                store_part(yr, acc[r][0], c0);
            else
                store8(yr, acc[r][0]);
            if (c1 >= 8)
                store8(yr + 8, acc[r][1]);
            else if (c1 > 0)
                store_part(yr + 8, acc[r][1], c1);
        }
    }
}
}  // namespace

SAS_CLONES void dot_rows_f32(const float *x, int64_t ldx, int64_t rows, const float *w, int64_t n, float *out) {
    int64_t r = 0;
    for (; r + 3 <= rows; r += 3) dot_rows<3>(x + r * ldx, ldx, w, n, out + r);
    if (rows - r == 2) dot_rows<2>(x + r * ldx, ldx, w, n, out + r);
    if (rows - r == 1) dot_rows<1>(x + r * ldx, ldx, w, n, out + r);
}

namespace {
template <class T>
__attribute__((always_inline)) inline void update_rows_any(float *y, int64_t ldy, int64_t rows, const float *c,
                                                           int64_t ldc, const T *const *w, const uint8_t *use,
                                                           int64_t nf, int64_t len) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) update_rows<4>(y + r * ldy, ldy, c + r * ldc, ldc, w, use, nf, len);
    switch (rows - r) {
    case 3: update_rows<3>(y + r * ldy, ldy, c + r * ldc, ldc, w, use, nf, len); break;
    case 2: update_rows<2>(y + r * ldy, ldy, c + r * ldc, ldc, w, use, nf, len); break;
    case 1: update_rows<1>(y + r * ldy, ldy, c + r * ldc, ldc, w, use, nf, len); break;
    default: break;
    }
}
}  // namespace

SAS_CLONES void update_rows_f32(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc,
                                const float *const *w, const uint8_t *use, int64_t nf, int64_t len) {
    update_rows_any(y, ldy, rows, c, ldc, w, use, nf, len);
}

SAS_CLONES void update_rows_bf16(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc,
                                 const uint16_t *const *w, const uint8_t *use, int64_t nf, int64_t len) {
    update_rows_any(y, ldy, rows, c, ldc, w, use, nf, len);
}

const float *as_f32(sas_dtype dt, const void *p, int64_t off, int64_t count, std::vector<float> &tmp) {
    if (dt == SAS_F32) return static_cast<const float *>(p) + off;
    if (tmp.size() < size_t(count)) tmp.resize(size_t(count));
    convert_to_f32(dt, p, off, count, tmp.data());
    return tmp.data();
}

}  // namespace cpu
}  // namespace sas
