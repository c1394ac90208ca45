// Block-wide top-k of up to V * Threads keys held in registers (variant SAS_CUDA_TOPK_REG; top-k's
// phase 1 chunks and phase 2 merges in topk.cu). Same selection as block_topk_select (block_util.cuh):
// the k largest 32-bit keys, ties at the k-th key taken by the lowest index, and the same candidate
// encoding in index order; a different way to find it.
//
// Why: block_topk_select keeps a chunk's keys in shared memory and, for each of its four 8-bit radix
// passes, reads every key and adds it to a shared histogram, then ranks the selection with two
// block-wide counts (six barriers) per blockDim keys. On an H200 that costs ~150 instructions per key,
// so top-k over many rows ran at 10-11% of the memory bandwidth (BENCHMARKS.md section 3) and a chunk of
// 8192 keys took 17 us with the DRAM 5% busy. Here each key is loaded once into a register and:
//  - the first radix digit is 11 bits wide (sign, exponent and two mantissa bits of a float key), so the
//    digit holding the k-th key usually holds few keys; a thread adds its keys that share its first
//    key's digit with one atomic (SAE codes are mostly exact zeros: one digit), a warp whose threads
//    all share it with one;
//  - the later passes re-test the registers (a compare per key) and touch the histogram only for keys in
//    the chosen digit; they start below the bits that the digit's smallest and largest key share, and
//    are skipped when those two are equal (a digit of zeros) or when the whole digit is taken;
//  - one ranking of all keys at once: per-(register, warp) ballot counts, scanned by warp 0.
// Thread t holds entry j = u * Threads + t in keys[u], so the loads coalesce for any dtype and the order
// (u, warp, lane) is index order.
#pragma once

#include "block_util.cuh"

namespace sas {
namespace cuda {

constexpr int kRegDigitBits = 11;                // first radix digit
constexpr int kRegBins = 1 << kRegDigitBits;     // its histogram (also holds the later 8-bit passes)

template <int V, int Threads> struct RegSelectSmem {
    static constexpr int kWarps = Threads / 32;
    static_assert(Threads % 32 == 0 && Threads <= 1024 && kRegBins % Threads == 0, "block shape");
    static_assert(V * kWarps <= 32 * 32, "warp0_exclusive_scan takes <= 1024 counts");
    uint32_t hist[kRegBins];
    uint32_t counts[V * kWarps + 1];  // per-(u, warp) counts, then their exclusive scan; [V * kWarps]: total
    uint32_t warp_sums[33];
    uint32_t lo, hi;                  // smallest and largest key in the chosen first digit
    uint32_t chosen, remaining, eq_total;
    unsigned long long cand[kMaxCand];
};

// Exclusive prefix sum of v over the block in thread order; *total gets the block total. All threads call
// it (barriers inside; warp_sums may be reused when it returns).
__device__ __forceinline__ uint32_t block_exclusive_sum(uint32_t v, uint32_t *warp_sums, uint32_t *total) {
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31u) >> 5;
    uint32_t incl = v;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const uint32_t t = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= unsigned(o)) incl += t;
    }
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        const uint32_t w = lane < nwarps ? warp_sums[lane] : 0u;
        uint32_t winc = w;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const uint32_t t = __shfl_up_sync(0xffffffffu, winc, o);
            if (lane >= unsigned(o)) winc += t;
        }
        if (lane < nwarps) warp_sums[lane] = winc - w;
        if (lane == 31) warp_sums[32] = winc;
    }
    __syncthreads();
    const uint32_t res = warp_sums[warp] + incl - v;
    *total = warp_sums[32];
    __syncthreads();
    return res;
}

// Warp 0: the digit of sm.hist[0..256) holding the kr-th largest counted key, from the top; writes
// sm.chosen, sm.remaining (kr less the keys in the digits above) and sm.eq_total (the digit's count).
template <class Smem> __device__ __forceinline__ void warp0_pick_digit(Smem &sm, uint32_t kr) {
    if (threadIdx.x >= 32) return;
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
    uint32_t cum = incl - local;
    if (cum < kr && kr <= incl) {
#pragma unroll
        for (int t = 0; t < 8; ++t) {
            if (cum + c[t] >= kr) {
                sm.chosen = uint32_t(255 - 8 * lane - t);
                sm.remaining = kr - cum;
                sm.eq_total = c[t];
                break;
            }
            cum += c[t];
        }
    }
}

