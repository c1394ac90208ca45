// x.W GEMM machinery for the encoders and the dense decode: out[r, j] = epi(sum_k A[r,k] W[k,j]).
//  - n <= 16 (decode steps): a bandwidth kernel. Each block owns 128 columns of W (32 lanes x 4
//    consecutive columns, vectorised loads, coalesced along j) and a K-range; its 8 warps split the
//    K-range, the n A rows are staged in shared memory and every thread keeps n x 4 f32 partial sums.
//    The warps' partials are summed in a fixed order in shared memory. When there are too few column
//    blocks to fill the GPU, K is also split across blocks (grid.y) into an f32 workspace that a
//    second kernel sums in a fixed order: deterministic, no atomics.
//  - n > 16: a 64x64x16 shared-memory tiled kernel, 4x4 outputs per thread, same split-K scheme.
#pragma once

#include "cuda_common.cuh"

namespace sas {
namespace cuda {

enum EpiMode { kEpiPre = 0, kEpiJump = 1, kEpiRelu = 2 };

// Encoder epilogue: out[r, j] = act(sum + bias[j]) as f32.
template <class TW> struct EncEpi {
    const TW *bias;
    const TW *thr;
    int mode;
    float *out;
    int64_t ldo;
    __device__ __forceinline__ void operator()(int64_t r, int64_t j, float s) const {
        float v = s + to_f32(bias[j]);
        if (mode == kEpiJump)
            v = v > to_f32(thr[j]) ? v : 0.0f;
        else if (mode == kEpiRelu)
            v = relu_dev(v);
        out[r * ldo + j] = v;
    }
};

// Decoder epilogue: x[r, j] += sum, rounded once into x's dtype.
template <class TX> struct AddEpi {
    TX *x;
    int64_t ldx;
    __device__ __forceinline__ void operator()(int64_t r, int64_t j, float s) const {
        TX *p = x + r * ldx + j;
        *p = from_f32<TX>(to_f32(*p) + s);
    }
};

// 4 consecutive elements of a row as f32: one 16-byte (f32) or 8-byte (bf16/f16) load when aligned.
__device__ __forceinline__ void load4_vec(const float *p, float w[4]) {
    const float4 v = __ldg(reinterpret_cast<const float4 *>(p));
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
}
__device__ __forceinline__ void load4_vec(const __nv_bfloat16 *p, float w[4]) {
    const uint2 u = __ldg(reinterpret_cast<const uint2 *>(p));
    w[0] = __uint_as_float(u.x << 16);
    w[1] = __uint_as_float(u.x & 0xffff0000u);
    w[2] = __uint_as_float(u.y << 16);
    w[3] = __uint_as_float(u.y & 0xffff0000u);
}
__device__ __forceinline__ void load4_vec(const __half *p, float w[4]) {
    const uint2 u = __ldg(reinterpret_cast<const uint2 *>(p));
    __half2 a, b;
    memcpy(&a, &u.x, 4);
    memcpy(&b, &u.y, 4);
    const float2 fa = __half22float2(a), fb = __half22float2(b);
    w[0] = fa.x;
    w[1] = fa.y;
    w[2] = fb.x;
    w[3] = fb.y;
}

template <class TW>
__device__ __forceinline__ void load4(const TW *row, int64_t j0, int64_t N, bool vec_ok, float w[4]) {
    if (vec_ok && j0 + 3 < N) {
        load4_vec(row + j0, w);
    } else {
#pragma unroll
        for (int c = 0; c < 4; ++c) w[c] = j0 + c < N ? to_f32(row[j0 + c]) : 0.0f;
    }
}

constexpr int kGemvWarps = 8;
constexpr int kGemvThreads = kGemvWarps * 32;
constexpr int kGemvCols = 32 * 4;  // columns per block
constexpr int kGemvKC = 64;        // K rows staged per step

template <class TA, class TW, int NR, class Epi>
__global__ void __launch_bounds__(kGemvThreads)
    gemv_kernel(const TA *__restrict__ A, int64_t lda, int n, int64_t K, const TW *__restrict__ W, int64_t N,
                int64_t kchunk, bool vec_ok, float *__restrict__ ws, Epi epi) {
    __shared__ float xs[NR][kGemvKC];
    __shared__ float red[kGemvWarps][kGemvCols];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t cb = blockIdx.x;
    const int64_t j0 = cb * kGemvCols + lane * 4;
    const int64_t kbeg = int64_t(blockIdx.y) * kchunk;
    const int64_t kend = kbeg + kchunk < K ? kbeg + kchunk : K;
    float acc[NR][4];
#pragma unroll
    for (int r = 0; r < NR; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[r][c] = 0.0f;

    for (int64_t k0 = kbeg; k0 < kend; k0 += kGemvKC) {
        const int kc = int(kend - k0 < kGemvKC ? kend - k0 : kGemvKC);
        for (int e = threadIdx.x; e < NR * kGemvKC; e += kGemvThreads) {
            const int r = e / kGemvKC, kk = e % kGemvKC;
            xs[r][kk] = (r < n && kk < kc) ? to_f32(A[int64_t(r) * lda + k0 + kk]) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int it = 0; it < kGemvKC / kGemvWarps; ++it) {
            const int kk = warp + it * kGemvWarps;
            if (kk < kc) {
                float w[4];
                load4(W + (k0 + kk) * N, j0, N, vec_ok, w);
#pragma unroll
                for (int r = 0; r < NR; ++r) {
                    const float xv = xs[r][kk];
#pragma unroll
                    for (int c = 0; c < 4; ++c) acc[r][c] += xv * w[c];
                }
            }
        }
        __syncthreads();
    }
    // Sum the 8 warps' partials in a fixed order, one row at a time.
#pragma unroll
    for (int r = 0; r < NR; ++r) {
        if (r >= n) break;
#pragma unroll
        for (int c = 0; c < 4; ++c) red[warp][lane * 4 + c] = acc[r][c];
        __syncthreads();
        if (threadIdx.x < kGemvCols) {
            float s = 0.0f;
#pragma unroll
            for (int w = 0; w < kGemvWarps; ++w) s += red[w][threadIdx.x];
            const int64_t j = cb * kGemvCols + threadIdx.x;
            if (j < N) {
                if (ws)
                    ws[(int64_t(blockIdx.y) * n + r) * N + j] = s;
                else
                    epi(r, j, s);
            }
        }
        __syncthreads();
    }
}

constexpr int kTileM = 64, kTileN = 64, kTileK = 16;

template <class TA, class TW, class Epi>
__global__ void __launch_bounds__(256)
    gemm_tiled_kernel(const TA *__restrict__ A, int64_t lda, int64_t n, int64_t K, const TW *__restrict__ W, int64_t N,
                      int64_t kchunk, float *__restrict__ ws, Epi epi) {
    __shared__ float As[kTileK][kTileM + 4];
    __shared__ float Bs[kTileK][kTileN + 4];
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int64_t col0 = int64_t(blockIdx.x) * kTileN;
    const int64_t kbeg = int64_t(blockIdx.z) * kchunk;
    const int64_t kend = kbeg + kchunk < K ? kbeg + kchunk : K;
    for (int64_t row0 = int64_t(blockIdx.y) * kTileM; row0 < n; row0 += int64_t(gridDim.y) * kTileM) {
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
        for (int64_t k0 = kbeg; k0 < kend; k0 += kTileK) {
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int e = threadIdx.x + 256 * q;
                const int r = e >> 4, kk = e & 15;
                const int64_t gr = row0 + r, gk = k0 + kk;
                As[kk][r] = (gr < n && gk < kend) ? to_f32(A[gr * lda + gk]) : 0.0f;
            }
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int e = threadIdx.x + 256 * q;
                const int kk = e >> 6, c = e & 63;
                const int64_t gk = k0 + kk, gc = col0 + c;
                Bs[kk][c] = (gk < kend && gc < N) ? to_f32(W[gk * N + gc]) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < kTileK; ++kk) {
                float a[4], b[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
                for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int64_t r = row0 + ty + 16 * i, c = col0 + tx + 16 * j;
                if (r < n && c < N) {
                    if (ws)
                        ws[(int64_t(blockIdx.z) * n + r) * N + c] = acc[i][j];
                    else
                        epi(r, c, acc[i][j]);
                }
            }
    }
}

template <class Epi>
__global__ void splitk_reduce_kernel(const float *__restrict__ ws, int kb, int64_t n, int64_t N, Epi epi) {
    const int64_t total = n * N;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = e / N, j = e % N;
        float s = 0.0f;
        for (int b = 0; b < kb; ++b) s += ws[(int64_t(b) * n + r) * N + j];
        epi(r, j, s);
    }
}

int sm_count();

// Stream-ordered scratch memory (cudaMallocAsync / cudaFreeAsync), freed when it goes out of scope.
struct Scratch {
    void *p = nullptr;
    cudaStream_t st = nullptr;
    explicit Scratch(cudaStream_t s) : st(s) {}
    Scratch(const Scratch &) = delete;
    Scratch &operator=(const Scratch &) = delete;
    ~Scratch() {
        if (p) (void)cudaFreeAsync(p, st);
    }
    sas_status alloc(size_t bytes, const char *what) {
        cudaError_t err = cudaMallocAsync(&p, bytes ? bytes : 1, st);
        if (err != cudaSuccess) {
            p = nullptr;
            (void)cudaGetLastError();
            return fail(SAS_ERR_ALLOC, "%s: cudaMallocAsync(%zu bytes) failed: %s", what, bytes,
                        cudaGetErrorString(err));
        }
        return SAS_OK;
    }
    template <class U> U *as() const { return static_cast<U *>(p); }
};

template <class TA, class TW, int NR, class Epi>
void launch_gemv(cudaStream_t st, dim3 grid, const TA *A, int64_t lda, int64_t n, int64_t K, const TW *W, int64_t N,
                 int64_t kchunk, bool vec_ok, float *ws, Epi epi) {
    gemv_kernel<TA, TW, NR, Epi><<<grid, kGemvThreads, 0, st>>>(A, lda, int(n), K, W, N, kchunk, vec_ok, ws, epi);
}

// out[r, j] = epi(r, j, sum_k A[r*lda + k] * W[k*N + j]) for r < n, j < N.
template <class TA, class TW, class Epi>
sas_status gemm(cudaStream_t st, const TA *A, int64_t lda, int64_t n, int64_t K, const TW *W, int64_t N, Epi epi,
                const char *what) {
    if (n == 0) return SAS_OK;
    const bool small = n <= 16;
    const int64_t col_blocks = small ? (N + kGemvCols - 1) / kGemvCols : (N + kTileN - 1) / kTileN;
    const int64_t row_blocks = small ? 1 : std::min<int64_t>((n + kTileM - 1) / kTileM, 65535);
    const int64_t base = col_blocks * row_blocks;
    const int64_t target = int64_t(sm_count()) * (small ? 8 : 4);
    const int64_t kunit = small ? kGemvKC : kTileK;
    int64_t kb = base < target ? (target + base - 1) / base : 1;
    kb = std::min<int64_t>(kb, std::max<int64_t>(1, K / (kunit * 4)));  // >= 4 steps per split
    kb = std::min<int64_t>(kb, 64);
    const int64_t ws_cap = (int64_t(256) << 20) / 4;  // 256 MiB of partial sums at most
    kb = std::max<int64_t>(1, std::min<int64_t>(kb, ws_cap / std::max<int64_t>(1, n * N)));
    int64_t kchunk = (K + kb - 1) / kb;
    kchunk = (kchunk + kunit - 1) / kunit * kunit;
    kb = (K + kchunk - 1) / kchunk;

    Scratch ws(st);
    if (kb > 1) SAS_TRY(ws.alloc(size_t(kb * n * N) * sizeof(float), what));
    float *wsp = kb > 1 ? ws.as<float>() : nullptr;
    if (small) {
        const bool vec_ok = N % 4 == 0 && reinterpret_cast<uintptr_t>(W) % (4 * sizeof(TW)) == 0;
        const dim3 grid = dim3(unsigned(col_blocks), unsigned(kb));
        if (n <= 1)
            launch_gemv<TA, TW, 1>(st, grid, A, lda, n, K, W, N, kchunk, vec_ok, wsp, epi);
        else if (n <= 2)
            launch_gemv<TA, TW, 2>(st, grid, A, lda, n, K, W, N, kchunk, vec_ok, wsp, epi);
        else if (n <= 4)
            launch_gemv<TA, TW, 4>(st, grid, A, lda, n, K, W, N, kchunk, vec_ok, wsp, epi);
        else if (n <= 8)
            launch_gemv<TA, TW, 8>(st, grid, A, lda, n, K, W, N, kchunk, vec_ok, wsp, epi);
        else
            launch_gemv<TA, TW, 16>(st, grid, A, lda, n, K, W, N, kchunk, vec_ok, wsp, epi);
    } else {
        const dim3 grid = dim3(unsigned(col_blocks), unsigned(row_blocks), unsigned(kb));
        gemm_tiled_kernel<TA, TW, Epi><<<grid, 256, 0, st>>>(A, lda, n, K, W, N, kchunk, wsp, epi);
    }
    SAS_TRY(check_launch(what));
    if (kb > 1) {
        const int64_t total = n * N;
        const unsigned blocks = unsigned(std::min<int64_t>((total + 255) / 256, int64_t(sm_count()) * 32));
        splitk_reduce_kernel<Epi><<<blocks, 256, 0, st>>>(wsp, int(kb), n, N, epi);
        SAS_TRY(check_launch("splitk_reduce_kernel"));
    }
    return SAS_OK;
}

}  // namespace cuda
}  // namespace sas
