// Tensor-core GEMM for n > 16 rows of bf16/f16 (encoding many tokens: building a steering vector from
// pairs, scoring batches), a variant: gemm() takes it only while SAS_CUDA_TC_GEMM is on
// (kernels/src/variants.h has its default and status). The default for n > 16 is gemm_tiled_kernel, f32 FMAs without tensor cores,
// which an H200 run measured at 10-20x slower than cuBLAS for n = 64 and 512.
//
// out[r, j] = sum_k x[r, k] W[k, j]: M = rows of x, N = columns of W, K = d. A block computes a
// 64 x 128 tile of out with 4 warps (2 x 2, each 32 x 64: 2 x 8 mma.sync m16n8k16 tiles, f32
// accumulators). Per 32-k step the block copies the x tile [64][32] and the W tile [32][128] into shared
// memory with cp.async (two stages: the next step's copy is in flight while this one computes); ldmatrix
// makes the A fragments from the x tile and ldmatrix.trans the B fragments from the [k][j] W tile. Rows
// are padded (40 and 136 elements) so the eight 16-byte rows an ldmatrix phase reads fall in distinct
// banks. Rows past n and k past the block's K range are zero-filled by cp.async; N % 8 == 0, K % 8 == 0,
// lda % 8 == 0 and 16-byte aligned x and W are required (gemm_tc_usable). Split-K and the epilogue are
// gemm()'s, as for the other kernels. Fixed summation order per block: deterministic.
#pragma once

#include <type_traits>

#include "cuda_common.cuh"
#include "gemv_tc.cuh"

namespace sas {
namespace cuda {

constexpr int kTcgM = 64, kTcgN = 128, kTcgK = 32;
constexpr int kTcgThreads = 128;
constexpr int kTcgLdA = kTcgK + 8;   // 40 elements = 80 bytes per x-tile row
constexpr int kTcgLdB = kTcgN + 8;   // 136 elements = 272 bytes per W-tile row

// (SAS_CUDA_EMU: the CPU emulation of native/emu; its copies complete at once.)
__device__ __forceinline__ void cp_async_16(void *smem, const void *gmem, bool valid) {
#ifdef SAS_CUDA_EMU
    if (valid)
        std::memcpy(smem, gmem, 16);
    else
        std::memset(smem, 0, 16);
#else
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 16 : 0;  // 0: nothing is read, the 16 bytes are zero-filled
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(bytes));
#endif
}
#ifdef SAS_CUDA_EMU
__device__ __forceinline__ void cp_async_commit() {}
template <int N> __device__ __forceinline__ void cp_async_wait() {}
#else
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
#endif

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&a)[4], const void *smem_row) {
#ifdef SAS_CUDA_EMU
    ::emu::ldmatrix_x4(a, smem_row, false);
#else
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(addr));
#endif
}

