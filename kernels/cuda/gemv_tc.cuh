// Tensor-core GEMV for 2 <= n <= 16 rows of bf16/f16 (encoding a few tokens at once), a variant:
// gemm() takes it only while SAS_CUDA_TC_GEMV is on (kernels/src/variants.h has its default and status). The f32
// FMA kernel (gemv_kernel) needs n FMAs per weight, which at n = 8 held it to 45-86% of the copy
// bandwidth on an H200; one mma.sync does 16 x 8 x 16 multiply-adds. To be measured and compared with
// gemv_kernel by the next GPU run (native/gpu-check.sh runs the tests and sas_bench with it set), and
// made the default only then.
//
// The product is taken transposed, out^T[j, r] = sum_k W[k, j] x[r, k], so that x supplies the mma's
// B operand straight from memory (consecutive k of one row are one B register) and W the A operand:
// each warp owns 16 columns j; per step of 16 k its lanes load the 16 x 16 W tile with one 16-byte
// load each (8 steps in flight), store it to a warp-private shared tile, and ldmatrix.trans turns the
// [k][j] tile into the row-major A fragment. Accumulation is f32 in the tensor cores, in a fixed order
// per warp; K splits across blocks reuse gemm()'s workspace and ordered reduction.
#pragma once

#include <type_traits>

#include "cuda_common.cuh"
#include "splitk.cuh"

namespace sas {
namespace cuda {

constexpr int kTcWarps = 4;   // 4 x 16 = 64 columns per block
constexpr int kTcCols = kTcWarps * 16;
constexpr int kTcUnroll = 8;  // k-steps of 16 whose W tiles are loaded before the first mma

// (SAS_CUDA_EMU: the CPU emulation of native/emu, which implements these instructions in C++.)
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&a)[4], const void *smem_row) {
#ifdef SAS_CUDA_EMU
    ::emu::ldmatrix_x4(a, smem_row, true);
#else
    const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(addr));
#endif
}

// d += A (16 x 16, row) . B (16 x 8, col), f32 accumulators.
template <class T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef SAS_CUDA_EMU
    ::emu::mma_16816(d, a, b0, b1, std::is_same<T, __nv_bfloat16>::value);
#else
    if constexpr (std::is_same<T, __nv_bfloat16>::value) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
#endif
}

// Two consecutive elements x[r, k], x[r, k + 1] as one B register (zeros past n rows or past kend).
template <class T>
__device__ __forceinline__ uint32_t b_pair(const T *A, int64_t lda, int r, int n, int64_t k, int64_t kend) {
    uint16_t lo = 0, hi = 0;
    if (r < n) {
        const uint16_t *row = reinterpret_cast<const uint16_t *>(A + int64_t(r) * lda);
        if (k < kend) lo = row[k];
        if (k + 1 < kend) hi = row[k + 1];
    }
    return uint32_t(lo) | (uint32_t(hi) << 16);
}

