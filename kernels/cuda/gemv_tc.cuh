// Tensor-core GEMV for 2 <= n <= 16 rows of bf16/f16 (encoding a few tokens at once), a variant:
// gemm() takes it by SAS_CUDA_TC_GEMV, unset for 9..16 rows (kernels/src/variants.h has the rule and the
// measurements behind it). The f32 FMA kernel (gemv_kernel) needs n FMAs per weight, which held it to
// 45-87% of the copy bandwidth at n = 8 and 25-44% at n = 16 on an H200; one mma.sync does 16 x 8 x 16
// multiply-adds.
//
// The product is taken transposed, out^T[j, r] = sum_k W[k, j] x[r, k], so that x supplies the mma's
// B operand (consecutive k of one row make one B register) and W the A operand: each warp owns 16
// columns j (64 in the wide layout); per step of 16 k its lanes load the 16 x 16 W tile with one 16-byte load each, store it to
// a warp-private shared tile, and ldmatrix.trans turns the [k][j] tile into the row-major A fragment.
//
// A round is 8 steps (128 k): every W tile and every x fragment of the round is loaded before the first
// mma. The first version (H200, session 9) loaded each B register as two scalar 2-byte loads from
// global memory, 32 to 64 loads per lane and round beside 8 W loads, and ran at half the FMA kernel's
// speed. Here the k order inside a round is permuted, which changes nothing in the sum: lane (g, t)
// takes the 32 consecutive k at 32t of row g (four 16-byte loads), and step u's logical k pair 2t, 2t+1
// is physical 32t + 4u + {0, 1}, pair 2t+8, 2t+9 is 32t + 4u + {2, 3}. The W tile of step u holds, in
// its row L, the physical k of logical L (tc_phys below), so A and B agree. Tile rows 4-7 of each 8 swap
// their two 16-byte halves, so ldmatrix's 8 row reads hit distinct banks. The wide layout (variant
// SAS_CUDA_TC_WIDE) gives each warp 4 column tiles and rounds of 4 steps (64 k, 16 per lane and row).
// Accumulation is f32 in the tensor cores, in a fixed order per warp; K splits across blocks reuse
// gemm()'s workspace and ordered reduction.
#pragma once

#include <type_traits>

#include "cuda_common.cuh"
#include "splitk.cuh"

