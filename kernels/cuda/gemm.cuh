// x.W GEMM machinery for the encoders and the dense decode: out[r, j] = epi(sum_k A[r,k] W[k,j]).
//  - n <= 16 (decode steps): a bandwidth kernel. Each block owns 32 x CPT columns of W (32 lanes x CPT
//    consecutive columns, one 16- or 8-byte load per lane and k, coalesced along j; CPT = 8 for
//    bf16/f16 up to 4 rows, else 4: half the registers, twice the resident warps) and a K-range; its
//    8 warps split the K-range, the n A rows are staged in shared memory 256 k at a time, and every
//    thread keeps n x CPT f32 partial sums, summed across the warps in a fixed order in shared memory.
//    When there are too few column blocks to fill the GPU, K is also split across blocks (grid.y) into
//    an f32 workspace that a second kernel sums in a fixed order: deterministic, no atomics.
//  - 2 <= n <= 16, bf16/f16, when variant SAS_CUDA_TC_GEMV is taken (kernels/src/variants.h; unset: n > 8)
//    or SAS_CUDA_TC_WIDE is on: the tensor-core kernel of gemv_tc.cuh, same split-K scheme.
//  - n > 16: a 64x64x16 shared-memory tiled kernel, 4x4 outputs per thread, same split-K scheme; or,
//    bf16/f16 with variant SAS_CUDA_TC_GEMM on, the tensor-core kernel of gemm_tc.cuh, same split-K
//    scheme.
#pragma once

#include <cstdlib>

#include "cuda_common.cuh"
#include "gemm_tc.cuh"
#include "splitk.cuh"
#include "gemv_tc.cuh"

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

// CPT consecutive elements of a row as f32 with one 16-byte load (the caller checked alignment).
__device__ __forceinline__ void load_vec(const float *p, float (&w)[4]) {
    const float4 v = __ldg(reinterpret_cast<const float4 *>(p));
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
}
__device__ __forceinline__ void bf16x2_to_f32(uint32_t u, float *w) {
    w[0] = __uint_as_float(u << 16);
    w[1] = __uint_as_float(u & 0xffff0000u);
}
__device__ __forceinline__ void f16x2_to_f32(uint32_t u, float *w) {
    __half2 h;
    memcpy(&h, &u, 4);
    const float2 f = __half22float2(h);
    w[0] = f.x;
    w[1] = f.y;
}
__device__ __forceinline__ void load_vec(const __nv_bfloat16 *p, float (&w)[4]) {
    const uint2 u = __ldg(reinterpret_cast<const uint2 *>(p));
    bf16x2_to_f32(u.x, w);
    bf16x2_to_f32(u.y, w + 2);
}
__device__ __forceinline__ void load_vec(const __nv_bfloat16 *p, float (&w)[8]) {
    const uint4 u = __ldg(reinterpret_cast<const uint4 *>(p));
    bf16x2_to_f32(u.x, w);
    bf16x2_to_f32(u.y, w + 2);
    bf16x2_to_f32(u.z, w + 4);
    bf16x2_to_f32(u.w, w + 6);
}
__device__ __forceinline__ void load_vec(const __half *p, float (&w)[4]) {
    const uint2 u = __ldg(reinterpret_cast<const uint2 *>(p));
    f16x2_to_f32(u.x, w);
    f16x2_to_f32(u.y, w + 2);
}
__device__ __forceinline__ void load_vec(const __half *p, float (&w)[8]) {
    const uint4 u = __ldg(reinterpret_cast<const uint4 *>(p));
    f16x2_to_f32(u.x, w);
    f16x2_to_f32(u.y, w + 2);
    f16x2_to_f32(u.z, w + 4);
    f16x2_to_f32(u.w, w + 6);
}

// The same 16-byte loads through the coherent path, for data that the same kernel writes later (the
// read-only path behind __ldg requires the data to stay unchanged for the kernel's whole lifetime).
__device__ __forceinline__ void load_vec_plain(const float *p, float (&w)[4]) {
    const float4 v = *reinterpret_cast<const float4 *>(p);
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
}
__device__ __forceinline__ void load_vec_plain(const __nv_bfloat16 *p, float (&w)[8]) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    bf16x2_to_f32(u.x, w);
    bf16x2_to_f32(u.y, w + 2);
    bf16x2_to_f32(u.z, w + 4);
    bf16x2_to_f32(u.w, w + 6);
}
__device__ __forceinline__ void load_vec_plain(const __half *p, float (&w)[8]) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    f16x2_to_f32(u.x, w);
    f16x2_to_f32(u.y, w + 2);
    f16x2_to_f32(u.z, w + 4);
    f16x2_to_f32(u.w, w + 6);
}

