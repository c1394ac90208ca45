// CPU twin of the sparse injection x += coeffs . W_dec[indices]. Work items are (row, d-chunk) pairs, so a single decode row
// still spreads over the threads; each x element is read once, accumulated in f32 in a fixed order
// (ascending j, one multiply-add per term) and rounded once.
#include <algorithm>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace sas {
namespace cpu {

namespace {
constexpr int64_t kChunkD = 512;  // columns per work item (a multiple of 16: bf16's split layout)
constexpr int64_t kGroup = 16;    // W_dec rows handed to one update (the fused step's update_rows_*)

// The shared skeleton: for each (row, d-chunk), acc = x; for j < cnt: acc += coef(r, j) * W_dec[row(r, j), chunk].
// The W_dec rows are read in place by the fused step's updates (64 columns of acc in registers across 16
// rows at a time; bf16 and f16 widened in registers, bf16 on acc in the split layout), where this added
// one converted row at a time to acc in memory (bf16 and f16 1.4-1.9x slower than f32, session 20).
template <class RowOf, class CoefOf>
void decode_rows(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec, int64_t cnt,
                 RowOf row_of, CoefOf coef_of) {
    const int64_t dchunks = (d + kChunkD - 1) / kChunkD;
    const bool split = dt == SAS_BF16;
    parallel_for(n * dchunks, cnt * kChunkD, [&](int64_t t0, int64_t t1) {
        std::vector<float> acc(static_cast<size_t>(kChunkD));
        const float *w[kGroup];
        const uint16_t *wh[kGroup];
        float c[kGroup];
        uint8_t use[kGroup];
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t r = t / dchunks, d0 = (t % dchunks) * kChunkD, dc = std::min(kChunkD, d - d0);
            if (split)
                bf16_to_split(static_cast<const uint16_t *>(x) + r * ldx + d0, dc, acc.data());
            else
                convert_to_f32(dt, x, r * ldx + d0, dc, acc.data());
            for (int64_t j0 = 0; j0 < cnt; j0 += kGroup) {
                const int64_t nf = std::min(kGroup, cnt - j0);
                for (int64_t q = 0; q < nf; ++q) {
                    const int64_t row = row_of(r, j0 + q);
                    use[q] = row >= 0;  // (padding: skipped)
                    const int64_t off = (row >= 0 ? row : 0) * d + d0;
                    if (dt == SAS_F32)
                        w[q] = static_cast<const float *>(W_dec) + off;
                    else
                        wh[q] = static_cast<const uint16_t *>(W_dec) + off;
                    c[q] = coef_of(r, j0 + q);
                }
                if (dt == SAS_F32)
                    update_rows_f32(acc.data(), kChunkD, 1, c, kGroup, w, use, nf, dc);
                else if (split)
                    update_rows_bf16_split(acc.data(), kChunkD, 1, c, kGroup, wh, use, nf, dc);
                else
                    update_rows_f16(acc.data(), kChunkD, 1, c, kGroup, wh, use, nf, dc);
            }
            if (split)
                split_to_bf16(acc.data(), dc, static_cast<uint16_t *>(x) + r * ldx + d0);
            else
                convert_from_f32(dt, acc.data(), dc, x, r * ldx + d0);
        }
    });
}
}  // namespace

sas_status inject(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec, int64_t m,
                  int32_t nnz, const int64_t *indices, const float *coeffs) {
    if (n == 0 || nnz == 0) return SAS_OK;
    decode_rows(
        dt, x, ldx, n, d, W_dec, nnz, [&](int64_t r, int64_t j) { return indices[r * nnz + j]; },
        [&](int64_t r, int64_t j) { return coeffs[r * nnz + j]; });
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
