// Small vector helpers of the CPU twins (compiled for AVX2+FMA and baseline x86-64, picked at load time).
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cpu_kernels.h"
#include "simd.h"

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

namespace {
using namespace simd;

// dot_f32 for R rows of x at once (f32 w, or f16 w widened in order: simd.h), bit for bit: per row the same
// 32 partial sums (four vectors of 8), updated in the same order, the same tail and tree; w's loads are
// shared by the R rows.
template <int R, class W>
__attribute__((always_inline)) inline void dot_rows(const float *x, int64_t ldx, const W *w, int64_t n, float *out) {
    v8f acc[R][4];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < 4; ++v) acc[r][v] = zero8();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int v = 0; v < 4; ++v) {  // one w vector live at a time: 12 accumulators + 1 fit in 16 registers
            const v8f wv = load8(w + i + 8 * v);
            for (int r = 0; r < R; ++r) acc[r][v] += load8(x + r * ldx + i + 8 * v) * wv;
        }
    for (int r = 0; r < R; ++r) {
        float a[32];
        std::memcpy(a, acc[r], sizeof a);
        const float *xr = x + r * ldx;
        for (int l = 0; i + l < n; ++l) a[l] += xr[i + l] * to_f32(w[i + l]);
        for (int h = 16; h >= 1; h /= 2)
            for (int l = 0; l < h; ++l) a[l] += a[l + h];
        out[r] = a[0];
    }
}

// The same for a bf16 w and rows xs in the split layout (simd.h): per 32 columns the two groups' even and
// odd halves go to the four partial-sum vectors; a last group of 16 to the first two, its missing columns
// zero on both sides (xs is zero-padded to a multiple of 16). Another summation order than dot_rows (the
// lanes hold other columns), fixed for a given n.
template <int R>
__attribute__((always_inline)) inline void dot_rows_split(const float *xs, int64_t ldx, const uint16_t *w, int64_t n,
                                                          float *out) {
    v8f acc[R][4];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < 4; ++v) acc[r][v] = zero8();
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        const v16pair w0 = load16(w + j), w1 = load16(w + j + 16);
        for (int r = 0; r < R; ++r) {
            const float *xr = xs + r * ldx + j;
            acc[r][0] += load8(xr) * w0.even;
            acc[r][1] += load8(xr + 8) * w0.odd;
            acc[r][2] += load8(xr + 16) * w1.even;
            acc[r][3] += load8(xr + 24) * w1.odd;
        }
    }
    for (; j < n; j += 16) {
        const v16pair wv = j + 16 <= n ? load16(w + j) : load16_part(w + j, n - j);
        for (int r = 0; r < R; ++r) {
            const float *xr = xs + r * ldx + j;
            acc[r][0] += load8(xr) * wv.even;
            acc[r][1] += load8(xr + 8) * wv.odd;
        }
    }
    for (int r = 0; r < R; ++r) out[r] = reduce32(acc[r]);
}

// How far ahead the updates request each weight row: 512 bytes (8 cache lines). Their rows are read 16
// columns at a time, up to 16 rows side by side, a pattern the hardware prefetcher does not follow well: with
// the packed support out of cache, as between two decode steps, the update ran at ~13 GB/s (one core) and
// took 44 us of a 60 us fused step (n = 1, s = 64, f32); with this, 21 us (RESULTS-cpu.md, "The fused step
// with its operands out of cache"). A hint, never a fault, also past the end of a row (the address is
// computed as an integer).
constexpr uintptr_t kPrefetchAhead = 512;
__attribute__((always_inline)) inline void prefetch_ahead(const void *p) {
    __builtin_prefetch(reinterpret_cast<const void *>(reinterpret_cast<uintptr_t>(p) + kPrefetchAhead), 0, 3);
}