namespace sas {
namespace cuda {

constexpr int kTcWarps = 4;
// Column tiles of 16 per warp: 1 (the default layout) or kTcWideCT (variant SAS_CUDA_TC_WIDE).
constexpr int kTcWideCT = 4;
// Steps of 16 k per round (W tiles and x fragments of a round are loaded before its first mma): 8 with one
// column tile per warp, 4 with four (the same 16-byte W loads per lane and round, half the rounds' k).
__host__ __device__ constexpr int tc_steps(int CT) { return CT == 1 ? 8 : 4; }
// Columns per block and k per round (gemm() sizes its grid and split-K chunks with them).
__host__ __device__ constexpr int tc_cols(int CT) { return kTcWarps * 16 * CT; }
__host__ __device__ constexpr int tc_round(int CT) { return 16 * tc_steps(CT); }

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

// Physical k offset (within a round of R k) of logical k L of step u (see the header: lane t of a row
// holds the R / 4 consecutive k at t R / 4).
template <int R> __host__ __device__ constexpr int tc_phys(int u, int L) {
    return (R / 4) * ((L & 7) >> 1) + 4 * u + 2 * (L >> 3) + (L & 1);
}
// Half offset of (tile row L, column half h) in a 16 x 16 tile: rows 4-7 of each 8 swap halves.
__host__ __device__ constexpr int tc_tile_off(int L, int h) { return L * 16 + 8 * (h ^ ((L >> 2) & 1)); }

// NT = 1 (n <= 8) or 2 (n <= 16) tiles of 8 rows; CT column tiles of 16 per warp. Requires N % 8 == 0,
// W, x and lda 16-byte aligned (gemv_tc_usable) and kchunk a multiple of tc_round(CT) (gemm()).
//
// W loads: per step a warp needs 16 k rows x 16 CT columns, CT 16-byte loads per lane; load i covers
// tile rows [i 16 / CT, (i + 1) 16 / CT), 2 CT lanes per row (32 CT contiguous bytes of W per row and
// load). CT = 1: 16 rows x 32 bytes per load, and the block's 4 warps each take 32 bytes of a 128-byte
// line; CT = 4: 4 rows x 128 bytes, whole lines per load (variant SAS_CUDA_TC_WIDE: on an H200 the
// CT = 1 kernel streamed W_enc at 72-76% of the copy peak at m = 1M where the FMA kernel, 512 contiguous
// bytes per warp load, reached 86-100%). With CT > 1 the tiles of one step are padded by 32 bytes so
// that the 8 lanes of each store phase, which write 4 tiles, hit distinct banks.
template <class T, int NT, int CT, class Epi>
__global__ void __launch_bounds__(kTcWarps * 32)
    gemv_tc_kernel(const T *__restrict__ A, int64_t lda, int n, int64_t K, const T *__restrict__ W, int64_t N,
                   int64_t kchunk, float *__restrict__ ws, unsigned *splitk_counters, Epi epi) {
    constexpr int S = tc_steps(CT), kRound = tc_round(CT);
    constexpr int kTile = 16 * 16 + (CT > 1 ? 16 : 0);  // halves per tile, with the padding
    constexpr int kRowsPerLoad = 16 / CT, kLanesPerRow = 2 * CT;
    constexpr int kXVec = kRound / 32;  // 16-byte x loads per lane, row tile and round
    __shared__ __align__(16) T tiles[kTcWarps][S][CT][kTile];  // [k][j] per step and column tile
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int64_t j0 = int64_t(blockIdx.x) * tc_cols(CT) + int64_t(warp) * 16 * CT;
    const int64_t kbeg = int64_t(blockIdx.y) * kchunk;
    const int64_t kend = kbeg + kchunk < K ? kbeg + kchunk : K;
    // Lane l's part of load i: tile row L = i * kRowsPerLoad + l / kLanesPerRow (physical k
    // tc_phys(u, L)), columns 8 c8 .. + 7 of the warp's, c8 = l % kLanesPerRow, i.e. column tile c8 / 2,
    // half c8 % 2 (all 8 in range or none: N % 8 == 0).
    const int lrow = lane / kLanesPerRow, c8 = lane % kLanesPerRow;
    const bool col_ok = j0 + c8 * 8 < N;
    const T *wcol = W + j0 + c8 * 8;
    // ldmatrix: lane l gives row (l % 8) of matrix l / 8 = (k half, j half) = (l / 16, (l / 8) % 2), which
    // makes registers 0..3 the A fragments (j 0-7, k 0-7), (j 8-15, k 0-7), (j 0-7, k 8-15), (j 8-15, k 8-15).
    const int mi = lane >> 3, rr = lane & 7;
    const int ld_off = tc_tile_off((mi >> 1) * 8 + rr, mi & 1);
    float acc[NT][CT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int ct = 0; ct < CT; ++ct)
#pragma unroll
            for (int c = 0; c < 4; ++c) acc[nt][ct][c] = 0.0f;

    for (int64_t k0 = kbeg; k0 < kend; k0 += kRound) {
        const bool full = k0 + kRound <= kend;  // uniform over the block
        uint4 wv[S][CT];
        // xv[nt][q]: 8 consecutive k at k0 + (kRound / 4) t + 8q of row nt * 8 + g; as 32-bit words, word w
        // is the pair at (kRound / 4) t + 2w, so step u's B registers are words 2u and 2u + 1.
        uint4 xv[NT][kXVec];
#pragma unroll
        for (int u = 0; u < S; ++u)
#pragma unroll
            for (int i = 0; i < CT; ++i) {
                const int64_t k = k0 + tc_phys<kRound>(u, i * kRowsPerLoad + lrow);
                wv[u][i] = col_ok && (full || k < kend) ? __ldg(reinterpret_cast<const uint4 *>(wcol + k * N))
                                                       : make_uint4(0u, 0u, 0u, 0u);
            }
        if (full) {
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                const int r = nt * 8 + g;
                const T *xr = A + int64_t(r) * lda + k0 + (kRound / 4) * t;
#pragma unroll
                for (int q = 0; q < kXVec; ++q)
                    xv[nt][q] = r < n ? __ldg(reinterpret_cast<const uint4 *>(xr + 8 * q)) : make_uint4(0u, 0u, 0u, 0u);
            }
        } else {  // the last, partial round of the range: x element by element, zeros past kend
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                const int r = nt * 8 + g;
                const uint16_t *xr = reinterpret_cast<const uint16_t *>(A + int64_t(r) * lda);
#pragma unroll
                for (int q = 0; q < kXVec; ++q) {
                    uint32_t w[4];
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int64_t k = k0 + (kRound / 4) * t + 8 * q + 2 * e;
                        const uint32_t lo = r < n && k < kend ? xr[k] : 0u;
                        const uint32_t hi = r < n && k + 1 < kend ? xr[k + 1] : 0u;
                        w[e] = lo | (hi << 16);
                    }
                    xv[nt][q] = make_uint4(w[0], w[1], w[2], w[3]);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < S; ++u) {
#pragma unroll
            for (int i = 0; i < CT; ++i) {
                T *tile = tiles[warp][u][c8 >> 1];
                *reinterpret_cast<uint4 *>(tile + tc_tile_off(i * kRowsPerLoad + lrow, c8 & 1)) = wv[u][i];
            }
            __syncwarp();
#pragma unroll
            for (int ct = 0; ct < CT; ++ct) {
                uint32_t a[4];
                const T *tile = tiles[warp][u][ct];
                ldmatrix_x4_trans(a, tile + ld_off);
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    const uint4 &v = xv[nt][u >> 1];  // words 2u, 2u + 1 of the vectors
                    const uint32_t b0 = (u & 1) ? v.z : v.x, b1 = (u & 1) ? v.w : v.y;
                    mma_16816<T>(acc[nt][ct], a, b0, b1);
                }
            }
        }
        __syncwarp();  // every lane has read its tiles before the next round overwrites them
    }
    // D fragment: acc[nt][ct][2h + q] is out^T[j0 + 16 ct + g + 8h, nt * 8 + 2t + q].
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int ct = 0; ct < CT; ++ct)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int q = 0; q < 2; ++q) {
                    const int r = nt * 8 + 2 * t + q;
                    const int64_t j = j0 + 16 * ct + g + 8 * h;
                    if (r < n && j < N) {
                        if (ws)
                            ws[(int64_t(blockIdx.y) * n + r) * N + j] = acc[nt][ct][2 * h + q];
                        else
                            epi(r, j, acc[nt][ct][2 * h + q]);
                    }
                }
    if (ws && splitk_counters) {  // split-K in one launch (gemm.cuh, variant SAS_CUDA_SPLITK_ONE)
        const int64_t c0 = int64_t(blockIdx.x) * tc_cols(CT), c1 = c0 + tc_cols(CT) < N ? c0 + tc_cols(CT) : N;
        splitk_last_block(ws, int(gridDim.y), int64_t(n), N, c0, c1, splitk_counters + blockIdx.x, epi);
    }
}

// Whether gemm() takes the tensor-core path: the variant taken (forced on: 2..16 rows; unset: 9..16, where
// it timed 1.3x-2.1x the FMA kernel on an H200, kernels/src/variants.h) or SAS_CUDA_TC_WIDE forced on (which
// takes it with the wide layout), x and W of one 2-byte dtype, W rows and x rows of whole, aligned 16-byte
// vectors.
template <class TA, class TW> bool gemv_tc_usable(int64_t n, const TA *A, int64_t lda, const TW *W, int64_t N) {
    if constexpr (!std::is_same<TA, TW>::value || sizeof(TW) != 2) {
        return false;
    } else {
        return (variants::taken(variants::kTcGemv, n >= variants::kTcGemvAutoMinN) || variants::forced(variants::kTcWide) == 1) &&
               n >= 2 && n <= 16 && N % 8 == 0 &&
               reinterpret_cast<uintptr_t>(W) % 16 == 0 && lda % 8 == 0 && reinterpret_cast<uintptr_t>(A) % 16 == 0;
    }
}

}  // namespace cuda
}  // namespace sas