// NT = 1 (n <= 8) or 2 (n <= 16) tiles of 8 rows. Requires N % 8 == 0 and W 16-byte aligned.
template <class T, int NT, class Epi>
__global__ void __launch_bounds__(kTcWarps * 32)
    gemv_tc_kernel(const T *__restrict__ A, int64_t lda, int n, int64_t K, const T *__restrict__ W, int64_t N,
                   int64_t kchunk, float *__restrict__ ws, unsigned *splitk_counters, Epi epi) {
    __shared__ __align__(16) T tiles[kTcWarps][kTcUnroll][16 * 16];  // [k][j] per step, 512 bytes each
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int64_t j0 = int64_t(blockIdx.x) * kTcCols + int64_t(warp) * 16;
    const int64_t kbeg = int64_t(blockIdx.y) * kchunk;
    const int64_t kend = kbeg + kchunk < K ? kbeg + kchunk : K;
    // The W tile: lane l loads k row l / 2, columns (l % 2) * 8 .. + 7 (all in range or none: N % 8 == 0).
    const int lk = lane >> 1, lh = lane & 1;
    const bool col_ok = j0 + lh * 8 < N;
    // ldmatrix: lane l gives row (l % 8) of matrix l / 8 = (k half, j half) = (l / 16, (l / 8) % 2), which
    // makes registers 0..3 the A fragments (j 0-7, k 0-7), (j 8-15, k 0-7), (j 0-7, k 8-15), (j 8-15, k 8-15).
    const int mi = lane >> 3, rr = lane & 7;
    const int lds_off = ((mi >> 1) * 8 + rr) * 16 + (mi & 1) * 8;
    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[nt][c] = 0.0f;

    for (int64_t k0 = kbeg; k0 < kend; k0 += 16 * kTcUnroll) {
        uint4 wv[kTcUnroll];
#pragma unroll
        for (int u = 0; u < kTcUnroll; ++u) {
            const int64_t k = k0 + u * 16 + lk;
            wv[u] = col_ok && k < kend ? __ldg(reinterpret_cast<const uint4 *>(W + k * N + j0 + lh * 8))
                                       : make_uint4(0u, 0u, 0u, 0u);
        }
        // The x pairs (B operands) of all the steps, loaded beside the W tiles: loaded inside the step
        // loop, each mma waited for its own x loads, one round trip per step (sm_90 SASS).
        uint32_t bx[kTcUnroll][NT][2];
#pragma unroll
        for (int u = 0; u < kTcUnroll; ++u)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                const int64_t kb = k0 + u * 16;
                bx[u][nt][0] = b_pair(A, lda, nt * 8 + g, n, kb + 2 * t, kend);
                bx[u][nt][1] = b_pair(A, lda, nt * 8 + g, n, kb + 2 * t + 8, kend);
            }
#pragma unroll
        for (int u = 0; u < kTcUnroll; ++u) {
            const int64_t kb = k0 + u * 16;
            if (kb >= kend) break;  // uniform over the warp
            T *tile = tiles[warp][u];
            *reinterpret_cast<uint4 *>(tile + lk * 16 + lh * 8) = wv[u];
            __syncwarp();
            uint32_t a[4];
            ldmatrix_x4_trans(a, tile + lds_off);
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) mma_16816<T>(acc[nt], a, bx[u][nt][0], bx[u][nt][1]);
        }
        __syncwarp();  // every lane has read its tiles before the next round overwrites them
    }
    // D fragment: acc[nt][2h + q] is out^T[j0 + g + 8h, nt * 8 + 2t + q].
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int q = 0; q < 2; ++q) {
                const int r = nt * 8 + 2 * t + q;
                const int64_t j = j0 + g + 8 * h;
                if (r < n && j < N) {
                    if (ws)
                        ws[(int64_t(blockIdx.y) * n + r) * N + j] = acc[nt][2 * h + q];
                    else
                        epi(r, j, acc[nt][2 * h + q]);
                }
            }
    if (ws && splitk_counters) {  // split-K in one launch (gemm.cuh, variant SAS_CUDA_SPLITK_ONE)
        const int64_t c0 = int64_t(blockIdx.x) * kTcCols, c1 = c0 + kTcCols < N ? c0 + kTcCols : N;
        splitk_last_block(ws, int(gridDim.y), int64_t(n), N, c0, c1, splitk_counters + blockIdx.x, epi);
    }
}

// Whether gemm() may take the tensor-core path: variant on, 2..16 rows, x and W of one 2-byte dtype,
// W rows of whole 16-byte vectors.
template <class TA, class TW> bool gemv_tc_usable(int64_t n, const TW *W, int64_t N) {
    if constexpr (!std::is_same<TA, TW>::value || sizeof(TW) != 2) {
        return false;
    } else {
        return variant_on(variants::kTcGemv) && n >= 2 && n <= 16 && N % 8 == 0 &&
               reinterpret_cast<uintptr_t>(W) % 16 == 0;
    }
}

}  // namespace cuda
}  // namespace sas
