// Block-level building blocks shared by the .cu files (header-only, no relocatable device code):
// an ordered block-wide exclusive count, a bitonic sort of up to 1024 64-bit keys, and a
// deterministic radix-select top-k over one row.
#pragma once

#include "cuda_common.cuh"

namespace sas {
namespace cuda {

constexpr int kTopkThreads = 1024;  // block size of the per-row top-k / compaction kernels
constexpr int kMaxCand = 1024;      // k <= 1024

// Exclusive count of `flag` over the block in thread order; *total gets the block total.
// warp_sums: __shared__ uint32_t[32]. Every thread of the block must call it (contains __syncthreads).
__device__ __forceinline__ uint32_t block_exclusive_count(bool flag, uint32_t *warp_sums, uint32_t *total) {
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    const unsigned nwarps = (blockDim.x + 31u) >> 5;
    const unsigned ballot = __ballot_sync(0xffffffffu, flag);
    const uint32_t in_warp = __popc(ballot & ((1u << lane) - 1u));
    if (lane == 0) warp_sums[warp] = __popc(ballot);
    __syncthreads();
    if (warp == 0) {
        uint32_t v = lane < nwarps ? warp_sums[lane] : 0u;
        uint32_t incl = v;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            uint32_t t = __shfl_up_sync(0xffffffffu, incl, o);
            if (lane >= unsigned(o)) incl += t;
        }
        if (lane < nwarps) warp_sums[lane] = incl - v;  // exclusive prefix of the warps
        if (lane == 31) warp_sums[32] = incl;           // block total (warp_sums has 33 slots)
    }
    __syncthreads();
    const uint32_t res = warp_sums[warp] + in_warp;
    *total = warp_sums[32];
    __syncthreads();  // warp_sums may be reused right after
    return res;
}

// Sorts keys[0..P) descending (P a power of two <= 1024). All threads call it.
__device__ __forceinline__ void bitonic_sort_desc(unsigned long long *keys, int P) {
    for (int size = 2; size <= P; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = threadIdx.x; i < P; i += blockDim.x) {
                const int j = i ^ stride;
                if (j > i) {
                    const bool desc = (i & size) == 0;
                    const unsigned long long a = keys[i], b = keys[j];
                    if ((a < b) == desc) {
                        keys[i] = b;
                        keys[j] = a;
                    }
                }
            }
            __syncthreads();
        }
    }
}

__host__ __device__ __forceinline__ int pow2_at_least(int k) {
    int p = 1;
    while (p < k) p <<= 1;
    return p;
}

struct TopkSmem {
    uint32_t hist[256];
    uint32_t warp_sums[33];
    uint32_t chosen, remaining;
    unsigned long long cand[kMaxCand];
};

// In-place exclusive scan of c[0..E) by warp 0 (E <= 32 * 32); c[E] gets the total. Block-wide barriers
// before and after are the caller's.
__device__ __forceinline__ void warp0_exclusive_scan(uint32_t *c, int E) {
    if (threadIdx.x >= 32) return;
    const int lane = int(threadIdx.x), per = (E + 31) / 32;
    const int b = lane * per, e = b + per < E ? b + per : E;
    uint32_t local = 0;
    for (int i = b; i < e; ++i) local += c[i];
    uint32_t incl = local;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const uint32_t u = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += u;
    }
    uint32_t run = incl - local;
    for (int i = b; i < e; ++i) {
        const uint32_t v = c[i];
        c[i] = run;
        run += v;
    }
    if (lane == 31) c[E] = incl;
}

// Ranks flags in index order over a block of Threads threads where thread t holds entry u * Threads + t in
// bit u of `bits` (u < V): on return counts[u * W + warp] + popc(ballot_u & lanes below) is an entry's rank
// and counts[V * W] the total (W = Threads / 32; counts holds V * W + 1 <= 1025 values). All threads call
// it; a warp may rewrite its own counts (the next call) once it has read them, the others only after a
// barrier.
template <int V, int Threads> __device__ __forceinline__ void rank_flags(unsigned bits, uint32_t *counts) {
    constexpr int W = Threads / 32;
    static_assert(V * W <= 32 * 32, "warp0_exclusive_scan takes <= 1024 counts");
    const int warp = int(threadIdx.x >> 5);
#pragma unroll
    for (int u = 0; u < V; ++u) {
        const unsigned ball = __ballot_sync(0xffffffffu, (bits >> u) & 1u);
        if ((threadIdx.x & 31u) == 0) counts[u * W + warp] = uint32_t(__popc(ball));
    }
    __syncthreads();
    warp0_exclusive_scan(counts, V * W);
    __syncthreads();
}