// The updates add the features one after another to each column, in order (one multiply-add per term), so a
// column's chain of s multiply-adds is serial: with few rows they must take many columns at a time to keep
// the FMA units busy. kGroups<R>: groups of 16 columns per step for R rows (8 accumulator vectors for 1 or 2
// rows; 3 or 4 rows fill the registers with one group). Which columns go together changes no bits.
template <int R> constexpr int kGroups = R == 1 ? 4 : R == 2 ? 2 : 1;

// 16 columns of a weight row as two vectors: f32 and f16 in order, bf16 widened into the split layout's
// even and odd columns.
__attribute__((always_inline)) inline v16pair load_group(const float *w) { return v16pair{load8(w), load8(w + 8)}; }
__attribute__((always_inline)) inline v16pair load_group(const uint16_t *w) { return load16(w); }
template <class H> __attribute__((always_inline)) inline v16pair load_group(const H *w) {  // f16, in order
    return v16pair{load8(w), load8(w + 8)};
}

// Columns [j, j + 16 G) of R rows of update_rows_f32 / update_rows_bf16_split. Unless WHOLE (bf16 only), the
// last group may be partial in w: zeros past len.
template <int R, int G, bool WHOLE, class T>
__attribute__((always_inline)) inline void update_step(float *y, int64_t ldy, const float *c, int64_t ldc,
                                                       const T *const *w, const uint8_t *use, int64_t nf,
                                                       int64_t j, int64_t len) {
    v8f acc[R][2 * G];
    for (int r = 0; r < R; ++r)
        for (int q = 0; q < 2 * G; ++q) acc[r][q] = load8(y + r * ldy + j + 8 * q);
    for (int64_t i = 0; i < nf; ++i) {
        if (!use[i]) continue;
        const T *wi = w[i] + j;
        for (size_t b = 0; b < 16 * G * sizeof(T); b += 64) prefetch_ahead(reinterpret_cast<const char *>(wi) + b);
        v16pair wv[G];
        for (int g = 0; g < G; ++g) {
            if constexpr (WHOLE)
                wv[g] = load_group(wi + 16 * g);
            else
                wv[g] = j + 16 * g + 16 <= len ? load_group(wi + 16 * g) : load16_part(wi + 16 * g, len - j - 16 * g);
        }
        for (int r = 0; r < R; ++r) {
            const float ci = c[r * ldc + i];
            for (int g = 0; g < G; ++g) {
                acc[r][2 * g] += ci * wv[g].even;
                acc[r][2 * g + 1] += ci * wv[g].odd;
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int q = 0; q < 2 * G; ++q) store8(y + r * ldy + j + 8 * q, acc[r][q]);
}

// R rows (1..4) of update_rows_f32 (or _f16, the weights widened in order): kGroups<R> groups of 16 columns
// at a time, then single groups, then the last < 16 columns zero-padded through the same expression.
template <int R, class W>
__attribute__((always_inline)) inline void update_rows(float *y, int64_t ldy, const float *c, int64_t ldc,
                                                       const W *const *w, const uint8_t *use, int64_t nf,
                                                       int64_t len) {
    constexpr int G = kGroups<R>;
    int64_t j = 0;
    for (; j + 16 * G <= len; j += 16 * G) update_step<R, G, true>(y, ldy, c, ldc, w, use, nf, j, len);
    for (; j + 16 <= len; j += 16) update_step<R, 1, true>(y, ldy, c, ldc, w, use, nf, j, len);
    if (j == len) return;
    const int64_t c0 = std::min<int64_t>(8, len - j), c1 = len - j - 8;
    v8f acc[R][2];
    for (int r = 0; r < R; ++r) {
        float *yr = y + r * ldy + j;
        acc[r][0] = c0 < 8 ? load_part(yr, c0) : load8(yr);
        acc[r][1] = c1 <= 0 ? zero8() : load_part(yr + 8, c1);
    }
    for (int64_t i = 0; i < nf; ++i) {
        if (!use[i]) continue;
        const W *wi = w[i] + j;
        const v8f w0 = c0 < 8 ? load_part(wi, c0) : load8(wi);
        const v8f w1 = c1 <= 0 ? zero8() : load_part(wi + 8, c1);
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
        if (c1 > 0) store_part(yr + 8, acc[r][1], c1);
    }
}

// The same for bf16 weight rows and rows ys in the split layout (padded to a multiple of 16, so every
// group is loaded and stored whole): one 32-byte load and two integer operations widen 16 columns. Per
// column the same multiply-adds in the same order as update_rows on the widened rows: the same bits.
template <int R>
__attribute__((always_inline)) inline void update_rows_split(float *ys, int64_t ldy, const float *c, int64_t ldc,
                                                             const uint16_t *const *w, const uint8_t *use,
                                                             int64_t nf, int64_t len) {
    constexpr int G = kGroups<R>;
    int64_t j = 0;
    for (; j + 16 * G <= len; j += 16 * G) update_step<R, G, true>(ys, ldy, c, ldc, w, use, nf, j, len);
    for (; j < len; j += 16) update_step<R, 1, false>(ys, ldy, c, ldc, w, use, nf, j, len);
}

// kernel(std::integral_constant<int, R>, r) for rows r.. r + R - 1: blocks of 4, then the 1-3 left.
template <class Kernel> __attribute__((always_inline)) inline void by_4_rows(int64_t rows, const Kernel &kernel) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) kernel(std::integral_constant<int, 4>(), r);
    switch (rows - r) {
    case 3: kernel(std::integral_constant<int, 3>(), r); break;
    case 2: kernel(std::integral_constant<int, 2>(), r); break;
    case 1: kernel(std::integral_constant<int, 1>(), r); break;
    default: break;
    }
}

