// Shared by the CPU twins, the CUDA launchers and the dispatcher: status/error reporting with a
// thread_local message, argument validation, dtype helpers and exact bf16/f16 <-> f32 conversions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "sas_kernels.h"

namespace sas {

// ---- errors --------------------------------------------------------------------------------
// Sets the calling thread's message and returns `st` (so `return fail(...)` reads naturally).
sas_status fail(sas_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void clear_error();
const char *last_error();

#define SAS_TRY(expr)                                                                             \
    do {                                                                                          \
        sas_status sas_try_st_ = (expr);                                                          \
        if (sas_try_st_ != SAS_OK) return sas_try_st_;                                            \
    } while (0)

// ---- dtypes ----------------------------------------------------------------------------------
inline bool dtype_valid(int dt) { return dt == SAS_F32 || dt == SAS_BF16 || dt == SAS_F16; }
inline size_t dtype_size(sas_dtype dt) { return dt == SAS_F32 ? 4 : 2; }
const char *dtype_name(int dt);
const char *act_name(int act);

inline uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float bits_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// bf16 -> f32 is exact (the top 16 bits of an f32).
inline float bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }

// f32 -> bf16, round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}

// f16 -> f32 is exact (normals, subnormals, inf); a NaN stays a NaN, quieted, its payload kept (as F16C's
// vcvtph2ps, so the vector paths in cpu/simd.h give the same bits).
inline float f16_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0) {
        if (m == 0) return bits_f32(sign);
        float v = float(m) * 5.9604644775390625e-08f;  // m * 2^-24, exact
        return sign ? -v : v;
    }
    if (e == 31) return bits_f32(sign | (m ? 0x7fc00000u : 0x7f800000u) | (m << 13));
    return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

// f32 -> f16, round to nearest even, overflow to inf, gradual underflow to subnormals; a NaN stays a quiet
// NaN with its payload's top bits (as F16C's vcvtps2ph).
inline uint16_t f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = uint16_t((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((x & 0x7fffffu) >> 13));
    if (x == 0x7f800000u) return uint16_t(sign | 0x7c00u);
    if (x >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (x < 0x38800000u) {                                   // below 2^-14: subnormal or zero
        if (x <= 0x33000000u) return sign;                   // <= 2^-25 rounds to 0
        uint32_t e = x >> 23;
        uint32_t mant = (x & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;  // 14..24
        uint32_t r = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return uint16_t(sign | r);
    }
    uint32_t r = x - 0x38000000u;  // rebias the exponent 127 -> 15
    r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
    return uint16_t(sign | r);
}

// Element i of a buffer of dtype dt, as f32 (exact).
inline float load_f32(sas_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case SAS_BF16: return bf16_to_f32(static_cast<const uint16_t *>(p)[i]);
    case SAS_F16: return f16_to_f32(static_cast<const uint16_t *>(p)[i]);
    default: return static_cast<const float *>(p)[i];
    }
}
// Stores v into element i of a buffer of dtype dt (round to nearest even).
inline void store_f32(sas_dtype dt, void *p, int64_t i, float v) {
    switch (dt) {
    case SAS_BF16: static_cast<uint16_t *>(p)[i] = f32_to_bf16(v); break;
    case SAS_F16: static_cast<uint16_t *>(p)[i] = f32_to_f16(v); break;
    default: static_cast<float *>(p)[i] = v; break;
    }
}
// Converts count elements of dtype dt at p (+offset) to f32.
void convert_to_f32(sas_dtype dt, const void *p, int64_t offset, int64_t count, float *out);
// Converts count f32 values to dtype dt at p (+offset), rounding to nearest even.
void convert_from_f32(sas_dtype dt, const float *in, int64_t count, void *p, int64_t offset);

// ---- top-k ordering --------------------------------------------------------------------------
// A total order on f32 as an unsigned key: larger key = larger value; -0 and +0 are equal; NaNs
// sort above +inf. Used by the CPU and CUDA top-k so both give the same order.
// Written without branches: the CPU top-k computes it for entries whose sign and zeroness are data, where a
// branch would be mispredicted (the scan of a Gaussian or mostly-zero row spent most of its time there).
inline uint32_t order_key(float v) {
    uint32_t u = f32_bits(v);
    u &= 0u - uint32_t((u & 0x7fffffffu) != 0);            // -0 == +0
    const uint32_t neg = uint32_t(int32_t(u) >> 31);        // all ones where the sign is set
    return u ^ (neg | 0x80000000u);                         // ~u if negative, u | 0x80000000 otherwise
}
// The key of |v|: the magnitude bits order non-negative floats.
inline uint32_t abs_key(float v) { return f32_bits(v) & 0x7fffffffu; }

// ---- limits ----------------------------------------------------------------------------------
constexpr int64_t kMaxD = 65536;
constexpr int64_t kMaxM = int64_t(1) << 24;
constexpr int32_t kMaxK = 1024;

// ---- validation ------------------------------------------------------------------------------
// Each returns SAS_OK or sets the message (naming `name`) and returns the error status.
sas_status check_device(int device);
sas_status check_dtype(const char *name, int dt);
sas_status check_same_dtype(int x_dtype, int w_dtype);
sas_status check_nonneg(const char *name, int64_t v);
sas_status check_range(const char *name, int64_t v, int64_t lo, int64_t hi);
sas_status check_ld(const char *name, int64_t ld, const char *row_name, int64_t row_len);
sas_status check_k(int64_t k, int64_t m);
sas_status check_act(int act, bool topk_allowed, const char *func);
sas_status check_ptr(const char *name, const void *p);
sas_status check_align(const char *name, const void *p, size_t align);
// Non-null and aligned.
inline sas_status check_buf(const char *name, const void *p, size_t align) {
    SAS_TRY(check_ptr(name, p));
    return check_align(name, p, align);
}
// Index arrays on the host: every entry in [0, m) (allow_negative: negatives are padding).
sas_status check_indices(const char *name, const int64_t *idx, int64_t count, int64_t m, bool allow_negative);

}  // namespace sas