template <class T, class Epi>
__global__ void __launch_bounds__(kTcgThreads)
    gemm_tc_kernel(const T *__restrict__ A, int64_t lda, int64_t n, int64_t K, const T *__restrict__ W, int64_t N,
                   int64_t kchunk, float *__restrict__ ws, Epi epi) {
    __shared__ __align__(16) T As[2][kTcgM][kTcgLdA];
    __shared__ __align__(16) T Bs[2][kTcgK][kTcgLdB];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 64;  // this warp's 32 x 64 part of the tile
    const int64_t col0 = int64_t(blockIdx.x) * kTcgN;
    const int64_t kbeg = int64_t(blockIdx.z) * kchunk;
    const int64_t kend = kbeg + kchunk < K ? kbeg + kchunk : K;

    for (int64_t row0 = int64_t(blockIdx.y) * kTcgM; row0 < n; row0 += int64_t(gridDim.y) * kTcgM) {
        // One stage: the x tile is 64 rows x 4 chunks of 8 k (2 chunks per thread), the W tile 32 k rows x
        // 16 chunks of 8 columns (4 per thread). Chunks are whole or absent (K, N, lda multiples of 8).
        auto load_stage = [&](int buf, int64_t k0) {
#pragma unroll
            for (int q = 0; q < 2; ++q) {
                const int e = threadIdx.x + kTcgThreads * q;
                const int r = e >> 2, c = (e & 3) * 8;
                const int64_t gr = row0 + r, gk = k0 + c;
                const bool ok = gr < n && gk < kend;
                cp_async_16(&As[buf][r][c], ok ? A + gr * lda + gk : A, ok);
            }
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int e = threadIdx.x + kTcgThreads * q;
                const int kk = e >> 4, c = (e & 15) * 8;
                const int64_t gk = k0 + kk, gc = col0 + c;
                const bool ok = gk < kend && gc < N;
                cp_async_16(&Bs[buf][kk][c], ok ? W + gk * N + gc : W, ok);
            }
            cp_async_commit();
        };
        float acc[2][8][4];
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j)
#pragma unroll
                for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.0f;

        load_stage(0, kbeg);
        int buf = 0;
        for (int64_t k0 = kbeg; k0 < kend; k0 += kTcgK) {
            if (k0 + kTcgK < kend) {
                load_stage(buf ^ 1, k0 + kTcgK);  // the next step's copy overlaps this step's mma
                cp_async_wait<1>();
            } else {
                cp_async_wait<0>();
            }
            __syncthreads();
#pragma unroll
            for (int ks = 0; ks < kTcgK; ks += 16) {
                // A fragments (rows wm + 16 i .. + 15, k ks .. ks + 15): lane l gives row l % 16 at k
                // offset (l / 16) * 8, so registers 0..3 are (rows 0-7, k 0-7), (8-15, 0-7), (0-7, 8-15),
                // (8-15, 8-15), the mma's A layout.
                uint32_t a[2][4];
#pragma unroll
                for (int i = 0; i < 2; ++i) ldmatrix_x4(a[i], &As[buf][wm + 16 * i + (lane & 15)][ks + (lane >> 4) * 8]);
                // B fragments of two n8 tiles per ldmatrix.x4.trans: lane l gives k row (l / 8 % 2) * 8 + l % 8
                // of columns (l / 16) * 8 .., so registers are (k 0-7, tile 0), (k 8-15, tile 0), (k 0-7,
                // tile 1), (k 8-15, tile 1).
                uint32_t b[8][2];
#pragma unroll
                for (int jp = 0; jp < 4; ++jp) {
                    uint32_t r4[4];
                    const int mi = lane >> 3;
                    ldmatrix_x4_trans(r4, &Bs[buf][ks + (mi & 1) * 8 + (lane & 7)][wn + jp * 16 + (mi >> 1) * 8]);
                    b[2 * jp][0] = r4[0];
                    b[2 * jp][1] = r4[1];
                    b[2 * jp + 1][0] = r4[2];
                    b[2 * jp + 1][1] = r4[3];
                }
#pragma unroll
                for (int i = 0; i < 2; ++i)
#pragma unroll
                    for (int j = 0; j < 8; ++j) mma_16816<T>(acc[i][j], a[i], b[j][0], b[j][1]);
            }
            __syncthreads();  // every warp is done with this stage before it is refilled
            buf ^= 1;
        }
        // D fragment: acc[i][j][2h + q] is out[row0 + wm + 16 i + g + 8 h, col0 + wn + 8 j + 2 t + q].
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j)
#pragma unroll
                for (int h = 0; h < 2; ++h)
#pragma unroll
                    for (int q = 0; q < 2; ++q) {
                        const int64_t r = row0 + wm + 16 * i + g + 8 * h;
                        const int64_t c = col0 + wn + 8 * j + 2 * t + q;
                        if (r < n && c < N) {
                            if (ws)
                                ws[(int64_t(blockIdx.z) * n + r) * N + c] = acc[i][j][2 * h + q];
                            else
                                epi(r, c, acc[i][j][2 * h + q]);
                        }
                    }
    }
}

// Whether gemm() may take the tensor-core GEMM: variant on, n > 16, x and W of one 2-byte dtype, whole
// 16-byte chunks everywhere (N, K and lda multiples of 8, x and W 16-byte aligned).
template <class TA, class TW>
bool gemm_tc_usable(int64_t n, const TA *A, int64_t lda, int64_t K, const TW *W, int64_t N) {
    if constexpr (!std::is_same<TA, TW>::value || sizeof(TW) != 2) {
        return false;
    } else {
        return variant_on(variants::kTcGemm) && n > 16 && N % 8 == 0 && K % 8 == 0 && lda % 8 == 0 &&
               reinterpret_cast<uintptr_t>(A) % 16 == 0 && reinterpret_cast<uintptr_t>(W) % 16 == 0;
    }
}

}  // namespace cuda
}  // namespace sas