__device__ __forceinline__ uint32_t warp_min_u32(uint32_t v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const uint32_t t = __shfl_xor_sync(0xffffffffu, v, o);
        v = t < v ? t : v;
    }
    return v;
}
__device__ __forceinline__ uint32_t warp_max_u32(uint32_t v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const uint32_t t = __shfl_xor_sync(0xffffffffu, v, o);
        v = t > v ? t : v;
    }
    return v;
}

// Selects the k (1 <= k <= min(len, kMaxCand)) largest of keys[u] (entry j = u * Threads + threadIdx.x,
// j < len; the others are ignored), ties by the lowest index. On return (after a barrier) sm.cand[0..k)
// holds (key << 32) | (0xffffffff - index_of(j)) for the selected entries in index order and
// sm.cand[k..P) = 0, P = pow2_at_least(k), as block_topk_select leaves them. Called by all threads.
template <int V, int Threads, class IndexOf>
__device__ __forceinline__ void register_topk_select(const uint32_t (&keys)[V], int64_t len, int k, RegSelectSmem<V, Threads> &sm,
                                     IndexOf index_of) {
    const unsigned lane = threadIdx.x & 31u;
    const int tid = int(threadIdx.x);
    // This thread's entries u < nv are in the row (32-bit compares in the unrolled loops below).
    const int64_t per = len <= tid ? 0 : (len - tid + Threads - 1) / Threads;
    const int nv = per < V ? int(per) : V;
    auto valid = [nv](int u) { return u < nv; };

    // Pass 1: histogram of the top 11 bits.
    for (int i = tid; i < kRegBins; i += Threads) sm.hist[i] = 0;
    if (tid == 0) {
        sm.lo = 0xffffffffu;
        sm.hi = 0;
    }
    __syncthreads();
    {
        constexpr uint32_t kNone = 0xffffffffu;
        const uint32_t d0 = valid(0) ? keys[0] >> (32 - kRegDigitBits) : kNone;
        uint32_t run = 0;  // this thread's keys in digit d0
#pragma unroll
        for (int u = 0; u < V; ++u) {
            if (!valid(u)) continue;
            const uint32_t d = keys[u] >> (32 - kRegDigitBits);
            if (d == d0)
                ++run;
            else
                atomicAdd(&sm.hist[d], 1u);
        }
        // Lane 0 holds the warp's lowest entry: if it has none, no lane has any (run = 0 everywhere).
        const uint32_t first = __shfl_sync(0xffffffffu, d0, 0);
        if (__all_sync(0xffffffffu, d0 == first || run == 0)) {
            uint32_t sum = run;
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            if (lane == 0 && sum > 0) atomicAdd(&sm.hist[first], sum);
        } else if (run > 0) {
            atomicAdd(&sm.hist[d0], run);
        }
    }
    __syncthreads();
    // The digit holding the k-th largest key: a block-wide scan of the bins from the top, thread t owning
    // bins 2047 - t * B ... 2048 - (t + 1) * B.
    {
        constexpr int B = kRegBins / Threads;
        uint32_t c[B], local = 0;
#pragma unroll
        for (int b = 0; b < B; ++b) local += (c[b] = sm.hist[kRegBins - 1 - tid * B - b]);
        uint32_t total;
        uint32_t cum = block_exclusive_sum(local, sm.warp_sums, &total);
        const uint32_t kk = uint32_t(k);
        if (cum < kk && kk <= cum + local) {
#pragma unroll
            for (int b = 0; b < B; ++b) {
                if (cum + c[b] >= kk) {
                    sm.chosen = uint32_t(kRegBins - 1 - tid * B - b);
                    sm.remaining = kk - cum;
                    sm.eq_total = c[b];
                    break;
                }
                cum += c[b];
            }
        }
        __syncthreads();
    }
    const uint32_t d1 = sm.chosen;
    uint32_t kr = sm.remaining;
    const uint32_t in_digit = sm.eq_total;  // keys in digit d1, kr of them taken
    // Smallest and largest key in digit d1.
    {
        uint32_t lo = 0xffffffffu, hi = 0;
#pragma unroll
        for (int u = 0; u < V; ++u) {
            if (valid(u) && (keys[u] >> (32 - kRegDigitBits)) == d1) {
                lo = keys[u] < lo ? keys[u] : lo;
                hi = keys[u] > hi ? keys[u] : hi;
            }
        }
        lo = warp_min_u32(lo);
        hi = warp_max_u32(hi);
        if (lane == 0) {
            atomicMin(&sm.lo, lo);
            atomicMax(&sm.hi, hi);
        }
        __syncthreads();
    }
    const uint32_t lo = sm.lo, hi = sm.hi;
    // The k-th key T, and how many keys equal to T are taken (need_eq) of how many (eq_total).
    uint32_t T = lo, need_eq = kr, eq_total = in_digit;
    if (kr == in_digit) {
        // The whole digit is taken: every key >= lo (need_eq == eq_total: no tie to break).
        need_eq = eq_total = 1;
    } else if (lo != hi) {
        // Radix passes below the bits lo and hi share (every key of the digit lies in [lo, hi], so shares them).
        int hb = 32 - __clz(int(lo ^ hi));  // bits below the shared prefix (<= 32 - kRegDigitBits)
        uint32_t mask = hb >= 32 ? 0u : ~((1u << hb) - 1u), prefix = lo & mask;
        while (hb > 0) {
            const int shift = hb > 8 ? hb - 8 : 0;
            const uint32_t digit_mask = (1u << (hb - shift)) - 1u;
            for (int i = tid; i < 256; i += Threads) sm.hist[i] = 0;
            __syncthreads();
#pragma unroll
            for (int u = 0; u < V; ++u)
                if (valid(u) && (keys[u] & mask) == prefix) atomicAdd(&sm.hist[(keys[u] >> shift) & digit_mask], 1u);
            __syncthreads();
            warp0_pick_digit(sm, kr);
            __syncthreads();
            prefix |= sm.chosen << shift;
            mask |= digit_mask << shift;
            kr = sm.remaining;
            eq_total = sm.eq_total;
            hb = shift;
            // No barrier here: the next pass rewrites sm.hist (read by warp 0 before the barrier above), and
            // sm.chosen / remaining only after its histogram barrier, which every thread reaches after
            // reading them.
        }
        T = prefix;
        need_eq = kr;
    }

    // Which entries are taken: every key > T, and the need_eq lowest-index keys equal to T.
    unsigned sel = 0;
    if (need_eq < eq_total) {  // ties at T: rank the keys equal to T in index order
        constexpr int W = RegSelectSmem<V, Threads>::kWarps;
        unsigned eq = 0;
#pragma unroll
        for (int u = 0; u < V; ++u) eq |= unsigned(valid(u) && keys[u] == T) << u;
        rank_flags<V, Threads>(eq, sm.counts);
        const unsigned below = (1u << lane) - 1u;
        const int warp = tid >> 5;
#pragma unroll
        for (int u = 0; u < V; ++u) {
            const unsigned ball = __ballot_sync(0xffffffffu, (eq >> u) & 1u);
            const uint32_t rank = sm.counts[u * W + warp] + uint32_t(__popc(ball & below));
            const bool take = valid(u) && (keys[u] > T || (((eq >> u) & 1u) && rank < need_eq));
            sel |= unsigned(take) << u;
        }
        // No barrier: below, each warp rewrites only its own counts before rank_flags' first barrier.
    } else {
#pragma unroll
        for (int u = 0; u < V; ++u) sel |= unsigned(valid(u) && keys[u] >= T) << u;
    }
    {
        constexpr int W = RegSelectSmem<V, Threads>::kWarps;
        rank_flags<V, Threads>(sel, sm.counts);
        const unsigned below = (1u << lane) - 1u;
        const int warp = tid >> 5;
#pragma unroll
        for (int u = 0; u < V; ++u) {
            const unsigned ball = __ballot_sync(0xffffffffu, (sel >> u) & 1u);
            const uint32_t pos = sm.counts[u * W + warp] + uint32_t(__popc(ball & below));
            if (((sel >> u) & 1u) && pos < uint32_t(kMaxCand)) {
                const int64_t j = int64_t(u) * Threads + tid;
                sm.cand[pos] = (static_cast<unsigned long long>(keys[u]) << 32) |
                               (0xffffffffu - uint32_t(index_of(j)));
            }
        }
    }
    const int P = pow2_at_least(k);
    for (int i = k + tid; i < P; i += Threads) sm.cand[i] = 0ull;
    __syncthreads();
}

}  // namespace cuda
}  // namespace sas