// Selects the k entries of largest key (ties: lowest index) of a row of length m, where key_of(j)
// gives the 32-bit order key of entry j. On return (after a barrier) sm.cand[0..k) holds
// (key << 32) | (0xffffffff - j) for the selected entries in index order, and sm.cand[k..P) = 0.
// Radix select over 4 digits of 8 bits finds the k-th key T exactly; then one ordered pass takes every
// key > T and the first (lowest index) entries equal to T. Integer counts only: deterministic.
template <class KeyOf>
__device__ void block_topk_select(KeyOf key_of, int64_t m, int k, TopkSmem &sm) {
    uint32_t prefix = 0, mask = 0;
    uint32_t kr = uint32_t(k);
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = threadIdx.x; i < 256; i += blockDim.x) sm.hist[i] = 0;
        __syncthreads();
        for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
            const uint32_t key = key_of(j);
            if ((key & mask) == prefix) atomicAdd(&sm.hist[(key >> shift) & 0xffu], 1u);
        }
        __syncthreads();
        // Which digit holds the kr-th largest key: warp 0 scans the histogram from the top, lane L
        // owning the 8 digits 255 - 8L ... 248 - 8L (a serial scan by one thread cost ~4 us a pass).
        if (threadIdx.x < 32) {
            const int lane = int(threadIdx.x);
            uint32_t c[8], local = 0;
#pragma unroll
            for (int t = 0; t < 8; ++t) local += (c[t] = sm.hist[255 - 8 * lane - t]);
            uint32_t incl = local;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const uint32_t u = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += u;
            }
            uint32_t cum = incl - local;  // keys in the digits above this lane's
            if (cum < kr && kr <= incl) {  // exactly one lane: the digits hold >= kr matching keys
#pragma unroll
                for (int t = 0; t < 8; ++t) {
                    if (cum + c[t] >= kr) {
                        sm.chosen = uint32_t(255 - 8 * lane - t);
                        sm.remaining = kr - cum;
                        break;
                    }
                    cum += c[t];
                }
            }
        }
        __syncthreads();
        prefix |= sm.chosen << shift;
        mask |= 0xffu << shift;
        kr = sm.remaining;
        __syncthreads();
    }
    const uint32_t T = prefix;   // the k-th largest key
    const uint32_t need_eq = kr; // how many entries equal to T are taken (the lowest indices)
    uint32_t eq_base = 0, sel_base = 0;
    for (int64_t t0 = 0; t0 < m; t0 += blockDim.x) {
        const int64_t j = t0 + threadIdx.x;
        uint32_t key = 0;
        if (j < m) key = key_of(j);
        const bool gt = j < m && key > T;
        const bool eq = j < m && key == T;
        uint32_t eq_total, sel_total;
        const uint32_t eq_rank = eq_base + block_exclusive_count(eq, sm.warp_sums, &eq_total);
        const bool sel = gt || (eq && eq_rank < need_eq);
        const uint32_t pos = sel_base + block_exclusive_count(sel, sm.warp_sums, &sel_total);
        if (sel && pos < uint32_t(kMaxCand))
            sm.cand[pos] = (static_cast<unsigned long long>(key) << 32) | (0xffffffffu - uint32_t(j));
        eq_base += eq_total;
        sel_base += sel_total;
    }
    const int P = pow2_at_least(k);
    for (int i = k + threadIdx.x; i < P; i += blockDim.x) sm.cand[i] = 0ull;
    __syncthreads();
}

__device__ __forceinline__ int64_t cand_index(unsigned long long c) {
    return int64_t(0xffffffffu - uint32_t(c & 0xffffffffull));
}
__device__ __forceinline__ uint32_t cand_key(unsigned long long c) { return uint32_t(c >> 32); }

}  // namespace cuda
}  // namespace sas
