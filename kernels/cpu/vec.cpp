// Small vector helpers of the CPU twins (compiled for AVX2+FMA and baseline x86-64, picked at load time).
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

const float *as_f32(sas_dtype dt, const void *p, int64_t off, int64_t count, std::vector<float> &tmp) {
    if (dt == SAS_F32) return static_cast<const float *>(p) + off;
    if (tmp.size() < size_t(count)) tmp.resize(size_t(count));
    convert_to_f32(dt, p, off, count, tmp.data());
    return tmp.data();
}

}  // namespace cpu
}  // namespace sas
