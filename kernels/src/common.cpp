#include "common.h"

#include "../cpu/cpu_kernels.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

namespace sas {

namespace {
thread_local std::string g_error;
}

sas_status fail(sas_status st, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_error = buf;
    return st;
}

void clear_error() { g_error.clear(); }
const char *last_error() { return g_error.c_str(); }

const char *dtype_name(int dt) {
    switch (dt) {
    case SAS_F32: return "f32";
    case SAS_BF16: return "bf16";
    case SAS_F16: return "f16";
    default: return "unknown";
    }
}

const char *act_name(int act) {
    switch (act) {
    case SAS_ACT_JUMPRELU: return "JumpReLU";
    case SAS_ACT_RELU: return "ReLU";
    case SAS_ACT_TOPK: return "TopK";
    default: return "unknown";
    }
}

void convert_to_f32(sas_dtype dt, const void *p, int64_t offset, int64_t count, float *out) {
    switch (dt) {
    case SAS_BF16: {
        const uint16_t *s = static_cast<const uint16_t *>(p) + offset;
        for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_f32(s[i]);
        break;
    }
    case SAS_F16: cpu::f16_to_f32_row(static_cast<const uint16_t *>(p) + offset, count, out); break;
    default: std::memcpy(out, static_cast<const float *>(p) + offset, size_t(count) * 4); break;
    }
}

void convert_from_f32(sas_dtype dt, const float *in, int64_t count, void *p, int64_t offset) {
    switch (dt) {
    case SAS_BF16: {
        uint16_t *d = static_cast<uint16_t *>(p) + offset;
        for (int64_t i = 0; i < count; ++i) d[i] = f32_to_bf16(in[i]);
        break;
    }
    case SAS_F16: cpu::f32_to_f16_row(in, count, static_cast<uint16_t *>(p) + offset); break;
    default: std::memcpy(static_cast<float *>(p) + offset, in, size_t(count) * 4); break;
    }
}

sas_status check_device(int device) {
    if (device != SAS_DEVICE_CPU && device != SAS_DEVICE_CUDA)
        return fail(SAS_ERR_DEVICE, "device: unknown device %d (expected SAS_DEVICE_CPU=0 or SAS_DEVICE_CUDA=1)",
                    device);
    return SAS_OK;
}

sas_status check_dtype(const char *name, int dt) {
    if (!dtype_valid(dt))
        return fail(SAS_ERR_DTYPE, "%s: unknown dtype %d (expected SAS_F32=0, SAS_BF16=1 or SAS_F16=2)", name, dt);
    return SAS_OK;
}

sas_status check_same_dtype(int x_dtype, int w_dtype) {
    SAS_TRY(check_dtype("x_dtype", x_dtype));
    SAS_TRY(check_dtype("w_dtype", w_dtype));
    if (x_dtype != w_dtype)
        return fail(SAS_ERR_DTYPE, "x_dtype (%s) and w_dtype (%s) differ: activations and SAE weights must share a dtype",
                    dtype_name(x_dtype), dtype_name(w_dtype));
    return SAS_OK;
}

sas_status check_nonneg(const char *name, int64_t v) {
    if (v < 0) return fail(SAS_ERR_BAD_SIZE, "%s = %" PRId64 " is negative", name, v);
    return SAS_OK;
}

sas_status check_range(const char *name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
        return fail(SAS_ERR_BAD_SIZE, "%s = %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", name, v, lo, hi);
    return SAS_OK;
}

sas_status check_ld(const char *name, int64_t ld, const char *row_name, int64_t row_len) {
    if (ld < row_len)
        return fail(SAS_ERR_BAD_SIZE, "%s = %" PRId64 " is smaller than the row length %s = %" PRId64, name, ld,
                    row_name, row_len);
    return SAS_OK;
}

sas_status check_k(int64_t k, int64_t m) {
    if (k < 1) return fail(SAS_ERR_BAD_K, "k = %" PRId64 " must be >= 1", k);
    if (k > kMaxK) return fail(SAS_ERR_BAD_K, "k = %" PRId64 " exceeds the maximum %d", k, int(kMaxK));
    if (k > m) return fail(SAS_ERR_BAD_K, "k = %" PRId64 " exceeds m = %" PRId64, k, m);
    return SAS_OK;
}

sas_status check_act(int act, bool topk_allowed, const char *func) {
    if (act != SAS_ACT_JUMPRELU && act != SAS_ACT_RELU && act != SAS_ACT_TOPK)
        return fail(SAS_ERR_UNSUPPORTED, "act: unknown activation %d in %s", act, func);
    if (act == SAS_ACT_TOPK && !topk_allowed)
        return fail(SAS_ERR_UNSUPPORTED,
                    "act: TopK is not supported by %s (a TopK code depends on all m features, not a subset)", func);
    return SAS_OK;
}

sas_status check_ptr(const char *name, const void *p) {
    if (p == nullptr) return fail(SAS_ERR_NULL_POINTER, "%s is NULL", name);
    return SAS_OK;
}

sas_status check_align(const char *name, const void *p, size_t align) {
    if (p != nullptr && (reinterpret_cast<uintptr_t>(p) % align) != 0)
        return fail(SAS_ERR_ALIGNMENT, "%s = %p is not aligned to %zu bytes (its element size)", name, p, align);
    return SAS_OK;
}

sas_status check_indices(const char *name, const int64_t *idx, int64_t count, int64_t m, bool allow_negative) {
    for (int64_t i = 0; i < count; ++i) {
        int64_t v = idx[i];
        if (v >= m || (v < 0 && !allow_negative))
            return fail(SAS_ERR_INDEX, "%s[%" PRId64 "] = %" PRId64 " is outside [0, m = %" PRId64 ")%s", name, i, v, m,
                        allow_negative ? " (negative = padding)" : "");
    }
    return SAS_OK;
}

}  // namespace sas
