// CUDA top-k: one 1024-thread block per row, radix select of the k-th key (4 passes of 8-bit
// histograms), an ordered pass taking ties by the lowest index, then a bitonic sort of the <= 1024
// survivors by (value desc, index asc). Exactly deterministic; the same order keys as the CPU twin.
#include "block_util.cuh"

namespace sas {
namespace cuda {

namespace {

template <class T, bool ByAbs>
__global__ void __launch_bounds__(kTopkThreads)
    topk_rows_kernel(const T *__restrict__ x, int64_t ldx, int64_t n, int64_t m, int k, float *__restrict__ out_values,
                     int64_t *__restrict__ out_indices) {
    __shared__ TopkSmem sm;
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const T *row = x + r * ldx;
        auto key_of = [row](int64_t j) {
            const float v = to_f32(row[j]);
            return ByAbs ? abs_key_dev(v) : order_key_dev(v);
        };
        block_topk_select(key_of, m, k, sm);
        const int P = pow2_at_least(k);
        bitonic_sort_desc(sm.cand, P);  // (key desc, index asc)
        for (int i = threadIdx.x; i < k; i += blockDim.x) {
            const int64_t j = cand_index(sm.cand[i]);
            out_indices[r * k + i] = j;
            out_values[r * k + i] = to_f32(row[j]);
        }
        __syncthreads();
    }
}

}  // namespace

sas_status topk_rows(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t m, int32_t k,
                     bool by_abs, float *out_values, int64_t *out_indices) {
    if (n == 0) return SAS_OK;
    const unsigned grid = unsigned(n < 65535 * 32 ? n : 65535 * 32);
    return with_dtype(dt, [&](auto tag) {
        using T = typename decltype(tag)::T;
        const T *xp = static_cast<const T *>(x);
        if (by_abs)
            topk_rows_kernel<T, true><<<grid, kTopkThreads, 0, as_stream(stream)>>>(xp, ldx, n, m, k, out_values,
                                                                                   out_indices);
        else
            topk_rows_kernel<T, false><<<grid, kTopkThreads, 0, as_stream(stream)>>>(xp, ldx, n, m, k, out_values,
                                                                                    out_indices);
        return check_launch(by_abs ? "topk_rows_kernel<abs>" : "topk_rows_kernel");
    });
}

}  // namespace cuda
}  // namespace sas
