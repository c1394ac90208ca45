// f16 rows to and from f32, and the choice between simd.h's two f16 paths: F16C (x86-64-v3) where the CPU
// has it, integer operations anywhere else. Both give the same bits (test_convert checks every code).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cpu_kernels.h"
#include "simd.h"

namespace sas {
namespace cpu {

namespace {
using namespace simd;

std::atomic<int> g_f16c_forced{-1};  // set_f16c: -1 the default, 0 off

bool cpu_has_v3() {
#if SAS_HAVE_F16C
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

template <class H> __attribute__((always_inline)) inline void widen_row(const H *h, int64_t n, float *out) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) store8(out + j, load8(h + j));
    if (j < n) store_part(out + j, load_part(h + j, n - j), n - j);
}
template <class H> __attribute__((always_inline)) inline void narrow_row(const float *in, int64_t n, H *h) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) store8(h + j, load8(in + j));
    if (j < n) store_part(h + j, load_part(in + j, n - j), n - j);
}

#if SAS_HAVE_F16C
SAS_TARGET_V3 void widen_row_f16c(const uint16_t *h, int64_t n, float *out) {
    widen_row(reinterpret_cast<const f16c_t *>(h), n, out);
}
SAS_TARGET_V3 void narrow_row_f16c(const float *in, int64_t n, uint16_t *h) {
    narrow_row(in, n, reinterpret_cast<f16c_t *>(h));
}
#endif
SAS_CLONES void widen_row_sw(const uint16_t *h, int64_t n, float *out) {
    widen_row(reinterpret_cast<const f16sw_t *>(h), n, out);
}
SAS_CLONES void narrow_row_sw(const float *in, int64_t n, uint16_t *h) {
    narrow_row(in, n, reinterpret_cast<f16sw_t *>(h));
}
}  // namespace

bool has_f16c() {
    // The CPU, and SAS_CPU_F16C=0 in the environment at the first call (a way out, and for comparisons).
    static const bool usable = [] {
        const char *env = std::getenv("SAS_CPU_F16C");
        return cpu_has_v3() && !(env && std::strcmp(env, "0") == 0);
    }();
    return usable && g_f16c_forced.load(std::memory_order_relaxed) != 0;
}

void set_f16c(bool allowed) { g_f16c_forced.store(allowed ? -1 : 0, std::memory_order_relaxed); }

void f16_to_f32_row(const uint16_t *h, int64_t n, float *out) {
#if SAS_HAVE_F16C
    if (has_f16c()) return widen_row_f16c(h, n, out);
#endif
    widen_row_sw(h, n, out);
}

void f32_to_f16_row(const float *in, int64_t n, uint16_t *h) {
#if SAS_HAVE_F16C
    if (has_f16c()) return narrow_row_f16c(in, n, h);
#endif
    narrow_row_sw(in, n, h);
}

}  // namespace cpu
}  // namespace sas
