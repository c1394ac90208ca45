// CUDA support packing (a gather) and the fused steering step. The step is two launches on the
// stream, which orders them: (1) warp-per-feature dot products of the ORIGINAL rows with the packed
// Wenc_S rows (shuffle reductions in a fixed order), giving c = relu(f + lambda v) - f in a small
// workspace; (2) x += c . Wdec_S with threads over d, skipping c == 0. Rows with row_mask[r] == 0 exit
// at once in both launches, so they are never written; a row whose c is all zero is not written
// either (bit-for-bit unchanged).
#include "gemm.cuh"

namespace sas {
namespace cuda {

namespace {

template <class T>
__global__ void __launch_bounds__(256)
    pack_kernel(const T *__restrict__ W_enc, const T *__restrict__ b_enc, const T *__restrict__ threshold,
                const T *__restrict__ W_dec, int64_t d, int64_t m, const int64_t *__restrict__ S, int64_t s,
                T *__restrict__ Wenc_S, T *__restrict__ benc_S, T *__restrict__ thr_S, T *__restrict__ Wdec_S) {
    for (int64_t i = blockIdx.x; i < s; i += gridDim.x) {
        const int64_t j = S[i];
        const bool valid = j >= 0 && j < m;  // out-of-range entries (unchecked on CUDA) pack zeros
        const T zero = from_f32<T>(0.0f);
        for (int64_t k = threadIdx.x; k < d; k += blockDim.x) {
            Wenc_S[i * d + k] = valid ? W_enc[k * m + j] : zero;
            Wdec_S[i * d + k] = valid ? W_dec[j * d + k] : zero;
        }
        if (threadIdx.x == 0) {
            benc_S[i] = valid ? b_enc[j] : zero;
            if (thr_S) thr_S[i] = valid ? threshold[j] : zero;
        }
    }
}

constexpr int kCoefWarps = 8;

template <class T>
__global__ void __launch_bounds__(kCoefWarps * 32)
    steer_coef_kernel(const T *__restrict__ x, int64_t ldx, int64_t n, int64_t d, const T *__restrict__ Wenc_S,
                      const T *__restrict__ benc_S, const T *__restrict__ thr_S, int64_t s, int jump,
                      const float *__restrict__ v_S, float lambda, const uint8_t *__restrict__ row_mask,
                      float *__restrict__ coef) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        if (row_mask && row_mask[r] == 0) continue;
        const T *xr = x + r * ldx;
        for (int64_t i = int64_t(blockIdx.y) * kCoefWarps + warp; i < s; i += int64_t(gridDim.y) * kCoefWarps) {
            const T *w = Wenc_S + i * d;
            float acc0 = 0.0f, acc1 = 0.0f;
            int64_t k = lane;
            for (; k + 32 < d; k += 64) {
                acc0 += to_f32(xr[k]) * to_f32(w[k]);
                acc1 += to_f32(xr[k + 32]) * to_f32(w[k + 32]);
            }
            if (k < d) acc0 += to_f32(xr[k]) * to_f32(w[k]);
            float acc = acc0 + acc1;
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
            if (lane == 0) {
                const float pre = acc + to_f32(benc_S[i]);
                const float f = jump ? (pre > to_f32(thr_S[i]) ? pre : 0.0f) : relu_dev(pre);
                coef[r * s + i] = relu_dev(f + lambda * v_S[i]) - f;
            }
        }
    }
}

constexpr int kUpdThreads = 256;

template <class T>
__global__ void __launch_bounds__(kUpdThreads)
    steer_update_kernel(T *__restrict__ x, int64_t ldx, int64_t n, int64_t d, const T *__restrict__ Wdec_S, int64_t s,
                        const uint8_t *__restrict__ row_mask, const float *__restrict__ coef) {
    __shared__ float sc[kUpdThreads];
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        if (row_mask && row_mask[r] == 0) continue;  // uniform over the block
        const int64_t j = int64_t(blockIdx.y) * kUpdThreads + threadIdx.x;
        float acc = j < d ? to_f32(x[r * ldx + j]) : 0.0f;
        bool any = false;
        for (int64_t t0 = 0; t0 < s; t0 += kUpdThreads) {
            const int cnt = int(s - t0 < kUpdThreads ? s - t0 : kUpdThreads);
            __syncthreads();
            if (int(threadIdx.x) < cnt) sc[threadIdx.x] = coef[r * s + t0 + threadIdx.x];
            __syncthreads();
            for (int t = 0; t < cnt; ++t) {
                const float c = sc[t];
                if (c == 0.0f) continue;
                any = true;
                if (j < d) acc += c * to_f32(Wdec_S[(t0 + t) * d + j]);
            }
        }
        if (any && j < d) x[r * ldx + j] = from_f32<T>(acc);
        __syncthreads();
    }
}

}  // namespace

sas_status pack_support(void *stream, sas_dtype dt, const void *W_enc, const void *b_enc, const void *threshold,
                        const void *W_dec, int64_t d, int64_t m, const int64_t *S, int64_t s, void *Wenc_S,
                        void *benc_S, void *thr_S, void *Wdec_S) {
    const unsigned grid = unsigned(std::min<int64_t>(s, int64_t(1) << 30));
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        pack_kernel<T><<<grid, 256, 0, as_stream(stream)>>>(
            static_cast<const T *>(W_enc), static_cast<const T *>(b_enc), static_cast<const T *>(threshold),
            static_cast<const T *>(W_dec), d, m, S, s, static_cast<T *>(Wenc_S), static_cast<T *>(benc_S),
            threshold ? static_cast<T *>(thr_S) : nullptr, static_cast<T *>(Wdec_S));
        return check_launch("pack_kernel");
    });
}

sas_status steer_fused(void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *Wenc_S,
                       const void *benc_S, const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act,
                       const float *v_S, float lambda, const uint8_t *row_mask) {
    cudaStream_t st = as_stream(stream);
    Scratch coef(st);
    SAS_TRY(coef.alloc(size_t(n * s) * sizeof(float), "sas_steer_fused"));
    const unsigned rows = unsigned(std::min<int64_t>(n, int64_t(1) << 30));
    const dim3 g1 = dim3(rows, unsigned(std::min<int64_t>((s + kCoefWarps - 1) / kCoefWarps, 65535)));
    const dim3 g2 = dim3(rows, unsigned((d + kUpdThreads - 1) / kUpdThreads));
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        steer_coef_kernel<T><<<g1, kCoefWarps * 32, 0, st>>>(
            static_cast<const T *>(x), ldx, n, d, static_cast<const T *>(Wenc_S), static_cast<const T *>(benc_S),
            static_cast<const T *>(thr_S), s, act == SAS_ACT_JUMPRELU ? 1 : 0, v_S, lambda, row_mask,
            coef.as<float>());
        SAS_TRY(check_launch("steer_coef_kernel"));
        steer_update_kernel<T><<<g2, kUpdThreads, 0, st>>>(static_cast<T *>(x), ldx, n, d,
                                                           static_cast<const T *>(Wdec_S), s, row_mask,
                                                           coef.as<float>());
        return check_launch("steer_update_kernel");
    });
}

}  // namespace cuda
}  // namespace sas
