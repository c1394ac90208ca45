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

constexpr int kSelRounds = 8;  // keys per thread per tile in the Fast ordered pass

struct TopkSmem {
    uint32_t hist[256];
    uint32_t warp_sums[33];
    uint32_t counts[kSelRounds * (kTopkThreads / 32) + 1];  // Fast ordered pass: per (round, warp), + total
    uint32_t chosen, remaining;
    unsigned long long cand[kMaxCand];
};

// Selects the k entries of largest key (ties: lowest index) of a row of length m, where key_of(j)
// gives the 32-bit order key of entry j. On return (after a barrier) sm.cand[0..k) holds
// (key << 32) | (0xffffffff - j) for the selected entries in index order, and sm.cand[k..P) = 0.
// Radix select over 4 digits of 8 bits finds the k-th key T exactly; then one ordered pass takes every
// key > T and the first (lowest index) entries equal to T. Integer counts only: deterministic.
//
// Fast = true (variant SAS_CUDA_TOPK_FAST, chosen in topk.cu; kernels/src/variants.h) changes how, not what:
//  - histograms add once per warp and digit (a warp whose keys in the pass share a digit adds them with
//    one atomic; a warp with at most 4 such keys adds them lane by lane; otherwise __match_any_sync
//    groups the lanes by digit). SAE codes are mostly exact zeros, so with per-lane atomics nearly every
//    key of a chunk hit one shared-memory counter, serialised;
//  - the ordered pass takes kSelRounds keys per thread per tile and ranks them with two block-wide scans
//    of per-(round, warp) ballot counts, instead of two block-wide counts (six barriers) per blockDim keys.
// Both give the same counts and the same ranks, hence the same selection.

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

template <bool Fast = false, class KeyOf>
__device__ void block_topk_select(KeyOf key_of, int64_t m, int k, TopkSmem &sm) {
    uint32_t prefix = 0, mask = 0;
    uint32_t kr = uint32_t(k);
    const unsigned lane_id = threadIdx.x & 31u;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = threadIdx.x; i < 256; i += blockDim.x) sm.hist[i] = 0;
        __syncthreads();
        if constexpr (Fast) {
            constexpr uint32_t kNone = 0xffffffffu;
            for (int64_t base = int64_t(threadIdx.x - lane_id); base < m; base += blockDim.x) {  // warp-uniform
                const int64_t j = base + lane_id;
                uint32_t bin = kNone;
                if (j < m) {
                    const uint32_t key = key_of(j);
                    if ((key & mask) == prefix) bin = (key >> shift) & 0xffu;
                }
                // Lanes with a key in this pass: all in one digit (a warp of zeros, the common case) -> one
                // add; at most 4 -> their own adds (little contention); else one add per distinct digit.
                const unsigned valid = __ballot_sync(0xffffffffu, bin != kNone);
                if (valid == 0u) continue;  // uniform over the warp
                const int leader = __ffs(int(valid)) - 1;
                const uint32_t first = __shfl_sync(0xffffffffu, bin, leader);
                if (__all_sync(0xffffffffu, bin == first || bin == kNone)) {
                    if (int(lane_id) == leader) atomicAdd(&sm.hist[first], uint32_t(__popc(valid)));
                } else if (__popc(valid) <= 4) {
                    if (bin != kNone) atomicAdd(&sm.hist[bin], 1u);
                } else {
                    const unsigned peers = __match_any_sync(0xffffffffu, bin);
                    if (bin != kNone && lane_id == unsigned(__ffs(int(peers)) - 1))
                        atomicAdd(&sm.hist[bin], uint32_t(__popc(peers)));
                }
            }
        } else {
            for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
                const uint32_t key = key_of(j);
                if ((key & mask) == prefix) atomicAdd(&sm.hist[(key >> shift) & 0xffu], 1u);
            }
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
    if constexpr (Fast) {
        // Tile of kSelRounds * blockDim keys: key j = t0 + q * blockDim + threadIdx (coalesced, and the
        // order (q, warp, lane) is index order). Ranks = scanned per-(q, warp) counts + lanes below.
        const int nwarps = int(blockDim.x >> 5), warp = int(threadIdx.x >> 5), E = kSelRounds * nwarps;
        const unsigned below = (1u << lane_id) - 1u;
        for (int64_t t0 = 0; t0 < m; t0 += int64_t(kSelRounds) * blockDim.x) {
            uint32_t key[kSelRounds], eq_before[kSelRounds];
            unsigned gt = 0, eq = 0, sel = 0;
#pragma unroll
            for (int q = 0; q < kSelRounds; ++q) {
                const int64_t j = t0 + int64_t(q) * blockDim.x + threadIdx.x;
                key[q] = j < m ? key_of(j) : 0u;
                const bool g = j < m && key[q] > T, e = j < m && key[q] == T;
                gt |= unsigned(g) << q;
                eq |= unsigned(e) << q;
                const unsigned ball = __ballot_sync(0xffffffffu, e);
                eq_before[q] = __popc(ball & below);
                if (lane_id == 0) sm.counts[q * nwarps + warp] = __popc(ball);
            }
            __syncthreads();
            warp0_exclusive_scan(sm.counts, E);
            __syncthreads();
            uint32_t sel_before[kSelRounds];
#pragma unroll
            for (int q = 0; q < kSelRounds; ++q) {
                const uint32_t eq_rank = eq_base + sm.counts[q * nwarps + warp] + eq_before[q];
                const bool s = (gt >> q & 1u) || ((eq >> q & 1u) && eq_rank < need_eq);
                sel |= unsigned(s) << q;
            }
            const uint32_t eq_total = sm.counts[E];
            __syncthreads();  // counts is rewritten below
#pragma unroll
            for (int q = 0; q < kSelRounds; ++q) {
                const unsigned ball = __ballot_sync(0xffffffffu, (sel >> q & 1u) != 0u);
                sel_before[q] = __popc(ball & below);
                if (lane_id == 0) sm.counts[q * nwarps + warp] = __popc(ball);
            }
            __syncthreads();
            warp0_exclusive_scan(sm.counts, E);
            __syncthreads();
#pragma unroll
            for (int q = 0; q < kSelRounds; ++q) {
                const uint32_t pos = sel_base + sm.counts[q * nwarps + warp] + sel_before[q];
                const int64_t j = t0 + int64_t(q) * blockDim.x + threadIdx.x;
                if ((sel >> q & 1u) && pos < uint32_t(kMaxCand))
                    sm.cand[pos] = (static_cast<unsigned long long>(key[q]) << 32) | (0xffffffffu - uint32_t(j));
            }
            eq_base += eq_total;
            sel_base += sm.counts[E];
            __syncthreads();  // counts is rewritten by the next tile
        }
    } else {
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