template <class W>
__attribute__((always_inline)) inline void dot_rows_any(const float *x, int64_t ldx, int64_t rows, const W *w,
                                                        int64_t n, float *out) {
    int64_t r = 0;
    for (; r + 3 <= rows; r += 3) dot_rows<3>(x + r * ldx, ldx, w, n, out + r);
    if (rows - r == 2) dot_rows<2>(x + r * ldx, ldx, w, n, out + r);
    if (rows - r == 1) dot_rows<1>(x + r * ldx, ldx, w, n, out + r);
}
template <class W>
__attribute__((always_inline)) inline void update_rows_any(float *y, int64_t ldy, int64_t rows, const float *c,
                                                           int64_t ldc, const W *const *w, const uint8_t *use,
                                                           int64_t nf, int64_t len) {
    by_4_rows(rows, [&](auto R, int64_t r) __attribute__((always_inline)) {
        update_rows<decltype(R)::value>(y + r * ldy, ldy, c + r * ldc, ldc, w, use, nf, len);
    });
}

// The f16 versions: one per simd.h path, the caller's has_f16c() picking.
#if SAS_HAVE_F16C
SAS_TARGET_V3 void dot_rows_f16c(const float *x, int64_t ldx, int64_t rows, const uint16_t *w, int64_t n,
                                 float *out) {
    dot_rows_any(x, ldx, rows, reinterpret_cast<const f16c_t *>(w), n, out);
}
SAS_TARGET_V3 void update_rows_f16c(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc,
                                    const uint16_t *const *w, const uint8_t *use, int64_t nf, int64_t len) {
    update_rows_any(y, ldy, rows, c, ldc, reinterpret_cast<const f16c_t *const *>(w), use, nf, len);
}
#endif
SAS_CLONES void dot_rows_f16sw(const float *x, int64_t ldx, int64_t rows, const uint16_t *w, int64_t n,
                               float *out) {
    dot_rows_any(x, ldx, rows, reinterpret_cast<const f16sw_t *>(w), n, out);
}
SAS_CLONES void update_rows_f16sw(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc,
                                  const uint16_t *const *w, const uint8_t *use, int64_t nf, int64_t len) {
    update_rows_any(y, ldy, rows, c, ldc, reinterpret_cast<const f16sw_t *const *>(w), use, nf, len);
}
}  // namespace

