// CPU twins of support packing and the fused steering step.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace sas {
namespace cpu {

sas_status pack_support(sas_dtype dt, const void *W_enc, const void *b_enc, const void *threshold,
                        const void *W_dec, int64_t d, int64_t m, const int64_t *S, int64_t s, void *Wenc_S,
                        void *benc_S, void *thr_S, void *Wdec_S) {
    if (s == 0) return SAS_OK;
    const size_t es = dtype_size(dt);
    const char *we = static_cast<const char *>(W_enc);
    const char *wd = static_cast<const char *>(W_dec);
    char *oe = static_cast<char *>(Wenc_S);
    char *od = static_cast<char *>(Wdec_S);
    parallel_for(s, d * 16, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t j = S[i];
            // W_enc column j (stride m) -> contiguous row i.
            char *dst = oe + size_t(i * d) * es;
            if (es == 4) {
                const float *src = reinterpret_cast<const float *>(we) + j;
                float *o = reinterpret_cast<float *>(dst);
                for (int64_t k = 0; k < d; ++k) o[k] = src[k * m];
            } else {
                const uint16_t *src = reinterpret_cast<const uint16_t *>(we) + j;
                uint16_t *o = reinterpret_cast<uint16_t *>(dst);
                for (int64_t k = 0; k < d; ++k) o[k] = src[k * m];
            }
            std::memcpy(od + size_t(i * d) * es, wd + size_t(j * d) * es, size_t(d) * es);
            std::memcpy(static_cast<char *>(benc_S) + size_t(i) * es, static_cast<const char *>(b_enc) + size_t(j) * es, es);
            if (thr_S && threshold)
                std::memcpy(static_cast<char *>(thr_S) + size_t(i) * es,
                            static_cast<const char *>(threshold) + size_t(j) * es, es);
        }
    });
    return SAS_OK;
}

namespace {
constexpr int64_t kChunkD = 512;

// One steered row: f_S from the original row, c = relu(f_S + lambda v_S) - f_S, x += c . Wdec_S.
// `inner` allows the two phases to use the pool (single-row calls).
void steer_row(sas_dtype dt, void *x, int64_t off, int64_t d, const void *Wenc_S, const void *benc_S,
               const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act, const float *v_S, float lambda) {
    std::vector<float> xf(static_cast<size_t>(d)), c(static_cast<size_t>(s));
    convert_to_f32(dt, x, off, d, xf.data());
    // Phase 1: the s dot products, all from the original row.
    parallel_for(s, d, [&](int64_t i0, int64_t i1) {
        std::vector<float> tmp;
        for (int64_t i = i0; i < i1; ++i) {
            const float *w = as_f32(dt, Wenc_S, i * d, d, tmp);
            const float pre = dot_f32(xf.data(), w, d) + load_f32(dt, benc_S, i);
            float f;
            if (act == SAS_ACT_JUMPRELU)
                f = pre > load_f32(dt, thr_S, i) ? pre : 0.0f;
            else
                f = pre > 0.0f ? pre : 0.0f;
            const float g = f + lambda * v_S[i];
            c[size_t(i)] = (g > 0.0f ? g : 0.0f) - f;
        }
    });
    bool any = false;
    for (int64_t i = 0; i < s; ++i) any |= c[size_t(i)] != 0.0f;
    if (!any) return;  // nothing to add: x stays bit-for-bit
    // Phase 2: x += c . Wdec_S, threads over d-chunks, features in ascending order.
    const int64_t dchunks = (d + kChunkD - 1) / kChunkD;
    parallel_for(dchunks, s * kChunkD, [&](int64_t t0, int64_t t1) {
        std::vector<float> tmp;
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t d0 = t * kChunkD, dc = std::min(kChunkD, d - d0);
            float *acc = xf.data() + d0;
            for (int64_t i = 0; i < s; ++i) {
                if (c[size_t(i)] == 0.0f) continue;
                axpy_f32(acc, c[size_t(i)], as_f32(dt, Wdec_S, i * d + d0, dc, tmp), dc);
            }
            convert_from_f32(dt, acc, dc, x, off + d0);
        }
    });
}
}  // namespace

sas_status steer_fused(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *Wenc_S,
                       const void *benc_S, const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act,
                       const float *v_S, float lambda, const uint8_t *row_mask) {
    if (n == 0 || s == 0) return SAS_OK;
    std::vector<int64_t> rows;
    rows.reserve(size_t(n));
    for (int64_t r = 0; r < n; ++r)
        if (!row_mask || row_mask[r]) rows.push_back(r);
    if (rows.empty()) return SAS_OK;
    // Several rows: one row per task (the phases inside then run serially); one row: phases in parallel.
    parallel_for(int64_t(rows.size()), 2 * s * d, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; ++i)
            steer_row(dt, x, rows[size_t(i)] * ldx, d, Wenc_S, benc_S, thr_S, Wdec_S, s, act, v_S, lambda);
    });
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
