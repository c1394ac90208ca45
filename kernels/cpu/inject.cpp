// CPU twin of the sparse injection x += coeffs . W_dec[indices]. Work items are (row, d-chunk) pairs, so a single decode row
// still spreads over the threads; each x element is read once, accumulated in f32 in a fixed order
// (ascending j) and rounded once.
#include <algorithm>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace sas {
namespace cpu {

namespace {
constexpr int64_t kChunkD = 512;

// The shared skeleton: for each (row, d-chunk), acc = x; for j < cnt: acc += coef(r, j) * W_dec[row(r, j), chunk].
template <class RowOf, class CoefOf>
void decode_rows(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec, int64_t cnt,
                 RowOf row_of, CoefOf coef_of) {
    const int64_t dchunks = (d + kChunkD - 1) / kChunkD;
    parallel_for(n * dchunks, cnt * kChunkD, [&](int64_t t0, int64_t t1) {
        std::vector<float> acc(static_cast<size_t>(kChunkD)), tmp;
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t r = t / dchunks, d0 = (t % dchunks) * kChunkD, dc = std::min(kChunkD, d - d0);
            convert_to_f32(dt, x, r * ldx + d0, dc, acc.data());
            for (int64_t j = 0; j < cnt; ++j) {
                const int64_t row = row_of(r, j);
                if (row < 0) continue;  // padding
                const float *w = as_f32(dt, W_dec, row * d + d0, dc, tmp);
                axpy_f32(acc.data(), coef_of(r, j), w, dc);
            }
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
