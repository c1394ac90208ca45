// The vector helpers the CPU twins share: GCC vector extensions (8 lanes: one AVX register in the
// x86-64-v3 clone of a SAS_CLONES function, two SSE registers in the baseline one), always inlined into
// those functions so each clone gets its own code.
#pragma once

#include <cstdint>
#include <cstring>

// Functions marked SAS_CLONES are compiled twice, for x86-64-v3 (AVX2 + FMA) and the x86-64 baseline; the
// loader picks one for the CPU it runs on. Not under ThreadSanitizer: the loader runs target_clones'
// resolvers before the sanitizer's runtime is up, and its instrumentation of them crashes the process; the
// baseline code is taken there.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SAS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SAS_CLONES
#endif

// The helpers are always inlined, so the ABI note about passing AVX vectors does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace sas {
namespace cpu {
namespace simd {

typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define SAS_INLINE __attribute__((always_inline)) inline

SAS_INLINE v8f zero8() { return v8f{0, 0, 0, 0, 0, 0, 0, 0}; }
SAS_INLINE v8f load8(const float *p) {
    v8f v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
SAS_INLINE void store8(float *p, const v8f &v) { std::memcpy(p, &v, sizeof v); }
// The first cnt (< 8) floats at p, zeros after; and the first cnt lanes of v to p.
SAS_INLINE v8f load_part(const float *p, int64_t cnt) {
    v8f v = zero8();
    for (int64_t l = 0; l < cnt && l < 8; ++l) v[l] = p[l];  // (a variable-size memcpy trips GCC's -Wstringop-overflow)
    return v;
}
SAS_INLINE void store_part(float *p, const v8f &v, int64_t cnt) { std::memcpy(p, &v, size_t(cnt) * sizeof(float)); }

// bf16 read in place, 16 columns per 32-byte load, widened exactly (a bf16 is the top half of an f32)
// without crossing lanes: (u << 16) gives the even columns j, j+2, ..., j+14 and (u & 0xffff0000) the odd
// ones. Widening 8 bf16 in order (zero-extend 16 -> 32 bits) takes GCC four or five shuffle-port operations
// per vector on AVX2 (__builtin_convertvector does not become one vpmovzxwd), which bounded the one-row
// encoder at about 60% of the read rate and the fused step's dot products at half their f32 speed; these
// are two plain integer operations. What the columns meet follows: the "split" layout, per 16 columns the
// 8 even, then the 8 odd (split16 / unsplit16).
struct v16pair {
    v8f even, odd;
};
SAS_INLINE v16pair widen16(const v8u &u) {
    const v8u e = u << 16, o = u & 0xffff0000u;
    v16pair w;
    std::memcpy(&w.even, &e, sizeof e);
    std::memcpy(&w.odd, &o, sizeof o);
    return w;
}
SAS_INLINE v16pair load16(const uint16_t *p) {
    v8u u;
    std::memcpy(&u, p, sizeof u);
    return widen16(u);
}
// The first cnt (< 16) bf16 at p, zeros after.
SAS_INLINE v16pair load16_part(const uint16_t *p, int64_t cnt) {
    v8u u = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(&u, p, size_t(cnt) * sizeof(uint16_t));
    return widen16(u);
}

// Row segments of jw floats to and from the split layout: per 16 columns the 8 even, then the 8 odd; the
// last group zero-padded (so `split` holds jw rounded up to 16).
inline void split16(const float *in, int64_t jw, float *split) {
    for (int64_t j = 0; j < jw; j += 16) {
        float *a = split + j;
        for (int i = 0; i < 16; ++i) {
            const int64_t c = j + (i < 8 ? 2 * i : 2 * (i - 8) + 1);
            a[i] = c < jw ? in[c] : 0.0f;
        }
    }
}
inline void unsplit16(const float *split, int64_t jw, float *out) {
    for (int64_t j = 0; j < jw; j += 16) {
        const float *a = split + j;
        for (int i = 0; i < 16; ++i) {
            const int64_t c = j + (i < 8 ? 2 * i : 2 * (i - 8) + 1);
            if (c < jw) out[c] = a[i];
        }
    }
}

// The sum of 32 partial sums in a fixed tree (halves added lane by lane): deterministic.
SAS_INLINE float reduce32(const v8f (&acc)[4]) {
    float a[32];
    std::memcpy(a, acc, sizeof a);
    for (int h = 16; h >= 1; h /= 2)
        for (int l = 0; l < h; ++l) a[l] += a[l + h];
    return a[0];
}

#undef SAS_INLINE

}  // namespace simd
}  // namespace cpu
}  // namespace sas
