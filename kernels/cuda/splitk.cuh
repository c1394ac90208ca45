// The last-block split-K reduction shared by the n <= 16 encoder kernels (gemm.cuh, gemv_tc.cuh).
#pragma once

#include "cuda_common.cuh"

namespace sas {
namespace cuda {

// Split-K in one launch (variant SAS_CUDA_SPLITK_ONE; gemm() passes `counter` only then): once a block has
// written its partial sums of columns [c0, c1) for every row to ws, the last of the kb blocks of its column
// block to arrive (a per-column-block counter, no block waits for another) sums the kb partials in order
// b = 0, 1, ... (splitk_reduce_kernel's order, so the same bits) and applies the epilogue, then resets the
// counter for the next call. Saves the reduction's launch. Every thread of the block calls it.
template <class Epi>
__device__ __forceinline__ void splitk_last_block(const float *ws, int kb, int64_t n, int64_t N, int64_t c0, int64_t c1,
                                                  unsigned *counter, Epi epi) {
    __shared__ int last;
    __threadfence();  // this block's partials are visible device-wide before it arrives
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == unsigned(kb - 1);
    __syncthreads();
    if (!last) return;
    __threadfence();
    const int64_t cols = c1 - c0;
    for (int64_t e = threadIdx.x; e < n * cols; e += blockDim.x) {
        const int64_t r = e / cols, j = c0 + e % cols;
        float s = 0.0f;
        for (int b = 0; b < kb; ++b) s += __ldcg(ws + (int64_t(b) * n + r) * N + j);
        epi(r, j, s);
    }
    if (threadIdx.x == 0) *counter = 0u;
}

}  // namespace cuda
}  // namespace sas
