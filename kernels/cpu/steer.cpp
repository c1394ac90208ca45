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
    const char *wd = static_cast<const char *>(W_dec);
    char *od = static_cast<char *>(Wdec_S);
    gather_columns(es, W_enc, d, m, S, s, Wenc_S);  // W_enc's columns S as rows of Wenc_S [s, d]
    parallel_for(s, d * 2, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t j = S[i];
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
constexpr int64_t kChunkD = 512;  // phase 2's columns per task (a multiple of 16: the split layout's groups)
constexpr int64_t kMaxBlockRows = 8;
constexpr int64_t kFeatGroup = 16;  // phase 2: packed W_dec rows applied together

// A block of rb steered rows: f_S for every row from the ORIGINAL rows, c = relu(f_S + lambda v_S) - f_S,
// then x += c . Wdec_S, in f32 on a copy of the rows. Each packed weight row is read once per block and
// reused by its rows from registers: phase 1 takes 3 rows per read of a Wenc_S row (dot_rows_*), phase 2
// keeps 4 rows x 16 columns of x in registers over the support (update_rows_*). The two phases use the pool
// when called outside it (single-block calls). A row's result does not depend on the block it is in: per
// element the same operations in the same order (test_steer checks rows alone against rows in batches, bit
// for bit).
//
// bf16 weights are widened in registers, 16 columns per load (simd.h), so the copy of the rows is kept in
// the split layout (per 16 columns the 8 even, then the 8 odd), zero-padded to a multiple of 16: converting
// the rows instead, or widening 8 columns in order, left bf16 slower than f32 with half the bytes to read.
// f32 weights are read in place; f16 ones too, widened 8 columns in order (simd.h: F16C where the CPU has
// it), so f16 rows take the f32 layout. (Converted into buffers by scalar code until session 20, the f16
// step ran 20x slower than bf16.)
void steer_block(sas_dtype dt, void *x, int64_t ldx, const int64_t *rows, int64_t rb, int64_t d, const void *Wenc_S,
                 const void *benc_S, const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act,
                 const float *v_S, float lambda) {
    const bool split = dt == SAS_BF16;
    const int64_t ld = split ? (d + 15) / 16 * 16 : d;  // the copy's leading dimension
    const bool f16 = dt == SAS_F16;
    std::vector<float> xf(static_cast<size_t>(rb * ld)), c(static_cast<size_t>(rb * s));
    for (int64_t r = 0; r < rb; ++r) {
        if (split)
            bf16_to_split(static_cast<const uint16_t *>(x) + rows[r] * ldx, d, &xf[size_t(r * ld)]);
        else
            convert_to_f32(dt, x, rows[r] * ldx, d, &xf[size_t(r * ld)]);
    }
    // Phase 1: the rb x s dot products, all from the original rows.
    parallel_for(s, rb * d, [&](int64_t i0, int64_t i1) {
        float dots[kMaxBlockRows];
        for (int64_t i = i0; i < i1; ++i) {
            const float b = load_f32(dt, benc_S, i);
            const float th = act == SAS_ACT_JUMPRELU ? load_f32(dt, thr_S, i) : 0.0f;
            if (split)
                dot_rows_bf16_split(xf.data(), ld, rb, static_cast<const uint16_t *>(Wenc_S) + i * d, d, dots);
            else if (f16)
                dot_rows_f16(xf.data(), ld, rb, static_cast<const uint16_t *>(Wenc_S) + i * d, d, dots);
            else
                dot_rows_f32(xf.data(), ld, rb, static_cast<const float *>(Wenc_S) + i * d, d, dots);
            for (int64_t r = 0; r < rb; ++r) {
                const float pre = dots[r] + b;
                const float f = act == SAS_ACT_JUMPRELU ? (pre > th ? pre : 0.0f) : (pre > 0.0f ? pre : 0.0f);
                const float g = f + lambda * v_S[i];
                c[size_t(r * s + i)] = (g > 0.0f ? g : 0.0f) - f;
            }
        }
    });
    std::vector<uint8_t> any_row(static_cast<size_t>(rb), 0), any_feat(static_cast<size_t>(s), 0);
    bool any = false;
    for (int64_t r = 0; r < rb; ++r)
        for (int64_t i = 0; i < s; ++i)
            if (c[size_t(r * s + i)] != 0.0f) any_row[size_t(r)] = any_feat[size_t(i)] = any = true;
    if (!any) return;  // nothing to add: x stays bit-for-bit
    // Phase 2: x += c . Wdec_S, threads over d-chunks, features in ascending order (groups of kFeatGroup
    // rows of Wdec_S).
    const int64_t dchunks = (d + kChunkD - 1) / kChunkD;
    parallel_for(dchunks, rb * s * kChunkD, [&](int64_t t0, int64_t t1) {
        // The rows are read in place; the updates request them ahead themselves.
        const float *w[kFeatGroup];
        const uint16_t *wh[kFeatGroup];
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t d0 = t * kChunkD, dc = std::min(kChunkD, d - d0);
            for (int64_t g0 = 0; g0 < s; g0 += kFeatGroup) {
                const int64_t nf = std::min(kFeatGroup, s - g0);
                for (int64_t q = 0; q < nf; ++q) {
                    const int64_t i = g0 + q;
                    if (dt == SAS_F32)
                        w[q] = static_cast<const float *>(Wdec_S) + i * d + d0;
                    else
                        wh[q] = static_cast<const uint16_t *>(Wdec_S) + i * d + d0;
                }
                if (split)
                    update_rows_bf16_split(&xf[size_t(d0)], ld, rb, &c[size_t(g0)], s, wh, &any_feat[size_t(g0)], nf, dc);
                else if (f16)
                    update_rows_f16(&xf[size_t(d0)], ld, rb, &c[size_t(g0)], s, wh, &any_feat[size_t(g0)], nf, dc);
                else
                    update_rows_f32(&xf[size_t(d0)], ld, rb, &c[size_t(g0)], s, w, &any_feat[size_t(g0)], nf, dc);
            }
            for (int64_t r = 0; r < rb; ++r) {
                if (!any_row[size_t(r)]) continue;
                if (split)
                    split_to_bf16(&xf[size_t(r * ld + d0)], dc, static_cast<uint16_t *>(x) + rows[r] * ldx + d0);
                else
                    convert_from_f32(dt, &xf[size_t(r * ld + d0)], dc, x, rows[r] * ldx + d0);
            }
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
    // Blocks of up to 8 rows (fewer when that leaves threads idle); one block per task. A single block
    // (e.g. one decode row) runs its phases on the pool instead.
    const int64_t nr = int64_t(rows.size());
    const int64_t rb = std::max<int64_t>(1, std::min<int64_t>(kMaxBlockRows, (nr + num_threads() - 1) / num_threads()));
    const int64_t blocks = (nr + rb - 1) / rb;
    parallel_for(blocks, 2 * rb * s * d, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t r0 = b * rb, cnt = std::min(rb, nr - r0);
            steer_block(dt, x, ldx, rows.data() + r0, cnt, d, Wenc_S, benc_S, thr_S, Wdec_S, s, act, v_S, lambda);
        }
    });
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
