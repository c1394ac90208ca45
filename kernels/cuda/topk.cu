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
#include <mutex>
#include <set>

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

// Staged (variant SAS_CUDA_TOPK_STAGE): keys[j] = key_of(j) for j < len into shared memory with kStageLoads
// loads per thread issued together. A plain loop issued one load per thread and waited for it before the
// next (sm_90 SASS): at 8192 keys and 1024 threads, 8 dependent round trips to memory; this takes two
// (ptxas schedules the first store after the second load).
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

// Rows that SAS_CUDA_TOPK_HIST has finished (its per-row state: done[2 r + 1] != 0), which phase 2
// and the loop form of phase 1 below then skip; nullptr: none.
__device__ __forceinline__ bool row_done(const uint32_t *done, int64_t r) { return done && done[2 * r + 1] != 0u; }

// Phase 1. Chunk c of row r is [c * m / chunks, (c + 1) * m / chunks). With chunks == 1 the block
// writes the row's final result; otherwise the chunk's k (key, index) candidates in index order.
// keys: the block's dynamic shared memory (a chunk's keys). Every thread of the block calls it.
template <class T, bool ByAbs, bool Stage>
__device__ __forceinline__ void chunk_select(const T *__restrict__ x, int64_t ldx, int64_t m, int k, int chunks, int c,
                                             int64_t r, uint32_t *__restrict__ ck, uint32_t *__restrict__ ci,
                                             float *__restrict__ out_values, int64_t *__restrict__ out_indices,
                                             uint32_t *keys, TopkSmem &sm) {
    const int64_t c0 = int64_t(c) * m / chunks, len = int64_t(c + 1) * m / chunks - c0;
    const T *seg = x + r * ldx + c0;
    if constexpr (Stage) {
        stage_keys(len, [&](int64_t j) { return key_dev<ByAbs>(seg[j]); }, keys);
    } else {
        for (int64_t j = threadIdx.x; j < len; j += blockDim.x) keys[j] = key_dev<ByAbs>(seg[j]);
    }
    __syncthreads();
    block_topk_select([&](int64_t j) { return keys[j]; }, len, k, sm);
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

// Phase 1, block (c, r) for chunk c of row r.
template <class T, bool ByAbs, bool Stage>
__global__ void __launch_bounds__(kTopkThreads)
    topk_chunk_kernel(const T *__restrict__ x, int64_t ldx, int64_t m, int k, int chunks, uint32_t *__restrict__ ck,
                      uint32_t *__restrict__ ci, float *__restrict__ out_values, int64_t *__restrict__ out_indices) {
    extern __shared__ uint32_t keys[];
    __shared__ TopkSmem sm;
    chunk_select<T, ByAbs, Stage>(x, ldx, m, k, chunks, int(blockIdx.x), blockIdx.y, ck, ci, out_values,
                                  out_indices, keys, sm);
}

// Phase 1 for SAS_CUDA_TOPK_HIST's rows left to the default kernels: a few blocks per SM looping over the
// (chunk, row) items and skipping the rows done, instead of a block per item that would mostly start and
// return at once (up to 65536 of them at 512 rows of 1M).
template <class T, bool ByAbs>
__global__ void __launch_bounds__(kTopkThreads)
    topk_chunk_loop_kernel(const T *__restrict__ x, int64_t ldx, int64_t m, int k, int chunks, int64_t rows,
                           uint32_t *__restrict__ ck, uint32_t *__restrict__ ci, const uint32_t *__restrict__ done) {
    extern __shared__ uint32_t keys[];
    __shared__ TopkSmem sm;
    for (int64_t item = blockIdx.x; item < rows * chunks; item += gridDim.x) {
        const int64_t r = item / chunks;
        if (row_done(done, r)) continue;  // uniform over the block
        chunk_select<T, ByAbs, false>(x, ldx, m, k, chunks, int(item % chunks), r, ck, ci, nullptr, nullptr, keys,
                                      sm);
        __syncthreads();  // insurance: block_topk_select's own barriers already order keys and sm for the next item
    }
}

// Phase 2: the k largest of a row's chunks * k candidates, sorted.
template <class T, bool Stage>
__global__ void __launch_bounds__(kTopkThreads)
    topk_merge_kernel(const T *__restrict__ x, int64_t ldx, int64_t total, int k, const uint32_t *__restrict__ ck,
                      const uint32_t *__restrict__ ci, float *__restrict__ out_values,
                      int64_t *__restrict__ out_indices, const uint32_t *__restrict__ done) {
    extern __shared__ uint32_t skeys[];  // the row's candidate keys when they fit (else 0 bytes)
    __shared__ TopkSmem sm;
    const int64_t r = blockIdx.x;
    if (row_done(done, r)) return;  // uniform over the block
    const uint32_t *keys = ck + r * total, *idx = ci + r * total;
    if (total <= kChunkMax) {  // one read from memory instead of one per radix pass
        if constexpr (Stage) {
            stage_keys(total, [&](int64_t p) { return keys[p]; }, skeys);
        } else {
            for (int64_t p = threadIdx.x; p < total; p += blockDim.x) skeys[p] = keys[p];
        }
        __syncthreads();
        block_topk_select([&](int64_t p) { return skeys[p]; }, total, k, sm);
    } else {
        block_topk_select([keys](int64_t p) { return keys[p]; }, total, k, sm);
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

// Phases 1 and 2 for `rows` (<= 65535) rows of `chunks` > 1 chunks; with `done` (SAS_CUDA_TOPK_HIST's
// state), only the rows it marks as not done, phase 1 in its loop form.
template <class T, bool ByAbs, bool Stage>
sas_status launch_chunked(cudaStream_t st, const T *xr, int64_t ldx, int64_t rows, int64_t m, int k, int chunks,
                          float *out_values, int64_t *out_indices, int slot, const uint32_t *done) {
    const size_t smem = size_t((m + chunks - 1) / chunks) * sizeof(uint32_t);
    const int64_t total = int64_t(chunks) * k;
    Scratch ws(st, slot);
    SAS_TRY(ws.alloc(size_t(rows * total) * 2 * sizeof(uint32_t), "sas_topk"));
    uint32_t *ck = ws.as<uint32_t>(), *ci = ck + rows * total;
    if (done) {
        const int64_t blocks = std::min<int64_t>(rows * chunks, 2 * int64_t(sm_count()));  // 1024 threads: 2 per SM
        topk_chunk_loop_kernel<T, ByAbs><<<unsigned(blocks), kTopkThreads, smem, st>>>(xr, ldx, m, k, chunks, rows,
                                                                                      ck, ci, done);
        SAS_TRY(check_launch("topk_chunk_loop_kernel"));
    } else {
        topk_chunk_kernel<T, ByAbs, Stage><<<dim3(unsigned(chunks), unsigned(rows)), kTopkThreads, smem, st>>>(
            xr, ldx, m, k, chunks, ck, ci, nullptr, nullptr);
        SAS_TRY(check_launch(ByAbs ? "topk_chunk_kernel<abs>" : "topk_chunk_kernel"));
    }
    const size_t merge_smem = total <= kChunkMax ? size_t(total) * sizeof(uint32_t) : 0;
    topk_merge_kernel<T, Stage><<<unsigned(rows), kTopkThreads, merge_smem, st>>>(xr, ldx, total, k, ck, ci,
                                                                     out_values, out_indices, done);
    return check_launch("topk_merge_kernel");
}

template <class T, bool ByAbs, bool Stage>
sas_status launch_topk(cudaStream_t st, const T *x, int64_t ldx, int64_t n, int64_t m, int k, float *out_values,
                       int64_t *out_indices, int slot) {
    const int chunks = chunks_for(n, m, k);
    const size_t smem = size_t((m + chunks - 1) / chunks) * sizeof(uint32_t);
    const char *what = ByAbs ? "topk_chunk_kernel<abs>" : "topk_chunk_kernel";
    for (int64_t r0 = 0; r0 < n; r0 += 65535) {  // grid.y limit
        const int64_t rows = std::min<int64_t>(n - r0, 65535);
        const T *xr = x + r0 * ldx;
        if (chunks == 1) {
            topk_chunk_kernel<T, ByAbs, Stage><<<dim3(1, unsigned(rows)), kTopkThreads, smem, st>>>(
                xr, ldx, m, k, 1, nullptr, nullptr, out_values + r0 * k, out_indices + r0 * k);
            SAS_TRY(check_launch(what));
            continue;
        }
        SAS_TRY((launch_chunked<T, ByAbs, Stage>(st, xr, ldx, rows, m, k, chunks, out_values + r0 * k,
                                                 out_indices + r0 * k, slot, nullptr)));
    }
    return SAS_OK;
}


// ---- Variant SAS_CUDA_TOPK_HIST (kernels/src/variants.h): a per-row threshold from a histogram, then only
// the keys at or above it ------------------------------------------------------------------------------
// Why: the default's phase 1 selects each chunk's k largest with radix passes in shared memory, ~150
// instructions per key, so top-k over many rows ran at 10-11% of the memory bandwidth on the H200 (64 and
// 512 rows, where it missed 2x torch.topk). Here a key costs a load, a shift and, mostly, no atomic,
// twice over; only the few keys at or above a row's threshold are selected. For rows of more than one
// chunk (m > 8192), in four launches and then the default's two:
//  H. block (c, r) adds chunk c of row r to the row's histogram of the keys' top 12 bits (sign, exponent
//     and three mantissa bits of a float key) in global memory: a shared histogram first, where a thread
//     adds its keys sharing its first key's digit with one atomic and a warp whose threads all share one
//     digit adds once (SAE codes are mostly exact zeros);
//  T. one block per row finds the digit b holding the row's k-th largest key (from the top) and the
//     count C >= k of keys in digits >= b; the row goes on here when C <= kHistCap, else to the default
//     kernels. The block then zeroes the row's histogram, so the buffer is zero for the next call;
//  F. block (c, r) keeps chunk c's keys of digit >= b, ranks them in index order (per-(register, warp)
//     ballot counts, rank_flags) and writes them with their indices to the chunk's Q slots, and their
//     count; a chunk with more than Q of them sends its row to the default kernels;
//  S. one block per row gathers its chunks' keys in chunk order, so in index order, into shared memory
//     (C of them), selects the k largest with block_topk_select (ties by position, i.e. by index) and
//     sorts them: the same selection as the default's, the same result as the CPU twin's;
//  then the default's two kernels for the rows sent there (phase 1 as a loop over (chunk, row) items in a
//  few blocks per SM, skipping the rows done; phase 2's blocks return at once for those).
// Two reads of x instead of one, each at about the memory's pace by estimate; a row sent to the default
// kernels (many keys sharing the k-th key's digit: a row with fewer than k non-zeros, or near-equal keys;
// or more than Q of them in one chunk: a sorted row) pays for both.
constexpr int kHistShift = 20;                     // digit = key >> 20: 12 bits
constexpr int kHistBins = 1 << (32 - kHistShift);  // 4096
constexpr int kHistV = int(kChunkMax / kTopkThreads);  // keys per thread of a chunk
constexpr int64_t kHistCap = 4096;                 // C a row may keep (S holds C keys and indices: 32 KB)
constexpr int64_t kHistRows = 512;                 // rows per round: histograms of 8 MiB (a stream buffer)
constexpr int kHistSlot = 7;                       // that buffer's slot: zero between calls (T zeroes it)
constexpr int kHistMaxChunks = int((int64_t(1) << 21) / kChunkMin) + 1;  // chunks of a row of 2^21 (chunks_for)
static_assert(kHistV * kTopkThreads == kChunkMax, "a chunk is kHistV keys per thread");
static_assert(kHistBins % kTopkThreads == 0, "T: whole bins per thread");

// Chunk c of row r as kHistV keys per thread (entry u * kTopkThreads + t in keys[u]: coalesced loads, and
// (u, warp, lane) is index order); entries past the chunk are not valid.
template <class T, bool ByAbs>
__device__ __forceinline__ void load_chunk(const T *seg, int64_t len, uint32_t (&keys)[kHistV]) {
#pragma unroll
    for (int u = 0; u < kHistV; ++u) {
        const int64_t j = int64_t(u) * kTopkThreads + threadIdx.x;
        keys[u] = j < len ? key_dev<ByAbs>(seg[j]) : 0u;
    }
}

template <class T, bool ByAbs>
__global__ void __launch_bounds__(kTopkThreads)
    topk_hist_kernel(const T *__restrict__ x, int64_t ldx, int64_t m, int chunks, uint32_t *__restrict__ hist) {
    __shared__ uint32_t h[kHistBins];
    const int c = blockIdx.x;
    const int64_t r = blockIdx.y;
    const int64_t c0 = int64_t(c) * m / chunks, len = int64_t(c + 1) * m / chunks - c0;
    uint32_t keys[kHistV];
    load_chunk<T, ByAbs>(x + r * ldx + c0, len, keys);
    for (int i = threadIdx.x; i < kHistBins; i += kTopkThreads) h[i] = 0u;
    __syncthreads();
    // This thread's keys that share its first key's digit d0: one count; the others one atomic each.
    const uint32_t d0 = keys[0] >> kHistShift;
    uint32_t n0 = 0;
#pragma unroll
    for (int u = 0; u < kHistV; ++u) {
        const int64_t j = int64_t(u) * kTopkThreads + threadIdx.x;
        if (j < len) {
            const uint32_t d = keys[u] >> kHistShift;
            if (d == d0)
                ++n0;
            else
                atomicAdd(&h[d], 1u);
        }
    }
    // A warp whose threads' d0 agree (or who have no key) adds its n0s once.
    const uint32_t lead = __shfl_sync(0xffffffffu, d0, 0);
    if (__all_sync(0xffffffffu, n0 == 0u || d0 == lead)) {
        uint32_t sum = n0;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        if ((threadIdx.x & 31u) == 0 && sum) atomicAdd(&h[lead], sum);
    } else if (n0) {
        atomicAdd(&h[d0], n0);
    }
    __syncthreads();
    uint32_t *hr = hist + r * kHistBins;
    for (int i = threadIdx.x; i < kHistBins; i += kTopkThreads)
        if (h[i]) atomicAdd(&hr[i], h[i]);
}

// T: state[2 r] = b, state[2 r + 1] = C when the row goes on here (C <= kHistCap), else 0.
__global__ void __launch_bounds__(kTopkThreads)
    topk_hist_threshold_kernel(uint32_t *__restrict__ hist, int k, uint32_t *__restrict__ state) {
    __shared__ uint32_t warp_sums[33];
    constexpr int B = kHistBins / kTopkThreads;  // bins per thread, the highest first: thread t takes the
    const int64_t r = blockIdx.x;                // bins kHistBins - 1 - (B t + i), so thread order is
    uint32_t *hr = hist + r * kHistBins;         // descending digit order
    uint32_t cnt[B], local = 0;
#pragma unroll
    for (int i = 0; i < B; ++i) {
        cnt[i] = hr[kHistBins - 1 - (B * int(threadIdx.x) + i)];
        local += cnt[i];
    }
    uint32_t total = 0;
    uint32_t above = block_exclusive_sum(local, warp_sums, &total);  // keys in the digits above this thread's
#pragma unroll
    for (int i = 0; i < B; ++i) {
        if (above < uint32_t(k) && above + cnt[i] >= uint32_t(k)) {  // the digit of the k-th largest key
            const uint32_t C = above + cnt[i];
            state[2 * r] = uint32_t(kHistBins - 1 - (B * int(threadIdx.x) + i));
            state[2 * r + 1] = C <= uint32_t(kHistCap) ? C : 0u;
        }
        above += cnt[i];
    }
#pragma unroll
    for (int i = 0; i < B; ++i) hr[kHistBins - 1 - (B * int(threadIdx.x) + i)] = 0u;  // bins this thread read
}

// F: chunk c's keys of digit >= b and their indices, in index order, to slots [(r chunks + c) Q, + Q).
template <class T, bool ByAbs>
__global__ void __launch_bounds__(kTopkThreads)
    topk_hist_filter_kernel(const T *__restrict__ x, int64_t ldx, int64_t m, int chunks, int Q, uint32_t *state,
                            uint32_t *__restrict__ cnt, uint32_t *__restrict__ sk, uint32_t *__restrict__ si) {
    constexpr int W = kTopkThreads / 32;
    __shared__ uint32_t counts[kHistV * W + 1];
    __shared__ uint32_t s_go;
    const int c = blockIdx.x;
    const int64_t r = blockIdx.y;
    // Whether the row goes on here, read once for the block: another block of the row may clear it while
    // this one starts (a chunk with more than Q kept keys), and the block must take one branch. Both the
    // read and that clear are atomic: they race by design (either value is right: a cleared row's kept
    // keys go unused), and a plain load and store racing is a data race in CUDA's memory model (the
    // emulation under ThreadSanitizer reported it).
    if (threadIdx.x == 0) s_go = atomicAdd(&state[2 * r + 1], 0u);
    __syncthreads();
    if (s_go == 0u) return;  // the row goes to the default kernels
    const uint32_t b = state[2 * r];
    const int64_t c0 = int64_t(c) * m / chunks, len = int64_t(c + 1) * m / chunks - c0;
    uint32_t keys[kHistV];
    load_chunk<T, ByAbs>(x + r * ldx + c0, len, keys);
    unsigned keep = 0;
#pragma unroll
    for (int u = 0; u < kHistV; ++u) {
        const int64_t j = int64_t(u) * kTopkThreads + threadIdx.x;
        keep |= unsigned(j < len && (keys[u] >> kHistShift) >= b) << u;
    }
    rank_flags<kHistV, kTopkThreads>(keep, counts);
    const uint32_t kept = counts[kHistV * W];
    if (kept > uint32_t(Q)) {  // uniform
        if (threadIdx.x == 0) atomicExch(&state[2 * r + 1], 0u);  // to the default kernels
        return;
    }
    const int64_t base = (r * chunks + c) * int64_t(Q);
    const unsigned below = (1u << (threadIdx.x & 31u)) - 1u;
    const int warp = int(threadIdx.x >> 5);
#pragma unroll
    for (int u = 0; u < kHistV; ++u) {
        const unsigned ball = __ballot_sync(0xffffffffu, (keep >> u) & 1u);
        if ((keep >> u) & 1u) {
            const uint32_t pos = counts[u * W + warp] + uint32_t(__popc(ball & below));
            sk[base + pos] = keys[u];
            si[base + pos] = uint32_t(c0 + int64_t(u) * kTopkThreads + threadIdx.x);
        }
    }
    if (threadIdx.x == 0) cnt[r * chunks + c] = kept;
}

// S: the k largest of the row's C kept keys, sorted.
template <class T>
__global__ void __launch_bounds__(kTopkThreads)
    topk_hist_select_kernel(const T *__restrict__ x, int64_t ldx, int chunks, int Q, int k,
                            const uint32_t *__restrict__ state, const uint32_t *__restrict__ cnt,
                            const uint32_t *__restrict__ sk, const uint32_t *__restrict__ si,
                            float *__restrict__ out_values, int64_t *__restrict__ out_indices) {
    extern __shared__ uint32_t kept[];  // [kHistCap] keys, then [kHistCap] indices
    __shared__ TopkSmem sm;
    __shared__ uint32_t off[kHistMaxChunks + 1];
    const int64_t r = blockIdx.x;
    if (state[2 * r + 1] == 0u) return;  // uniform
    uint32_t *kidx = kept + kHistCap;
    for (int c0 = 0; c0 < chunks; c0 += kTopkThreads) {  // offsets of the chunks' keys, in chunk order
        const int c = c0 + int(threadIdx.x);
        const uint32_t v = c < chunks ? cnt[r * chunks + c] : 0u;
        uint32_t sum = 0;
        const uint32_t ex = block_exclusive_sum(v, sm.warp_sums, &sum);
        const uint32_t base = c0 == 0 ? 0u : off[c0];
        if (c < chunks) off[c] = base + ex;
        if (threadIdx.x == 0) off[c0 + kTopkThreads < chunks ? c0 + kTopkThreads : chunks] = base + sum;
        __syncthreads();
    }
    const int64_t total = off[chunks];  // == state[2 r + 1]
    for (int64_t p = threadIdx.x; p < total; p += kTopkThreads) {
        int lo = 0, hi = chunks - 1;  // the last chunk whose offset is <= p
        while (lo < hi) {
            const int mid = (lo + hi + 1) >> 1;
            if (off[mid] <= uint32_t(p)) lo = mid; else hi = mid - 1;
        }
        const int64_t q = (r * chunks + lo) * int64_t(Q) + (p - off[lo]);
        kept[p] = sk[q];
        kidx[p] = si[q];
    }
    __syncthreads();
    block_topk_select([&](int64_t p) { return kept[p]; }, total, k, sm);
    write_sorted(sm.cand, k, x + r * ldx, [kidx](int64_t p) { return int64_t(kidx[p]); }, out_values + r * k,
                 out_indices + r * k);
}

// Histogram buffers left non-zero by a call that failed between H and T (a launch refused): zeroed by
// the next call on them.
std::mutex g_hist_dirty_mu;
std::set<const void *> g_hist_dirty;

template <class T, bool ByAbs>
sas_status launch_topk_hist(cudaStream_t st, const T *x, int64_t ldx, int64_t n, int64_t m, int k, float *out_values,
                            int64_t *out_indices, int slot) {
    const int chunks = chunks_for(n, m, k);
    if (chunks == 1 || chunks > kHistMaxChunks)
        return launch_topk<T, ByAbs, false>(st, x, ldx, n, m, k, out_values, out_indices, slot);
    // Slots per chunk: twice a chunk's share of the most a row may keep (at least 32, at most the chunk).
    const int Q = int(std::min<int64_t>(std::max<int64_t>(32, 2 * kHistCap / chunks), kChunkMax));
    const char *what = "sas_topk";
    for (int64_t r0 = 0; r0 < n; r0 += kHistRows) {
        const int64_t rows = std::min<int64_t>(n - r0, kHistRows);
        const T *xr = x + r0 * ldx;
        float *ov = out_values + r0 * k;
        int64_t *oi = out_indices + r0 * k;
        // The rows' state (b, C) at the buffer's start, their histograms after it: a call with more rows
        // than the one before must find zeros where that one kept its state.
        void *hb = nullptr;
        const size_t hist_bytes = size_t(rows) * kHistBins * sizeof(uint32_t);
        SAS_TRY(stream_buffer(st, kHistSlot, size_t(2 * kHistRows) * sizeof(uint32_t) + hist_bytes, &hb, what, true));
        uint32_t *state = static_cast<uint32_t *>(hb), *hist = state + 2 * kHistRows;
        {
            std::lock_guard<std::mutex> lock(g_hist_dirty_mu);
            if (g_hist_dirty.erase(hb)) SAS_TRY(check_cuda(cudaMemsetAsync(hist, 0, hist_bytes, st), what));
        }
        Scratch ws(st, slot);
        SAS_TRY(ws.alloc(size_t(rows * chunks) * size_t(1 + 2 * Q) * sizeof(uint32_t), what));
        uint32_t *cnt = ws.as<uint32_t>(), *sk = cnt + rows * chunks, *si = sk + rows * chunks * Q;
        const dim3 grid{unsigned(chunks), unsigned(rows)};
        topk_hist_kernel<T, ByAbs><<<grid, kTopkThreads, 0, st>>>(xr, ldx, m, chunks, hist);
        SAS_TRY(check_launch("topk_hist_kernel"));
        topk_hist_threshold_kernel<<<unsigned(rows), kTopkThreads, 0, st>>>(hist, k, state);
        if (const sas_status s = check_launch("topk_hist_threshold_kernel"); s != SAS_OK) {
            std::lock_guard<std::mutex> lock(g_hist_dirty_mu);
            g_hist_dirty.insert(hb);
            return s;
        }
        topk_hist_filter_kernel<T, ByAbs><<<grid, kTopkThreads, 0, st>>>(xr, ldx, m, chunks, Q, state, cnt, sk, si);
        SAS_TRY(check_launch("topk_hist_filter_kernel"));
        topk_hist_select_kernel<T><<<unsigned(rows), kTopkThreads, size_t(2 * kHistCap) * sizeof(uint32_t), st>>>(
            xr, ldx, chunks, Q, k, state, cnt, sk, si, ov, oi);
        SAS_TRY(check_launch("topk_hist_select_kernel"));
        SAS_TRY((launch_chunked<T, ByAbs, false>(st, xr, ldx, rows, m, k, chunks, ov, oi, slot, state)));
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
        // Variant SAS_CUDA_TOPK_STAGE: phase 1's loads 8 per thread in flight (stage_keys above);
        // SAS_CUDA_TOPK_REG: keys in registers (register_select.cuh), taken before it;
        // SAS_CUDA_TOPK_HIST: a threshold from a histogram (above), taken before both. Same result.
        if (variant_on(variants::kTopkHist))
            return by_abs ? launch_topk_hist<T, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                          : launch_topk_hist<T, false>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
        if (variant_on(variants::kTopkReg))
            return by_abs ? launch_topk_reg<T, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                          : launch_topk_reg<T, false>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
        if (variant_on(variants::kTopkStage))
            return by_abs ? launch_topk<T, true, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                          : launch_topk<T, false, true>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
        return by_abs ? launch_topk<T, true, false>(st, xp, ldx, n, m, k, out_values, out_indices, slot)
                      : launch_topk<T, false, false>(st, xp, ldx, n, m, k, out_values, out_indices, slot);
    });
}

}  // namespace cuda
}  // namespace sas
