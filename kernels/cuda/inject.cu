// CUDA injection x[r,:] += sum_j coeffs[r,j] W_dec[indices[r,j], :]: blocks over (row, 256 columns of
// d), threads over d (coalesced W_dec rows), the row's (index, coeff) pairs staged in shared memory,
// accumulated in f32 in ascending j and rounded once. Negative (and, on CUDA, out-of-range) indices
// are skipped.
#include "cuda_common.cuh"

namespace sas {
namespace cuda {

namespace {

constexpr int kInjThreads = 256;

template <class T>
__global__ void __launch_bounds__(kInjThreads)
    inject_kernel(T *__restrict__ x, int64_t ldx, int64_t n, int64_t d, const T *__restrict__ W, int64_t m, int nnz,
                  const int64_t *__restrict__ indices, const float *__restrict__ coeffs) {
    __shared__ int64_t sidx[kInjThreads];
    __shared__ float sco[kInjThreads];
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const int64_t j = int64_t(blockIdx.y) * kInjThreads + threadIdx.x;
        float acc = j < d ? to_f32(x[r * ldx + j]) : 0.0f;
        for (int t0 = 0; t0 < nnz; t0 += kInjThreads) {
            const int cnt = nnz - t0 < kInjThreads ? nnz - t0 : kInjThreads;
            __syncthreads();
            if (int(threadIdx.x) < cnt) {
                sidx[threadIdx.x] = indices[r * nnz + t0 + threadIdx.x];
                sco[threadIdx.x] = coeffs[r * nnz + t0 + threadIdx.x];
            }
            __syncthreads();
            if (j < d)
                for (int t = 0; t < cnt; ++t) {
                    const int64_t idx = sidx[t];
                    if (idx < 0 || idx >= m) continue;
                    acc += sco[t] * to_f32(W[idx * d + j]);
                }
        }
        if (j < d) x[r * ldx + j] = from_f32<T>(acc);
        __syncthreads();
    }
}

}  // namespace

sas_status inject(void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec,
                  int64_t m, int32_t nnz, const int64_t *indices, const float *coeffs) {
    const dim3 grid = dim3(unsigned(std::min<int64_t>(n, int64_t(1) << 30)), unsigned((d + kInjThreads - 1) / kInjThreads));
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        inject_kernel<T><<<grid, kInjThreads, 0, as_stream(stream)>>>(static_cast<T *>(x), ldx, n, d,
                                                                      static_cast<const T *>(W_dec), m, nnz, indices,
                                                                      coeffs);
        return check_launch("inject_kernel");
    });
}

}  // namespace cuda
}  // namespace sas
