// CUDA top-k in two phases, so that one row is spread over many blocks and each element is read from
// memory once:
//  1. block (c, r) loads chunk c of row r (<= 8192 entries) as 32-bit order keys into shared memory and
//     selects its k largest there (radix select of the k-th key in 4 passes of 8-bit histograms, then an
//     ordered pass taking ties by the lowest index): k candidates per chunk, in index order;
//  2. one block per row selects the k largest of the row's candidates the same way and bitonic-sorts
//     them by (value desc, index asc).
// The candidates of a row lie in index order (chunks ascend, each chunk's candidates ascend), so a tie
// broken by the lower candidate position is a tie broken by the lower index, and every entry of the
// row's top-k is among its chunk's top-k under the same total order: the result is exact and equal to
// the CPU twin's. A row that fits in one chunk is finished by phase 1 alone.
#include <cmath>

#include "block_util.cuh"
#include "gemm.cuh"
#include "register_select.cuh"

namespace sas {
namespace cuda {

namespace {

constexpr int64_t kChunkMax = 8192;  // keys per phase-1 block: 32 KiB of dynamic shared memory
constexpr int64_t kChunkMin = 2048;  // >= 2 * kMaxCand, so every chunk holds >= k entries

template <bool ByAbs, class T> __device__ __forceinline__ uint32_t key_dev(T v) {
    const float f = to_f32(v);
    return ByAbs ? abs_key_dev(f) : order_key_dev(f);
}

// Staged (variant SAS_CUDA_TOPK_STAGE, or with SAS_CUDA_TOPK_FAST): keys[j] = key_of(j) for j < len into
// shared memory with kStageLoads loads per thread issued together. A plain loop issued one load per thread and waited for it before the next (sm_90 SASS): at
// 8192 keys and 1024 threads, 8 dependent round trips to memory; this takes two (ptxas schedules the
// first store after the second load).
constexpr int kStageLoads = 8;
template <class KeyOf> __device__ __forceinline__ void stage_keys(int64_t len, KeyOf key_of, uint32_t *keys) {
    for (int64_t j0 = threadIdx.x; j0 < len; j0 += int64_t(kStageLoads) * blockDim.x) {
        uint32_t v[kStageLoads];
#pragma unroll
        for (int u = 0; u < kStageLoads; ++u) {
            const int64_t j = j0 + int64_t(u) * blockDim.x;
            v[u] = j < len ? key_of(j) : 0u;
        }
#pragma unroll
        for (int u = 0; u < kStageLoads; ++u) {
            const int64_t j = j0 + int64_t(u) * blockDim.x;
            if (j < len) keys[j] = v[u];
        }
    }
}

// Writes the sorted top-k of cand[0..P) (as block_topk_select leaves sm.cand), whose low halves are
// positions p mapped to indices by index_of(p).
template <class T, class IndexOf>
__device__ void write_sorted(unsigned long long *cand, int k, const T *row, IndexOf index_of, float *out_values,
                             int64_t *out_indices) {
    bitonic_sort_desc(cand, pow2_at_least(k));  // (key desc, position asc)
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const int64_t j = index_of(cand_index(cand[i]));
        out_indices[i] = j;
        out_values[i] = to_f32(row[j]);
    }
}

// Phase 1. Chunk c of row r is [c * m / chunks, (c + 1) * m / chunks). With chunks == 1 the block
// writes the row's final result; otherwise the chunk's k (key, index) candidates in index order.
template <class T, bool ByAbs, bool Fast, bool Stage>
__global__ void __launch_bounds__(kTopkThreads)
    topk_chunk_kernel(const T *__restrict__ x, int64_t ldx, int64_t m, int k, int chunks, uint32_t *__restrict__ ck,
                      uint32_t *__restrict__ ci, float *__restrict__ out_values, int64_t *__restrict__ out_indices) {
    extern __shared__ uint32_t keys[];
    __shared__ TopkSmem sm;
    const int c = blockIdx.x;
    const int64_t r = blockIdx.y;
    const int64_t c0 = int64_t(c) * m / chunks, len = int64_t(c + 1) * m / chunks - c0;
    const T *seg = x + r * ldx + c0;
    if constexpr (Stage) {
        stage_keys(len, [&](int64_t j) { return key_dev<ByAbs>(seg[j]); }, keys);
    } else {
        for (int64_t j = threadIdx.x; j < len; j += blockDim.x) keys[j] = key_dev<ByAbs>(seg[j]);
    }
    __syncthreads();
    block_topk_select<Fast>([&](int64_t j) { return keys[j]; }, len, k, sm);
    if (chunks == 1) {
        write_sorted(sm.cand, k, seg, [](int64_t p) { return p; }, out_values + r * k, out_indices + r * k);
        return;
    }
    const int64_t base = (r * chunks + c) * k;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const unsigned long long cd = sm.cand[i];
        ck[base + i] = cand_key(cd);
        ci[base + i] = uint32_t(c0 + cand_index(cd));
    }
}

// Phase 2: the k largest of a row's chunks * k candidates, sorted.
template <class T, bool Fast, bool Stage>
__global__ void __launch_bounds__(kTopkThreads)
    topk_merge_kernel(const T *__restrict__ x, int64_t ldx, int64_t total, int k, const uint32_t *__restrict__ ck,
                      const uint32_t *__restrict__ ci, float *__restrict__ out_values,
                      int64_t *__restrict__ out_indices) {
    extern __shared__ uint32_t skeys[];  // the row's candidate keys when they fit (else 0 bytes)
    __shared__ TopkSmem sm;
    const int64_t r = blockIdx.x;
    const uint32_t *keys = ck + r * total, *idx = ci + r * total;
    if (total <= kChunkMax) {  // one read from memory instead of one per radix pass
        if constexpr (Stage) {
            stage_keys(total, [&](int64_t p) { return keys[p]; }, skeys);
        } else {
            for (int64_t p = threadIdx.x; p < total; p += blockDim.x) skeys[p] = keys[p];
        }
        __syncthreads();
        block_topk_select<Fast>([&](int64_t p) { return skeys[p]; }, total, k, sm);
    } else {
        block_topk_select<Fast>([keys](int64_t p) { return keys[p]; }, total, k, sm);
    }
    write_sorted(sm.cand, k, x + r * ldx, [idx](int64_t p) { return int64_t(idx[p]); }, out_values + r * k,
                 out_indices + r * k);
}

// Variant SAS_CUDA_TOPK_REG: phase 1 with each chunk's keys in registers (register_select.cuh), kRegV per
// thread of kRegThreads; same chunks, same candidates, same result as topk_chunk_kernel.
constexpr int kRegThreads = 512, kRegV = 16;
static_assert(kRegThreads * kRegV >= kChunkMax, "a chunk fits in the registers of one block");

template <class T, bool ByAbs>
__global__ void __launch_bounds__(kRegThreads, 2)
    topk_chunk_reg_kernel(const T *__restrict__ x, int64_t ldx, int64_t m, int k, int chunks, uint32_t *__restrict__ ck,
                          uint32_t *__restrict__ ci, float *__restrict__ out_values, int64_t *__restrict__ out_indices) {
    __shared__ RegSelectSmem<kRegV, kRegThreads> sm;
    const int c = blockIdx.x;
    const int64_t r = blockIdx.y;
    const int64_t c0 = int64_t(c) * m / chunks, len = int64_t(c + 1) * m / chunks - c0;
    const T *seg = x + r * ldx + c0;
    uint32_t keys[kRegV];
#pragma unroll
    for (int u = 0; u < kRegV; ++u) {  // all loads issued before the first use
        const int64_t j = int64_t(u) * kRegThreads + threadIdx.x;
        keys[u] = j < len ? key_dev<ByAbs>(seg[j]) : 0u;
    }
    register_topk_select<kRegV, kRegThreads>(keys, len, k, sm, [](int64_t j) { return j; });
    if (chunks == 1) {
        write_sorted(sm.cand, k, seg, [](int64_t p) { return p; }, out_values + r * k, out_indices + r * k);
        return;
    }
    const int64_t base = (r * chunks + c) * k;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const unsigned long long cd = sm.cand[i];
        ck[base + i] = cand_key(cd);
        ci[base + i] = uint32_t(c0 + cand_index(cd));
    }
}

