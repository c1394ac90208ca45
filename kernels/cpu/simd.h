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

// A function compiled for x86-64-v3 only (AVX2, FMA, F16C), entered through a run-time check (has_f16c in
// f16.cpp) instead of a loader-picked clone: the f16 paths, whose widening differs between the two (below).
// Not under ThreadSanitizer, where everything else runs the baseline code (no fused multiply-adds): f16
// takes the integer path there, so its bits stay those of the rest of that build.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SAS_HAVE_F16C 1
#define SAS_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#else
#define SAS_HAVE_F16C 0
#define SAS_TARGET_V3
#endif

// The helpers are always inlined, so the ABI note about passing AVX vectors does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace sas {
namespace cpu {
namespace simd {

typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));

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

// f16 read in place, 8 columns per 16-byte load, widened exactly and in order: f16 rows keep the f32
// layout and go through the f32 code (templates on the weight type), two ways, told apart by the
// pointer's type:
//  - f16c_t: F16C's vcvtph2ps / vcvtps2ph, one instruction per 8 columns. Only in SAS_TARGET_V3 functions,
//    entered after has_f16c(). Inline assembly, not _mm256_cvtph_ps: an intrinsic carries its own target,
//    and GCC refuses to inline it into the shared templates, which are compiled for the default target.
//  - f16sw_t: integer operations, any CPU (and the f16c path's check, as the same bits).
// Scalar f16 code at ~1 ns per value had left the f16 fused step 20x slower than bf16 (RESULTS-cpu.md).
struct f16c_t {
    uint16_t bits;
};
struct f16sw_t {
    uint16_t bits;
};

// Eight f16 codes (one per 32-bit lane, upper halves zero) to f32, exactly as common.h's f16_to_f32:
// normals rebiased, subnormals as m * 2^-24 (an exact int -> float and multiply), inf and NaN with the
// exponent all ones (NaN quieted, its payload kept, as vcvtph2ps does).
SAS_INLINE v8f widen_f16(const v8u &h) {
    const v8u em = h & 0x7fffu;
    v8u bits = (em << 13) + (112u << 23);
    bits += (v8u)(em > 0x7bffu) & (112u << 23);       // inf, NaN: exponent 143 + 112 = 255
    bits |= (v8u)(em > 0x7c00u) & 0x00400000u;        // NaN: quiet
    const v8f sub = __builtin_convertvector((v8i)em, v8f) * 5.9604644775390625e-08f;
    v8u subbits;
    std::memcpy(&subbits, &sub, sizeof sub);
    const v8u is_sub = (v8u)(em < 0x400u);
    bits = (is_sub & subbits) | (~is_sub & bits);
    bits |= (h ^ em) << 16;  // the sign
    v8f f;
    std::memcpy(&f, &bits, sizeof bits);
    return f;
}
SAS_INLINE v8u splat8(uint32_t v) { return v8u{v, v, v, v, v, v, v, v}; }
// Eight f32 to f16 codes (in the lanes' low halves), rounded as common.h's f32_to_f16: nearest even,
// overflow to inf, gradual underflow, NaN quieted with its payload's top bits (as vcvtps2ph).
SAS_INLINE v8u narrow_f16(const v8f &f) {
    v8u u;
    std::memcpy(&u, &f, sizeof u);
    const v8u x = u & 0x7fffffffu, sign = (u >> 16) & 0x8000u;
    // Normals: rebias 127 -> 15, the 13 dropped bits rounded to nearest even (a carry may reach inf).
    const v8u r = x - 0x38000000u;
    const v8u normal = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
    // Below 2^-14: the 24-bit significand shifted right by 126 - e (14 and more; 31 says zero), rounded to
    // nearest even. Shift counts stay in 1..31 in every lane, the unused ones too.
    const v8i is_sub = x < 0x38800000u;
    v8u shift = is_sub ? 126u - (x >> 23) : splat8(31);
    shift = shift > 31u ? splat8(31) : shift;
    const v8u mant = (x & 0x7fffffu) | 0x800000u;
    const v8u q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    const v8u sub = q - (v8u)((rem > half) | ((rem == half) & ((q & 1u) != 0u)));  // (true lanes are -1)
    v8u h = is_sub ? sub : normal;
    h = x >= 0x477ff000u ? splat8(0x7c00u) : h;                     // 65520 and up (and inf) to inf
    h = x > 0x7f800000u ? (0x7e00u | ((x & 0x7fffffu) >> 13)) : h;  // NaN
    return h | sign;
}

SAS_INLINE v8f load8(const f16sw_t *p) {
    v8h h;
    std::memcpy(&h, p, sizeof h);
    return widen_f16(__builtin_convertvector(h, v8u));
}
SAS_INLINE void store8(f16sw_t *p, const v8f &v) {
    const v8h h = __builtin_convertvector(narrow_f16(v), v8h);
    std::memcpy(p, &h, sizeof h);
}
#if SAS_HAVE_F16C
// Register operands only: with a memory operand GCC stored every accumulator to the stack before each
// conversion (the asm might read them), which cost the f16 dot products a third of their time.
SAS_INLINE v8f load8(const f16c_t *p) {
    v8h h;
    std::memcpy(&h, p, sizeof h);
    v8f r;
    asm("vcvtph2ps %1, %t0" : "=x"(r) : "x"(h));
    return r;
}
SAS_INLINE void store8(f16c_t *p, const v8f &v) {  // imm 0: round to nearest even, whatever MXCSR says
    v8h h;
    asm("vcvtps2ph $0, %t1, %0" : "=x"(h) : "x"(v));
    std::memcpy(p, &h, sizeof h);
}
#endif
// The first cnt (< 8) f16 at p, zeros after; and the first cnt lanes of v to p.
template <class H> SAS_INLINE v8f load_part(const H *p, int64_t cnt) {
    H h[8] = {};
    std::memcpy(h, p, size_t(cnt) * sizeof(H));
    return load8(h);
}
template <class H> SAS_INLINE void store_part(H *p, const v8f &v, int64_t cnt) {
    H h[8];
    store8(h, v);
    std::memcpy(p, h, size_t(cnt) * sizeof(H));
}
// One weight as f32 (the scalar tails).
SAS_INLINE float to_f32(float w) { return w; }
template <class H> SAS_INLINE float to_f32(const H &w) {
    H h[8] = {w};
    return load8(h)[0];
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