template <int CPT, class TW>
__device__ __forceinline__ void load_cols(const TW *row, int64_t j0, int64_t N, bool vec_ok, float (&w)[CPT]) {
    if (vec_ok && j0 + CPT - 1 < N) {
        load_vec(row + j0, w);
    } else {
#pragma unroll
        for (int c = 0; c < CPT; ++c) w[c] = j0 + c < N ? to_f32(row[j0 + c]) : 0.0f;
    }
}

constexpr int kGemvWarps = 8;
constexpr int kGemvThreads = kGemvWarps * 32;
constexpr int kGemvKC = 256;  // K rows of A staged in shared memory per step
constexpr int kGemvKUnit = 64;  // split-K chunks are multiples of this

// Columns per thread: 16 bytes of W per load; 4 from 8 rows up, where 8 x 8 accumulators would halve
// the resident warps.
template <class TW> __host__ __device__ constexpr int gemv_cpt(int nr) {
    return sizeof(TW) == 2 && nr <= 4 ? 8 : 4;
}

// XT (variant SAS_CUDA_GEMV_XT, for 2..16 rows): the staged rows of A transposed in shared memory, [k][row],
// so that a thread reads the NR values of one k with NR / 4 16-byte loads instead of NR 4-byte ones. At
// n = 8 the FMA kernel is bound by issued instructions, not memory (on an H200 8 rows took 1.29-1.38x the
// time of 1 at every m, where one row reads W_enc at the copy peak): per 4 columns and k it issues 32 FMAs,
// 8 shared loads, a global load and 4 conversions; XT makes the 8 shared loads 2. Same products, summed
// in the same order: the same bits.
template <class TA, class TW, int NR, int CPT, bool XT, class Epi>
__global__ void __launch_bounds__(kGemvThreads)
    gemv_kernel(const TA *__restrict__ A, int64_t lda, int n, int64_t K, const TW *__restrict__ W, int64_t N,
                int64_t kchunk, bool vec_ok, float *__restrict__ ws, unsigned *splitk_counters, Epi epi) {
    static_assert(!XT || NR % 2 == 0, "the transposed layout is for 2, 4, 8 or 16 rows");
    constexpr int kCols = 32 * CPT;
    __shared__ __align__(16) float xs[XT ? kGemvKC : NR][XT ? NR : kGemvKC];  // [row][k], or [k][row] (XT)
    __shared__ float red[kGemvWarps][kCols];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t cb = blockIdx.x;
    const int64_t j0 = cb * kCols + lane * CPT;
    const int64_t kbeg = int64_t(blockIdx.y) * kchunk;
    const int64_t kend = kbeg + kchunk < K ? kbeg + kchunk : K;
    const bool fast = vec_ok && j0 + CPT - 1 < N;  // this thread's CPT columns: one aligned vector
    float acc[NR][CPT];
#pragma unroll
    for (int r = 0; r < NR; ++r)
#pragma unroll
        for (int c = 0; c < CPT; ++c) acc[r][c] = 0.0f;

    for (int64_t k0 = kbeg; k0 < kend; k0 += kGemvKC) {
        const int kc = int(kend - k0 < kGemvKC ? kend - k0 : kGemvKC);
        for (int e = threadIdx.x; e < NR * kGemvKC; e += kGemvThreads) {
            const int r = e / kGemvKC, kk = e % kGemvKC;
            const float v = (r < n && kk < kc) ? to_f32(A[int64_t(r) * lda + k0 + kk]) : 0.0f;
            if constexpr (XT)
                xs[kk][r] = v;
            else
                xs[r][kk] = v;
        }
        __syncthreads();
        // Warp w takes k = w, w + 8, ...; a full step is unrolled by 8 with no bounds checks and no
        // branch inside (`fast` is fixed per thread), so 8 independent 16-byte loads per lane are in
        // flight at once. (With the vector/scalar choice inside the loop the loads went out one by one:
        // 42% of DRAM bandwidth at m = 16k, n = 1 under Nsight Compute.)
        auto fma_rows = [&](int kk, const float (&w)[CPT]) {
            if constexpr (XT && NR % 4 == 0) {
#pragma unroll
                for (int r4 = 0; r4 < NR; r4 += 4) {
                    const float4 x4 = *reinterpret_cast<const float4 *>(&xs[kk][r4]);
                    const float xv[4] = {x4.x, x4.y, x4.z, x4.w};
#pragma unroll
                    for (int q = 0; q < 4; ++q)
#pragma unroll
                        for (int c = 0; c < CPT; ++c) acc[r4 + q][c] += xv[q] * w[c];
                }
            } else if constexpr (XT) {  // NR == 2
                const float2 x2 = *reinterpret_cast<const float2 *>(&xs[kk][0]);
#pragma unroll
                for (int c = 0; c < CPT; ++c) acc[0][c] += x2.x * w[c];
#pragma unroll
                for (int c = 0; c < CPT; ++c) acc[1][c] += x2.y * w[c];
            } else {
#pragma unroll
                for (int r = 0; r < NR; ++r) {
                    const float xv = xs[r][kk];
#pragma unroll
                    for (int c = 0; c < CPT; ++c) acc[r][c] += xv * w[c];
                }
            }
        };
        if (kc == kGemvKC && fast) {
#pragma unroll 8
            for (int it = 0; it < kGemvKC / kGemvWarps; ++it) {
                const int kk = warp + it * kGemvWarps;
                float w[CPT];
                load_vec(W + (k0 + kk) * N + j0, w);
                fma_rows(kk, w);
            }
        } else {
            for (int kk = warp; kk < kc; kk += kGemvWarps) {
                float w[CPT];
                load_cols<CPT>(W + (k0 + kk) * N, j0, N, vec_ok, w);
                fma_rows(kk, w);
            }
        }
        __syncthreads();
    }
    // Sum the 8 warps' partials in a fixed order, one row at a time.
#pragma unroll
    for (int r = 0; r < NR; ++r) {
        if (r >= n) break;
#pragma unroll
        for (int c = 0; c < CPT; ++c) red[warp][lane * CPT + c] = acc[r][c];
        __syncthreads();
        if (threadIdx.x < kCols) {
            float s = 0.0f;
#pragma unroll
            for (int w = 0; w < kGemvWarps; ++w) s += red[w][threadIdx.x];
            const int64_t j = cb * kCols + threadIdx.x;
            if (j < N) {
                if (ws)
                    ws[(int64_t(blockIdx.y) * n + r) * N + j] = s;
                else
                    epi(r, j, s);
            }
        }
        __syncthreads();
    }
    if (ws && splitk_counters) {
        const int64_t c0 = cb * kCols, c1 = c0 + kCols < N ? c0 + kCols : N;
        splitk_last_block(ws, int(gridDim.y), int64_t(n), N, c0, c1, splitk_counters + cb, epi);
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

// The library's own stream-ordered memory pool of the current device (created on first use, never
// destroyed). Its release threshold keeps up to kScratchKeepBytes reserved between calls: with the
// default pool's threshold of 0, every synchronisation hands the memory back to the driver and the next
// call maps it again, which cost ~45 us per call on an H200 (more than a whole fused steering step).
// A private pool leaves the caller's allocators (libtorch's caching allocator, the default pool) alone.
constexpr uint64_t kScratchKeepBytes = uint64_t(1) << 30;
sas_status scratch_pool(cudaMemPool_t *pool, const char *what);

// Small temporaries (<= kStreamBufferMax) come from a buffer cached per (device, stream, slot) and kept
// for the next call: calls on one stream run in stream order, so the next call's kernels cannot start
// before this call's have finished with it, and a decode step pays no allocation at all (an
// allocate/free pair through the pool still cost several us of host time per call). `slot` separates
// temporaries that are alive at the same time within one call. As with any CUDA stream, calls that share
// a stream must not be issued from several host threads at once. Larger temporaries are allocated from
// the pool and freed (stream-ordered) when the Scratch goes out of scope. With zero_new, a buffer is
// zeroed (stream-ordered) when it is first allocated or grown: for counters that kernels leave at zero.
constexpr size_t kStreamBufferMax = size_t(16) << 20;
sas_status stream_buffer(cudaStream_t st, int slot, size_t bytes, void **p, const char *what, bool zero_new = false);

struct Scratch {
    void *p = nullptr;
    cudaStream_t st = nullptr;
    int slot = 0;
    bool owned = false;
    explicit Scratch(cudaStream_t s, int slot_ = 0) : st(s), slot(slot_) {}
    Scratch(const Scratch &) = delete;
    Scratch &operator=(const Scratch &) = delete;
    ~Scratch() {
        if (owned && p) (void)cudaFreeAsync(p, st);
    }
    sas_status alloc(size_t bytes, const char *what) {
        if (bytes <= kStreamBufferMax) return stream_buffer(st, slot, bytes, &p, what);
        cudaMemPool_t pool = nullptr;
        SAS_TRY(scratch_pool(&pool, what));
        cudaError_t err = cudaMallocFromPoolAsync(&p, bytes, pool, st);
        if (err != cudaSuccess) {
            p = nullptr;
            (void)cudaGetLastError();
            return fail(SAS_ERR_ALLOC, "%s: cudaMallocFromPoolAsync(%zu bytes) failed: %s", what, bytes,
                        cudaGetErrorString(err));
        }
        owned = true;
        return SAS_OK;
    }
    template <class U> U *as() const { return static_cast<U *>(p); }
};

template <class TA, class TW, int NR, class Epi>
void launch_gemv(cudaStream_t st, int64_t col_blocks, int64_t kb, const TA *A, int64_t lda, int64_t n, int64_t K,
                 const TW *W, int64_t N, int64_t kchunk, float *ws, unsigned *splitk_counters, Epi epi) {
    constexpr int CPT = gemv_cpt<TW>(NR);
    const bool vec_ok = N % CPT == 0 && reinterpret_cast<uintptr_t>(W) % (CPT * sizeof(TW)) == 0;
    const dim3 grid = dim3(unsigned(col_blocks), unsigned(kb));
    if constexpr (NR >= 2) {
        if (variant_on(variants::kGemvXt)) {  // variant SAS_CUDA_GEMV_XT: A staged as [k][row] (gemv_kernel)
            gemv_kernel<TA, TW, NR, CPT, true, Epi><<<grid, kGemvThreads, 0, st>>>(A, lda, int(n), K, W, N, kchunk,
                                                                                 vec_ok, ws, splitk_counters, epi);
            return;
        }
    }
    gemv_kernel<TA, TW, NR, CPT, false, Epi><<<grid, kGemvThreads, 0, st>>>(A, lda, int(n), K, W, N, kchunk, vec_ok,
                                                                          ws, splitk_counters, epi);
}

// out[r, j] = epi(r, j, sum_k A[r*lda + k] * W[k*N + j]) for r < n, j < N.
template <class TA, class TW, class Epi>
sas_status gemm(cudaStream_t st, const TA *A, int64_t lda, int64_t n, int64_t K, const TW *W, int64_t N, Epi epi,
                const char *what) {
    if (n == 0) return SAS_OK;
    const bool small = n <= 16;
    const bool tc = small && gemv_tc_usable<TA, TW>(n, A, lda, W, N);               // variant, see gemv_tc.cuh
    const bool tc_wide = tc && variant_on(variants::kTcWide);                        // its wide layout
    const bool tcg = !small && gemm_tc_usable<TA, TW>(n, A, lda, K, W, N);  // variant, see gemm_tc.cuh
    const int64_t gemv_cols =
        tc ? tc_cols(tc_wide ? kTcWideCT : 1) : 32 * (small ? gemv_cpt<TW>(int(n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : n <= 8 ? 8 : 16)) : 4);
    const int64_t tile_m = tcg ? kTcgM : kTileM, tile_n = tcg ? kTcgN : kTileN;
    const int64_t col_blocks = small ? (N + gemv_cols - 1) / gemv_cols : (N + tile_n - 1) / tile_n;
    const int64_t row_blocks = small ? 1 : std::min<int64_t>((n + tile_m - 1) / tile_m, 65535);
    const int64_t base = col_blocks * row_blocks;
    const int64_t target = int64_t(sm_count()) * (small ? 8 : 4);
    const int64_t kunit = tc ? tc_round(tc_wide ? kTcWideCT : 1) : small ? kGemvKUnit : tcg ? kTcgK : kTileK;
    int64_t kb = base < target ? (target + base - 1) / base : 1;
    kb = std::min<int64_t>(kb, std::max<int64_t>(1, K / (kunit * 4)));  // >= 4 steps per split
    kb = std::min<int64_t>(kb, 64);
    const int64_t ws_cap = (int64_t(256) << 20) / 4;  // 256 MiB of partial sums at most
    kb = std::max<int64_t>(1, std::min<int64_t>(kb, ws_cap / std::max<int64_t>(1, n * N)));
    int64_t kchunk = (K + kb - 1) / kb;
    kchunk = (kchunk + kunit - 1) / kunit * kunit;
    kb = (K + kchunk - 1) / kchunk;

    Scratch ws(st, 1);  // slot 1: callers may hold slot 0 (encode_sparse's activations)
    if (kb > 1) SAS_TRY(ws.alloc(size_t(kb * n * N) * sizeof(float), what));
    float *wsp = kb > 1 ? ws.as<float>() : nullptr;
    // Variant SAS_CUDA_SPLITK_ONE: the n <= 16 kernels reduce their split-K partials themselves (splitk_last_block), one launch.
    unsigned *counters = nullptr;
    if (kb > 1 && small && variant_on(variants::kSplitkOne)) {
        void *c = nullptr;  // slot 4 holds only these counters: zeroed when allocated, left at zero by every call
        SAS_TRY(stream_buffer(st, 4, size_t(col_blocks) * sizeof(unsigned), &c, what, true));
        counters = static_cast<unsigned *>(c);
    }
    if (tc) {
        if constexpr (std::is_same<TA, TW>::value && sizeof(TW) == 2) {
            const dim3 grid = dim3(unsigned(col_blocks), unsigned(kb));
            const auto kern = tc_wide ? (n <= 8 ? gemv_tc_kernel<TW, 1, kTcWideCT, Epi> : gemv_tc_kernel<TW, 2, kTcWideCT, Epi>)
                                      : (n <= 8 ? gemv_tc_kernel<TW, 1, 1, Epi> : gemv_tc_kernel<TW, 2, 1, Epi>);
            kern<<<grid, kTcWarps * 32, 0, st>>>(A, lda, int(n), K, W, N, kchunk, wsp, counters, epi);
        }
    } else if (small) {
        if (n <= 1)
            launch_gemv<TA, TW, 1>(st, col_blocks, kb, A, lda, n, K, W, N, kchunk, wsp, counters, epi);
        else if (n <= 2)
            launch_gemv<TA, TW, 2>(st, col_blocks, kb, A, lda, n, K, W, N, kchunk, wsp, counters, epi);
        else if (n <= 4)
            launch_gemv<TA, TW, 4>(st, col_blocks, kb, A, lda, n, K, W, N, kchunk, wsp, counters, epi);
        else if (n <= 8)
            launch_gemv<TA, TW, 8>(st, col_blocks, kb, A, lda, n, K, W, N, kchunk, wsp, counters, epi);
        else
            launch_gemv<TA, TW, 16>(st, col_blocks, kb, A, lda, n, K, W, N, kchunk, wsp, counters, epi);
    } else if (tcg) {
        if constexpr (std::is_same<TA, TW>::value && sizeof(TW) == 2) {
            const dim3 grid = dim3(unsigned(col_blocks), unsigned(row_blocks), unsigned(kb));
            gemm_tc_kernel<TW, Epi><<<grid, kTcgThreads, 0, st>>>(A, lda, n, K, W, N, kchunk, wsp, epi);
        }
    } else {
        const dim3 grid = dim3(unsigned(col_blocks), unsigned(row_blocks), unsigned(kb));
        gemm_tiled_kernel<TA, TW, Epi><<<grid, 256, 0, st>>>(A, lda, n, K, W, N, kchunk, wsp, epi);
    }
    SAS_TRY(check_launch(what));
    if (kb > 1 && !counters) {
        const int64_t total = n * N;
        const unsigned blocks = unsigned(std::min<int64_t>((total + 255) / 256, int64_t(sm_count()) * 32));
        splitk_reduce_kernel<Epi><<<blocks, 256, 0, st>>>(wsp, int(kb), n, N, epi);
        SAS_TRY(check_launch("splitk_reduce_kernel"));
    }
    return SAS_OK;
}

}  // namespace cuda
}  // namespace sas