// Phase 2 of SAS_CUDA_TOPK_REG: a row's total <= V * 1024 candidate keys in registers.
template <class T, int V>
__global__ void __launch_bounds__(kTopkThreads, 1)
    topk_merge_reg_kernel(const T *__restrict__ x, int64_t ldx, int64_t total, int k, const uint32_t *__restrict__ ck,
                          const uint32_t *__restrict__ ci, float *__restrict__ out_values,
                          int64_t *__restrict__ out_indices) {
    __shared__ RegSelectSmem<V, kTopkThreads> sm;
    const int64_t r = blockIdx.x;
    const uint32_t *keys_g = ck + r * total, *idx = ci + r * total;
    uint32_t keys[V];
#pragma unroll
    for (int u = 0; u < V; ++u) {
        const int64_t p = int64_t(u) * kTopkThreads + threadIdx.x;
        keys[u] = p < total ? keys_g[p] : 0u;
    }
    register_topk_select<V, kTopkThreads>(keys, total, k, sm, [](int64_t p) { return p; });
    write_sorted(sm.cand, k, x + r * ldx, [idx](int64_t p) { return int64_t(idx[p]); }, out_values + r * k,
                 out_indices + r * k);
}

// Chunks per row: enough blocks to fill the GPU when rows are few, and a chunk near sqrt(m * k),
// which balances phase 1 (time ~ chunk) against phase 2 (time ~ chunks * k); within [min, max].
int chunks_for(int64_t n, int64_t m, int k) {
    if (m <= kChunkMax) return 1;
    const int64_t fill = (m * n + 2 * int64_t(sm_count()) - 1) / (2 * int64_t(sm_count()));
    int64_t chunk = std::max<int64_t>(int64_t(std::sqrt(double(m) * double(k))), fill);
    chunk = std::min(std::max(chunk, kChunkMin), kChunkMax);
    return int((m + chunk - 1) / chunk);  // chunks of m / chunks <= chunk entries, >= kChunkMin / 2 >= k
}