SAS_CLONES void dot_rows_f32(const float *x, int64_t ldx, int64_t rows, const float *w, int64_t n, float *out) {
    dot_rows_any(x, ldx, rows, w, n, out);
}

void dot_rows_f16(const float *x, int64_t ldx, int64_t rows, const uint16_t *w, int64_t n, float *out) {
#if SAS_HAVE_F16C
    if (has_f16c()) return dot_rows_f16c(x, ldx, rows, w, n, out);
#endif
    dot_rows_f16sw(x, ldx, rows, w, n, out);
}

void update_rows_f16(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc, const uint16_t *const *w,
                     const uint8_t *use, int64_t nf, int64_t len) {
#if SAS_HAVE_F16C
    if (has_f16c()) return update_rows_f16c(y, ldy, rows, c, ldc, w, use, nf, len);
#endif
    update_rows_f16sw(y, ldy, rows, c, ldc, w, use, nf, len);
}

SAS_CLONES void dot_rows_bf16_split(const float *xs, int64_t ldx, int64_t rows, const uint16_t *w, int64_t n,
                                    float *out) {
    int64_t r = 0;
    for (; r + 3 <= rows; r += 3) dot_rows_split<3>(xs + r * ldx, ldx, w, n, out + r);
    if (rows - r == 2) dot_rows_split<2>(xs + r * ldx, ldx, w, n, out + r);
    if (rows - r == 1) dot_rows_split<1>(xs + r * ldx, ldx, w, n, out + r);
}

// bf16 rows to and from the split layout, 16 columns per vector step (the scalar split16 / unsplit16 around a
// conversion took 2 us of a 15 us fused step at d = 2304).
SAS_CLONES void bf16_to_split(const uint16_t *x, int64_t n, float *xs) {
    for (int64_t j = 0; j < n; j += 16) {
        const v16pair v = j + 16 <= n ? load16(x + j) : load16_part(x + j, n - j);
        store8(xs + j, v.even);
        store8(xs + j + 8, v.odd);
    }
}

namespace {
// f32_to_bf16 (common.h) on 8 lanes, the result in each lane's top 16 bits: round to nearest even, NaN kept
// a quiet NaN.
__attribute__((always_inline)) inline v8u round_bf16_hi(const v8f &f) {
    v8u u;
    std::memcpy(&u, &f, sizeof u);
    const v8u nan = (v8u)((u & 0x7fffffffu) > 0x7f800000u);
    const v8u rounded = u + 0x7fffu + ((u >> 16) & 1u);
    return ((nan & (u | 0x00400000u)) | (~nan & rounded)) & 0xffff0000u;
}
}  // namespace

SAS_CLONES void split_to_bf16(const float *xs, int64_t n, uint16_t *x) {
    for (int64_t j = 0; j < n; j += 16) {
        const v8u packed = (round_bf16_hi(load8(xs + j)) >> 16) | round_bf16_hi(load8(xs + j + 8));
        if (j + 16 <= n)
            std::memcpy(x + j, &packed, sizeof packed);
        else
            std::memcpy(x + j, &packed, size_t(n - j) * sizeof(uint16_t));
    }
}

SAS_CLONES void update_rows_f32(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc,
                                const float *const *w, const uint8_t *use, int64_t nf, int64_t len) {
    update_rows_any(y, ldy, rows, c, ldc, w, use, nf, len);
}

SAS_CLONES void update_rows_bf16_split(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc,
                                       const uint16_t *const *w, const uint8_t *use, int64_t nf, int64_t len) {
    by_4_rows(rows, [&](auto R, int64_t r) __attribute__((always_inline)) {
        update_rows_split<decltype(R)::value>(y + r * ldy, ldy, c + r * ldc, ldc, w, use, nf, len);
    });
}

}  // namespace cpu
}  // namespace sas