// Between phases 1 and 2 of SAS_CUDA_TOPK_REG, when a row has more than kRegMergeMax candidates (k > 256
// on rows of 1M): block (g, r) selects the k largest of group g of row r's candidates (consecutive
// positions, so equal keys stay in index order) and writes them, (key, index), in position order; each
// level leaves groups * k candidates.
constexpr int64_t kRegMergeMax = 32 * kTopkThreads, kRegGroup = 8 * kTopkThreads;

__global__ void __launch_bounds__(kTopkThreads, 1)
    topk_group_reg_kernel(const uint32_t *__restrict__ ck, const uint32_t *__restrict__ ci, int64_t total, int k,
                          uint32_t *__restrict__ nk, uint32_t *__restrict__ ni) {
    __shared__ RegSelectSmem<8, kTopkThreads> sm;
    const int64_t g = blockIdx.x, groups = gridDim.x, r = blockIdx.y;
    const int64_t p0 = g * total / groups, len = (g + 1) * total / groups - p0;  // >= kRegGroup / 2 >= k
    const uint32_t *keys_g = ck + r * total + p0, *idx = ci + r * total + p0;
    uint32_t keys[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) {
        const int64_t p = int64_t(u) * kTopkThreads + threadIdx.x;
        keys[u] = p < len ? keys_g[p] : 0u;
    }
    register_topk_select<8, kTopkThreads>(keys, len, k, sm, [](int64_t p) { return p; });
    const int64_t base = (r * groups + g) * k;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const unsigned long long cd = sm.cand[i];
        nk[base + i] = cand_key(cd);
        ni[base + i] = idx[cand_index(cd)];
    }
}

// Phase 2 for SAS_CUDA_TOPK_REG: the register kernel holding `total` (<= kRegMergeMax) candidates per row.
template <class T>
sas_status launch_merge_reg(cudaStream_t st, const T *x, int64_t ldx, int64_t rows, int64_t total, int k,
                            const uint32_t *ck, const uint32_t *ci, float *out_values, int64_t *out_indices) {
    const unsigned g = unsigned(rows);
    if (total <= 8 * kTopkThreads)
        topk_merge_reg_kernel<T, 8><<<g, kTopkThreads, 0, st>>>(x, ldx, total, k, ck, ci, out_values, out_indices);
    else if (total <= 16 * kTopkThreads)
        topk_merge_reg_kernel<T, 16><<<g, kTopkThreads, 0, st>>>(x, ldx, total, k, ck, ci, out_values, out_indices);
    else
        topk_merge_reg_kernel<T, 32><<<g, kTopkThreads, 0, st>>>(x, ldx, total, k, ck, ci, out_values, out_indices);
    return check_launch("topk_merge_reg_kernel");
}

template <class T, bool ByAbs>
sas_status launch_topk_reg(cudaStream_t st, const T *x, int64_t ldx, int64_t n, int64_t m, int k, float *out_values,
                           int64_t *out_indices, int slot) {
    const int chunks = chunks_for(n, m, k);
    const char *what = ByAbs ? "topk_chunk_reg_kernel<abs>" : "topk_chunk_reg_kernel";
    for (int64_t r0 = 0; r0 < n; r0 += 65535) {  // grid.y limit
        const int64_t rows = std::min<int64_t>(n - r0, 65535);
        const T *xr = x + r0 * ldx;
        if (chunks == 1) {
            topk_chunk_reg_kernel<T, ByAbs><<<dim3(1, unsigned(rows)), kRegThreads, 0, st>>>(
                xr, ldx, m, k, 1, nullptr, nullptr, out_values + r0 * k, out_indices + r0 * k);
            SAS_TRY(check_launch(what));
            continue;
        }
        int64_t total = int64_t(chunks) * k;
        // Candidates: (keys, indices) of phase 1, and when a merge level is needed a second pair for its
        // output (each level at most half the size of the one before).
        const bool levels = total > kRegMergeMax;
        Scratch ws(st, slot);
        SAS_TRY(ws.alloc(size_t(rows * total) * (levels ? 3 : 2) * sizeof(uint32_t), "sas_topk"));
        uint32_t *ck = ws.as<uint32_t>(), *ci = ck + rows * total;
        uint32_t *nk = ci + rows * total, *ni = nk + rows * total / 2;
        topk_chunk_reg_kernel<T, ByAbs><<<dim3(unsigned(chunks), unsigned(rows)), kRegThreads, 0, st>>>(
            xr, ldx, m, k, chunks, ck, ci, nullptr, nullptr);
        SAS_TRY(check_launch(what));
        while (total > kRegMergeMax) {
            const int64_t groups = (total + kRegGroup - 1) / kRegGroup;
            topk_group_reg_kernel<<<dim3(unsigned(groups), unsigned(rows)), kTopkThreads, 0, st>>>(ck, ci, total, k,
                                                                                                     nk, ni);
            SAS_TRY(check_launch("topk_group_reg_kernel"));
            total = groups * k;
            std::swap(ck, nk);
            std::swap(ci, ni);
        }
        SAS_TRY(launch_merge_reg(st, xr, ldx, rows, total, k, ck, ci, out_values + r0 * k, out_indices + r0 * k));
    }
    return SAS_OK;
}

template <class T, bool ByAbs, bool Fast, bool Stage>
sas_status launch_topk(cudaStream_t st, const T *x, int64_t ldx, int64_t n, int64_t m, int k, float *out_values,
                       int64_t *out_indices, int slot) {
    const int chunks = chunks_for(n, m, k);
    const size_t smem = size_t((m + chunks - 1) / chunks) * sizeof(uint32_t);
    const char *what = ByAbs ? "topk_chunk_kernel<abs>" : "topk_chunk_kernel";
    for (int64_t r0 = 0; r0 < n; r0 += 65535) {  // grid.y limit
        const int64_t rows = std::min<int64_t>(n - r0, 65535);
        const T *xr = x + r0 * ldx;
        if (chunks == 1) {
            topk_chunk_kernel<T, ByAbs, Fast, Stage><<<dim3(1, unsigned(rows)), kTopkThreads, smem, st>>>(
                xr, ldx, m, k, 1, nullptr, nullptr, out_values + r0 * k, out_indices + r0 * k);
            SAS_TRY(check_launch(what));
            continue;
        }
        const int64_t total = int64_t(chunks) * k;
        Scratch ws(st, slot);
        SAS_TRY(ws.alloc(size_t(rows * total) * 2 * sizeof(uint32_t), "sas_topk"));
        uint32_t *ck = ws.as<uint32_t>(), *ci = ck + rows * total;
        topk_chunk_kernel<T, ByAbs, Fast, Stage><<<dim3(unsigned(chunks), unsigned(rows)), kTopkThreads, smem, st>>>(
            xr, ldx, m, k, chunks, ck, ci, nullptr, nullptr);
        SAS_TRY(check_launch(what));
        const size_t merge_smem = total <= kChunkMax ? size_t(total) * sizeof(uint32_t) : 0;
        topk_merge_kernel<T, Fast, Stage><<<unsigned(rows), kTopkThreads, merge_smem, st>>>(xr, ldx, total, k, ck, ci,
                                                                               out_values + r0 * k, out_indices + r0 * k);
        SAS_TRY(check_launch("topk_merge_kernel"));
    }
    return SAS_OK;
}

}  // namespace

sas_status topk_rows(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t m, int32_t k,
                     bool by_abs, float *out_values, int64_t *out_indices, int slot) {
    if (n == 0) return SAS_OK;
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        const T *xp = static_cast<const T *>(x);
        cudaStream_t st = as_stream(stream);
        // Variant SAS_CUDA_TOPK_FAST: warp-aggregated histograms, a tiled ordered pass and staged loads;
        // SAS_CUDA_TOPK_STAGE: the staged loads alone (so a GPU run can time that part apart);
        // SAS_CUDA_TOPK_REG: keys in registers (register_select.cuh), taken before the other two. Same result.
        if (variant_on(variants::kTopkReg))
            return by_abs ? launch_topk_reg<T, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                          : launch_topk_reg<T, false>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
        if (variant_on(variants::kTopkFast))
            return by_abs ? launch_topk<T, true, true, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                          : launch_topk<T, false, true, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
        if (variant_on(variants::kTopkStage))
            return by_abs ? launch_topk<T, true, false, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                          : launch_topk<T, false, false, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
        return by_abs ? launch_topk<T, true, false, false>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                      : launch_topk<T, false, false, false>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
    });
}

}  // namespace cuda
}  // namespace sas
