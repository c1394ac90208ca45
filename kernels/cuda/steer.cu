// CUDA support packing (a gather) and the fused steering step. The step has two phases: (1) block-per-
// feature dot products of the ORIGINAL rows with the packed Wenc_S rows (reductions in a fixed order),
// giving c = relu(f + lambda v) - f in a small per-stream workspace; (2) x += c . Wdec_S, blocks over
// column groups, thread groups over the support, summed in a fixed order. Small steps (decode) run both
// phases in one cooperative launch with a grid-wide barrier between them; big batches use two launches,
// ordered by the stream. Rows with row_mask[r] == 0 are skipped by both phases, so they are never
// written; a row whose c is all zero is not written either (bit-for-bit unchanged).
#include <cooperative_groups.h>

#include "gemm.cuh"

namespace sas {
namespace cuda {

namespace {

template <class T>
__global__ void __launch_bounds__(256)
    pack_kernel(const T *__restrict__ W_enc, const T *__restrict__ b_enc, const T *__restrict__ threshold,
                const T *__restrict__ W_dec, int64_t d, int64_t m, const int64_t *__restrict__ S, int64_t s,
                T *__restrict__ Wenc_S, T *__restrict__ benc_S, T *__restrict__ thr_S, T *__restrict__ Wdec_S) {
    for (int64_t i = blockIdx.x; i < s; i += gridDim.x) {
        const int64_t j = S[i];
        const bool valid = j >= 0 && j < m;  // out-of-range entries (unchecked on CUDA) pack zeros
        const T zero = from_f32<T>(0.0f);
        for (int64_t k = threadIdx.x; k < d; k += blockDim.x) {
            Wenc_S[i * d + k] = valid ? W_enc[k * m + j] : zero;
            Wdec_S[i * d + k] = valid ? W_dec[j * d + k] : zero;
        }
        if (threadIdx.x == 0) {
            benc_S[i] = valid ? b_enc[j] : zero;
            if (thr_S) thr_S[i] = valid ? threshold[j] : zero;
        }
    }
}

// Both phases read 16-byte vectors (4 f32 or 8 bf16/f16) when d and the pointers allow, with the loop
// over d unrolled so several loads per lane are in flight: at n = 1 the step is pure latency (a few KB
// to a few MB of operands).
template <class T> __host__ __device__ constexpr int vec_of() { return int(16 / sizeof(T)); }

constexpr int kWarps = 8;  // both phases: 256-thread blocks
constexpr int kThreads = kWarps * 32;

struct SteerArgs {
    void *x;
    int64_t ldx, n, d, s;
    const void *Wenc_S, *benc_S, *thr_S, *Wdec_S;
    int jump;
    const float *v_S;
    float lambda;
    const uint8_t *row_mask;
    float *coef;  // [n, s]
    bool vec_enc, vec_dec;
    bool pdl = false;  // launched with programmatic stream serialization (SAS_CUDA_PDL): pdl_begin() first
    bool prefetch = false;  // SAS_CUDA_STEER_PREFETCH: later operands requested before the first round trip
};

// The per-feature scalars of c = relu(f + lambda v) - f with f = act(dot + b): b_enc, the JumpReLU
// threshold (0 for ReLU) and v, loaded by the one thread that finishes the feature.
struct FeatureScalars {
    float b, thr, v;
};
template <class T> __device__ __forceinline__ FeatureScalars load_scalars(const SteerArgs &a, int64_t i) {
    return {to_f32(static_cast<const T *>(a.benc_S)[i]), a.jump ? to_f32(static_cast<const T *>(a.thr_S)[i]) : 0.0f,
            a.v_S[i]};
}
__device__ __forceinline__ float coef_of(const SteerArgs &a, float dot, const FeatureScalars &fs) {
    const float pre = dot + fs.b;
    const float f = a.jump ? (pre > fs.thr ? pre : 0.0f) : relu_dev(pre);
    return relu_dev(f + a.lambda * fs.v) - f;
}

// Phase 1, one block per (row, feature i): c[r, i] = relu(f + lambda v_i) - f with
// f = act(x[r] . Wenc_S[i] + b_i). The 256 threads split d (one or two 16-byte vectors each at d = 2304,
// so one round trip to memory), sum in order, then a fixed shuffle tree and the 8 warp sums in order.
// Coherent loads of x: the cooperative kernel writes x in its phase 2. Every thread calls it.
// Thread 0 loads the feature's scalars after the reduction, or (SAS_CUDA_STEER_PREFETCH) before the dot
// product, so that their round trip overlaps W_enc's instead of following it.
template <class T> __device__ __forceinline__ void coef_one(const SteerArgs &a, int64_t r, int64_t i, float *wsum) {
    constexpr int V = vec_of<T>();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const T *xr = static_cast<const T *>(a.x) + r * a.ldx;
    const T *w = static_cast<const T *>(a.Wenc_S) + i * a.d;
    const bool early = a.prefetch && threadIdx.x == 0;
    FeatureScalars fs{0.0f, 0.0f, 0.0f};
    if (early) fs = load_scalars<T>(a, i);
    float acc = 0.0f;
    if (a.vec_enc) {
        const int64_t nv = a.d / V;
#pragma unroll 2
        for (int64_t q = threadIdx.x; q < nv; q += kThreads) {
            float xv[V], wv[V];
            load_vec_plain(xr + q * V, xv);
            load_vec(w + q * V, wv);
#pragma unroll
            for (int c = 0; c < V; ++c) acc += xv[c] * wv[c];
        }
    } else {
        for (int64_t k = threadIdx.x; k < a.d; k += kThreads) acc += to_f32(xr[k]) * to_f32(w[k]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) wsum[warp] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < kWarps; ++k) dot += wsum[k];
        if (!early) fs = load_scalars<T>(a, i);
        a.coef[r * a.s + i] = coef_of(a, dot, fs);
    }
    __syncthreads();  // wsum is reused by the block's next item
}

// Phase 2, one block per (row, column group of 8 V columns: 64 for bf16/f16, 32 for f32). Thread
// (g, l) = (tid / 8, tid % 8) owns V consecutive columns and sums c_t Wdec_S[t] over t = g, g + 32, ...
// (16-byte loads, 128 contiguous bytes per group of 8 threads); the 32 groups' partials are added to x
// in a fixed order. A row whose coefficients are all zero is left untouched (bit for bit). Many small
// blocks rather than few wide ones: at n = 1 the whole support is read in one or two round trips.
constexpr int kGroups = kThreads / 8;
template <class T> __host__ __device__ constexpr int cols_of() { return 8 * vec_of<T>(); }

template <class T> __device__ __forceinline__ void update_one(const SteerArgs &a, int64_t r, int64_t cb, float *red) {
    constexpr int V = vec_of<T>();
    constexpr int kCols = cols_of<T>();
    const int g = threadIdx.x >> 3, l = threadIdx.x & 7;
    const int64_t j0 = cb * kCols + int64_t(l) * V;
    const T *Wd = static_cast<const T *>(a.Wdec_S);
    const float *cr = a.coef + r * a.s;
    float acc[V];
#pragma unroll
    for (int c = 0; c < V; ++c) acc[c] = 0.0f;
    bool any = false;
    if (a.vec_dec && j0 < a.d) {  // d % V == 0: the whole vector is in range
#pragma unroll 4
        for (int64_t t = g; t < a.s; t += kGroups) {
            const float ct = cr[t];
            any |= ct != 0.0f;
            float w[V];
            load_vec(Wd + t * a.d + j0, w);
#pragma unroll
            for (int c = 0; c < V; ++c) acc[c] += ct * w[c];
        }
    } else {
        for (int64_t t = g; t < a.s; t += kGroups) {
            const float ct = cr[t];
            any |= ct != 0.0f;
#pragma unroll
            for (int c = 0; c < V; ++c)
                if (j0 + c < a.d) acc[c] += ct * to_f32(Wd[t * a.d + j0 + c]);
        }
    }
    if (__syncthreads_or(any)) {
#pragma unroll
        for (int c = 0; c < V; ++c) red[g * kCols + l * V + c] = acc[c];
        __syncthreads();
        if (threadIdx.x < kCols) {
            const int64_t j = cb * kCols + threadIdx.x;
            if (j < a.d) {
                T *xp = static_cast<T *>(a.x) + r * a.ldx + j;
                float sum = to_f32(*xp);
#pragma unroll 8
                for (int q = 0; q < kGroups; ++q) sum += red[q * kCols + threadIdx.x];
                *xp = from_f32<T>(sum);
            }
        }
    }
    __syncthreads();  // red is reused by the block's next item
}

__device__ __forceinline__ bool row_steered(const SteerArgs &a, int64_t r) { return !a.row_mask || a.row_mask[r]; }

// ---- Variant SAS_CUDA_STEER_PREFETCH (kernels/src/variants.h): later operands requested early ---------
// Asks L2 for `bytes` bytes at p, one prefetch per 128-byte line, spread over the block's threads.
__device__ __forceinline__ void prefetch_span(const void *p, int64_t bytes) {
    const char *c = static_cast<const char *>(p);
    for (int64_t off = int64_t(threadIdx.x) * 128; off < bytes; off += int64_t(kThreads) * 128) prefetch_l2(c + off);
}
// The cooperative kernel: the W_dec lines of the block's phase-2 items (column group cb of every support
// row: cols_of<T>() columns, 128 bytes), asked for before phase 1, so that they arrive while phase 1 and
// the grid barrier run. The first 4 items (a decode step has one or two per block).
template <class T> __device__ __forceinline__ void prefetch_update(const SteerArgs &a, int64_t cbs) {
    const T *Wd = static_cast<const T *>(a.Wdec_S);
    int k = 0;
    for (int64_t item = blockIdx.x; item < a.n * cbs && k < 4; item += gridDim.x, ++k) {
        const int64_t j0 = (item % cbs) * cols_of<T>();
        for (int64_t t = threadIdx.x; t < a.s; t += kThreads) prefetch_l2(Wd + t * a.d + j0);
    }
}

// Two-launch path, launch 1: block (feature, row group).
template <class T> __global__ void __launch_bounds__(kThreads) steer_coef_kernel(SteerArgs a) {
    __shared__ float wsum[kWarps];
    if (a.pdl) pdl_begin();
    for (int64_t r = blockIdx.y; r < a.n; r += gridDim.y)
        if (row_steered(a, r)) coef_one<T>(a, r, blockIdx.x, wsum);  // uniform over the block
}

// Two-launch path, launch 2: block (column group, row group).
template <class T> __global__ void __launch_bounds__(kThreads) steer_update_kernel(SteerArgs a) {
    __shared__ float red[kGroups * cols_of<T>()];
    if (a.pdl) pdl_begin();
    for (int64_t r = blockIdx.y; r < a.n; r += gridDim.y)
        if (row_steered(a, r)) update_one<T>(a, r, blockIdx.x, red);  // uniform over the block
}

// One cooperative launch: phase 1 over (row, feature) items, a grid-wide barrier (every row of x is read
// before any is written, and the coefficients are visible), phase 2 over (row, column group) items.
// One launch instead of two is most of the step's cost at n = 1.
template <class T> __global__ void __launch_bounds__(kThreads) steer_coop_kernel(SteerArgs a) {
    __shared__ float red[kGroups * cols_of<T>()];
    if (a.pdl) pdl_begin();
    const int64_t cbs = (a.d + cols_of<T>() - 1) / cols_of<T>();
    if (a.prefetch) prefetch_update<T>(a, cbs);
    for (int64_t item = blockIdx.x; item < a.n * a.s; item += gridDim.x) {
        const int64_t r = item / a.s;
        if (row_steered(a, r)) coef_one<T>(a, r, item % a.s, red);  // uniform over the block
    }
    cooperative_groups::this_grid().sync();
    for (int64_t item = blockIdx.x; item < a.n * cbs; item += gridDim.x) {
        const int64_t r = item / cbs;
        if (row_steered(a, r)) update_one<T>(a, r, item % cbs, red);  // uniform over the block
    }
}

// ---- Variant SAS_CUDA_STEER_ONE (kernels/src/variants.h): one plain launch, no grid barrier ---------
// Block (g, r) takes feature group g (F consecutive features of the support) of row r:
//  A. c_i = relu(f_i + lambda v_i) - f_i from the ORIGINAL row x[r], for the group's features, up to
//     kOneChunk at a time: the block's threads split d as coef_one does (thread t: 16-byte vectors t,
//     t + 256, ...) and issue the loads of all the chunk's W_enc rows before the first multiply, so a
//     chunk costs one round trip to memory; each sum is reduced in coef_one's order (per thread in d
//     order, a fixed shuffle tree, the 8 warp sums in order), the same operations as the default path;
//  B. the group's partial update delta_g = sum_{i in g} c_i Wdec_S[i] over all d columns, to a workspace
//     (thread t: column vectors t, t + 256, ...; a chunk's W_dec loads issued together, summed in i order);
//  C. the last of the row's G blocks to finish (a per-row arrival counter, the CUDA "threadfence
//     reduction" pattern: no block ever waits for another) adds x[r] += delta_0 + ... + delta_{G-1}
//     in group order (the G partials loaded together), so the result does not depend on which block
//     came last, and resets the counter.
// Every block of row r has read x[r] (phase A) before it arrives, so the one writer of x[r] runs after
// all its readers; rows never read each other. With G == 1 the block adds its update to x directly.
// The aim is the decode step's latency: a plain launch instead of a cooperative one, no grid-wide
// barrier, and few dependent round trips to memory: nvcc does not hoist a loop's loads above the
// previous iteration's use (the SASS of a plain loop over the features issued one load per feature and
// waited for it), hence the explicit chunks. Used for small steps only (few rows, s <= kOneMaxS).
constexpr int kOneMaxF = 32;                    // features per group, at most
constexpr int64_t kOneMaxS = 16 * kOneMaxF;     // the support it takes, at most (G <= 16)
constexpr int kOneMaxG = int(kOneMaxS / kOneMaxF);
constexpr int kOneChunk = 8;                    // features whose loads are in flight together
constexpr int64_t kOneMaxRows = 64;             // the rows it takes, at most
struct OneArgs {
    int F, G;          // features per group, groups per row
    float *delta;      // [n, G, d] partial updates
    uint32_t *nz;      // [n, G] whether group g of row r has a non-zero coefficient
    uint32_t *arrived; // [n] arrival counters, zero between calls (the last block resets its row's)
};

// Group size: about 8 features per group up to 16 groups, so a row's update is summed from at most 16
// partials in the last block.
inline void one_groups(int64_t s, int *F, int *G) {
    const int64_t g = std::min<int64_t>((s + 7) / 8, 16);
    *F = int((s + g - 1) / g);
    *G = int((s + *F - 1) / *F);
}

// load_vec when `valid`, else zeros (a chunk's unused slots, so that every load of a chunk is one
// unrolled, predicated instruction issued before the first use).
template <class T, int V> __device__ __forceinline__ void load_vec_or_zero(bool valid, const T *p, float (&w)[V]) {
    if (valid) {
        load_vec(p, w);
    } else {
#pragma unroll
        for (int c = 0; c < V; ++c) w[c] = 0.0f;
    }
}

// Phase A for features [c0, c0 + nf), nf <= kOneChunk: cs[c0 - i0 + f] = c of feature c0 + f.
template <class T>
__device__ __forceinline__ void one_coefs(const SteerArgs &a, const T *xr, int64_t c0, int nf, float *cs_chunk,
                                          float (*wsum)[kWarps]) {
    constexpr int V = vec_of<T>();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const T *W = static_cast<const T *>(a.Wenc_S) + c0 * a.d;
    // Thread f < nf finishes feature c0 + f: its scalars loaded after the reduction, or
    // (SAS_CUDA_STEER_PREFETCH) now, their round trip overlapping W_enc's.
    const bool early = a.prefetch && int(threadIdx.x) < nf;
    FeatureScalars fs{0.0f, 0.0f, 0.0f};
    if (early) fs = load_scalars<T>(a, c0 + threadIdx.x);
    float acc[kOneChunk];
#pragma unroll
    for (int f = 0; f < kOneChunk; ++f) acc[f] = 0.0f;
    if (a.vec_enc) {
        const int64_t nv = a.d / V;
#pragma unroll 2
        for (int64_t q = threadIdx.x; q < nv; q += kThreads) {  // 1 or 2 vectors per thread at d = 2304
            float xv[V], wv[kOneChunk][V];
            load_vec_plain(xr + q * V, xv);
#pragma unroll
            for (int f = 0; f < kOneChunk; ++f) load_vec_or_zero(f < nf, W + f * a.d + q * V, wv[f]);
#pragma unroll
            for (int f = 0; f < kOneChunk; ++f)
                if (f < nf) {
#pragma unroll
                    for (int c = 0; c < V; ++c) acc[f] += xv[c] * wv[f][c];
                }
        }
    } else {
        for (int64_t k = threadIdx.x; k < a.d; k += kThreads) {
            const float xk = to_f32(xr[k]);
            float wk[kOneChunk];
#pragma unroll
            for (int f = 0; f < kOneChunk; ++f) wk[f] = f < nf ? to_f32(W[f * a.d + k]) : 0.0f;
#pragma unroll
            for (int f = 0; f < kOneChunk; ++f) acc[f] += xk * wk[f];
        }
    }
#pragma unroll
    for (int f = 0; f < kOneChunk; ++f) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[f] += __shfl_xor_sync(0xffffffffu, acc[f], o);
    }
    if (lane == 0) {
#pragma unroll
        for (int f = 0; f < kOneChunk; ++f) wsum[f][warp] = acc[f];
    }
    __syncthreads();
    if (int(threadIdx.x) < nf) {
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < kWarps; ++k) dot += wsum[threadIdx.x][k];
        if (!early) fs = load_scalars<T>(a, c0 + threadIdx.x);
        cs_chunk[threadIdx.x] = coef_of(a, dot, fs);
    }
    __syncthreads();  // wsum is reused by the next chunk
}

template <class T> __global__ void __launch_bounds__(kThreads, 2) steer_one_kernel(SteerArgs a, OneArgs o) {
    constexpr int V = vec_of<T>();
    __shared__ float cs[kOneMaxF];
    __shared__ float wsum[kOneChunk][kWarps];
    __shared__ int s_last;
    if (a.pdl) pdl_begin();
    const int g = blockIdx.x;
    const int64_t i0 = int64_t(g) * o.F, i1 = i0 + o.F < a.s ? i0 + o.F : a.s;
    const int nfeat = int(i1 - i0);
    const int64_t nv = a.d / V;  // whole 16-byte vectors per row (the vector paths need d % V == 0)
    if (a.prefetch) {
        // SAS_CUDA_STEER_PREFETCH: the group's W_enc rows after the first chunk (each later chunk is
        // another round trip) and its W_dec rows (read in phase B, after the coefficients), asked for now.
        const int64_t row_bytes = a.d * int64_t(sizeof(T));
        if (nfeat > kOneChunk)
            prefetch_span(static_cast<const T *>(a.Wenc_S) + (i0 + kOneChunk) * a.d, (nfeat - kOneChunk) * row_bytes);
        prefetch_span(static_cast<const T *>(a.Wdec_S) + i0 * a.d, nfeat * row_bytes);
    }
    for (int64_t r = blockIdx.y; r < a.n; r += gridDim.y) {
        if (!row_steered(a, r)) continue;  // uniform over the block
        // A. the group's coefficients, kOneChunk features per round trip.
        const T *xr = static_cast<const T *>(a.x) + r * a.ldx;
        for (int c = 0; c < nfeat; c += kOneChunk)
            one_coefs<T>(a, xr, i0 + c, nfeat - c < kOneChunk ? nfeat - c : kOneChunk, cs + c, wsum);
        const bool any = __syncthreads_or(int(threadIdx.x) < nfeat && cs[threadIdx.x] != 0.0f);
        // B. the group's update over all d columns: thread t owns 16-byte column vectors t, t + 256, ...
        T *xw = static_cast<T *>(a.x) + r * a.ldx;
        const T *Wd = static_cast<const T *>(a.Wdec_S);
        float *dg = o.delta + (r * o.G + g) * a.d;
        const bool direct = o.G == 1;  // the only block of the row: x[r] was read by this block alone
        if (any) {
            if (a.vec_dec) {
                // Two column vectors per pass (q0 and q0 + 256: d = 2304 in bf16 has 288), both vectors'
                // loads in flight together: nvcc does not move loads above the first vector's stores.
                auto store = [&](int64_t q, const float (&acc)[V]) {
                    if (direct) {
#pragma unroll
                        for (int c = 0; c < V; ++c) xw[q * V + c] = from_f32<T>(to_f32(xw[q * V + c]) + acc[c]);
                    } else {  // V = 4 or 8 floats: one or two 16-byte stores (d % V == 0 keeps them aligned)
#pragma unroll
                        for (int c = 0; c < V; c += 4)
                            *reinterpret_cast<float4 *>(dg + q * V + c) = make_float4(acc[c], acc[c + 1], acc[c + 2], acc[c + 3]);
                    }
                };
                for (int64_t q0 = threadIdx.x; q0 < nv; q0 += 2 * kThreads) {
                    const int64_t q1 = q0 + kThreads;
                    const bool two = q1 < nv;
                    float acc0[V], acc1[V];
#pragma unroll
                    for (int c = 0; c < V; ++c) acc0[c] = acc1[c] = 0.0f;
                    for (int c0 = 0; c0 < nfeat; c0 += kOneChunk) {
                        const int nf = nfeat - c0 < kOneChunk ? nfeat - c0 : kOneChunk;
                        float w0[kOneChunk][V], w1[kOneChunk][V];
#pragma unroll
                        for (int f = 0; f < kOneChunk; ++f) {
                            const T *row = Wd + (i0 + c0 + f) * a.d;
                            load_vec_or_zero(f < nf, row + q0 * V, w0[f]);
                            load_vec_or_zero(f < nf && two, row + q1 * V, w1[f]);
                        }
#pragma unroll
                        for (int f = 0; f < kOneChunk; ++f)
                            if (f < nf) {
                                const float ci = cs[c0 + f];
#pragma unroll
                                for (int c = 0; c < V; ++c) {
                                    acc0[c] += ci * w0[f][c];
                                    acc1[c] += ci * w1[f][c];
                                }
                            }
                    }
                    store(q0, acc0);
                    if (two) store(q1, acc1);
                }
            } else {
                for (int64_t j = threadIdx.x; j < a.d; j += kThreads) {
                    float acc = 0.0f;
                    for (int64_t i = i0; i < i1; ++i) acc += cs[i - i0] * to_f32(Wd[i * a.d + j]);
                    if (direct)
                        xw[j] = from_f32<T>(to_f32(xw[j]) + acc);
                    else
                        dg[j] = acc;
                }
            }
        }
        if (!direct) {
            // C. arrive; the last block of the row adds the partials in group order.
            if (threadIdx.x == 0) o.nz[r * o.G + g] = any ? 1u : 0u;
            __threadfence();  // this block's delta and flag are visible device-wide before it arrives
            __syncthreads();
            if (threadIdx.x == 0) s_last = atomicAdd(&o.arrived[r], 1u) == uint32_t(o.G - 1);
            __syncthreads();
            if (s_last) {
                __threadfence();  // the other blocks' writes, published before their arrival, are seen
                uint32_t nzmask = 0;
                for (int q = 0; q < o.G; ++q) nzmask |= (__ldcg(o.nz + r * o.G + q) ? 1u : 0u) << q;
                if (nzmask) {  // else the row's coefficients are all zero: x[r] stays bit for bit
                    // Four columns per thread (the G partials' 16-byte loads issued together) when d
                    // allows; the sum is x + delta_0 + delta_1 + ... per column either way.
                    const float *dr = o.delta + r * o.G * a.d;
                    const int64_t d4 = a.d % 4 == 0 ? a.d / 4 : 0;
                    for (int64_t j4 = threadIdx.x; j4 < d4; j4 += kThreads) {
                        float4 part[kOneMaxG];
#pragma unroll
                        for (int q = 0; q < kOneMaxG; ++q)
                            part[q] = nzmask >> q & 1u ? __ldcg(reinterpret_cast<const float4 *>(dr + q * a.d) + j4)
                                                       : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                        float sum[4];
#pragma unroll
                        for (int c = 0; c < 4; ++c) sum[c] = to_f32(xw[4 * j4 + c]);
#pragma unroll
                        for (int q = 0; q < kOneMaxG; ++q)
                            if (nzmask >> q & 1u) {
                                sum[0] += part[q].x;
                                sum[1] += part[q].y;
                                sum[2] += part[q].z;
                                sum[3] += part[q].w;
                            }
#pragma unroll
                        for (int c = 0; c < 4; ++c) xw[4 * j4 + c] = from_f32<T>(sum[c]);
                    }
                    for (int64_t j = 4 * d4 + threadIdx.x; j < a.d; j += kThreads) {
                        float sum = to_f32(xw[j]);
                        for (int q = 0; q < o.G; ++q)
                            if (nzmask >> q & 1u) sum += __ldcg(dr + q * a.d + j);
                        xw[j] = from_f32<T>(sum);
                    }
                }
                if (threadIdx.x == 0) o.arrived[r] = 0u;  // ready for the next call on this stream
            }
        }
        __syncthreads();  // cs and s_last are reused for the block's next row
    }
}

#include "steer_cluster.cuh"

bool aligned16(const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Co-resident blocks of steer_coop_kernel<T> on the current device (0: no cooperative launch), cached.
template <class T> int coop_blocks() {
    static int cache[64] = {0};  // 0 = not yet asked, -1 = unavailable
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
        (void)cudaGetLastError();
        return 0;
    }
    if (cache[dev] == 0) {
        int coop = 0, per_sm = 0;
        if (cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev) != cudaSuccess || !coop ||
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, steer_coop_kernel<T>, kThreads, 0) != cudaSuccess ||
            per_sm <= 0) {
            (void)cudaGetLastError();
            cache[dev] = -1;
        } else {
            cache[dev] = per_sm * sm_count();
        }
    }
    return cache[dev] > 0 ? cache[dev] : 0;
}

// ---- Variant SAS_CUDA_PDL (kernels/src/variants.h): programmatic dependent launch of the step's kernels --
// Every kernel of the step calls pdl_begin() (cuda_common.cuh) first when a.pdl is set, and is then
// launched with cudaLaunchAttributeProgrammaticStreamSerialization, so its launch and the scheduling of
// its blocks overlap the kernel before it in the stream (the previous decode step's, back to back).

// Whether the step's kernels in T can be launched so on the current device (cached per device): compute
// capability 9 or newer, and their code for it built for sm_90 or newer (below sm_90 pdl_begin is empty,
// and a kernel that does not wait would race with the one before it).
template <class T> bool pdl_ready() {
    static int cache[64] = {0};  // 0 = not yet asked, -1 = unavailable, 1 = available
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
        (void)cudaGetLastError();
        return false;
    }
    if (cache[dev] == 0) {
        int major = 0;
        bool ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 9;
        auto sm90 = [&ok](auto *kernel) {
            cudaFuncAttributes fa{};
            ok = ok && cudaFuncGetAttributes(&fa, kernel) == cudaSuccess && fa.binaryVersion >= 90 && fa.ptxVersion >= 90;
        };
        sm90(steer_coef_kernel<T>);
        sm90(steer_update_kernel<T>);
        sm90(steer_coop_kernel<T>);
        sm90(steer_one_kernel<T>);
        if (!ok) (void)cudaGetLastError();
        cache[dev] = ok ? 1 : -1;
    }
    return cache[dev] > 0;
}

// Launches kernel(args...) on `grid` blocks of kThreads on st with programmatic stream serialization, as a
// cooperative launch when `coop`.
template <class... P, class... A>
cudaError_t launch_pdl(void (*kernel)(P...), dim3 grid, cudaStream_t st, bool coop, A &&...args) {
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    attr[1].id = cudaLaunchAttributeCooperative;
    attr[1].val.cooperative = 1;
    const cudaLaunchConfig_t cfg{grid, dim3(kThreads, 1, 1), 0, st, attr, coop ? 2u : 1u};
    return cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}

// Whether the current device refused a cooperative launch with programmatic stream serialization (the
// CUDA documentation does not say whether the two combine): the step then launches its cooperative
// kernel without it, and every other kernel with it.
bool *coop_pdl_refused() {
    static bool refused[64] = {false};
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
        (void)cudaGetLastError();
        dev = 0;
    }
    return &refused[dev];
}

}  // namespace

bool steer_pdl_ready(sas_dtype dt, int *cc_major) {
    int dev = 0;
    *cc_major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(cc_major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        *cc_major = 0;
    }
    switch (dt) {
    case SAS_BF16: return pdl_ready<__nv_bfloat16>();
    case SAS_F16: return pdl_ready<__half>();
    default: return pdl_ready<float>();
    }
}

bool steer_cluster_ready(sas_dtype dt, int *cc_major) {
    int dev = 0;
    *cc_major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(cc_major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        *cc_major = 0;
    }
    switch (dt) {
    case SAS_BF16: return cluster_ready<__nv_bfloat16>();
    case SAS_F16: return cluster_ready<__half>();
    default: return cluster_ready<float>();
    }
}

bool steer_cluster_takes(sas_dtype dt, int64_t n, int64_t d, int64_t s) {
    int cc = 0;
    const int V = dt == SAS_F32 ? 4 : 8;
    cluster_step::Shape sh{};
    return cluster_step::fits(n, d, s, V, true, true, &sh) && steer_cluster_ready(dt, &cc);
}

sas_status pack_support(void *stream, sas_dtype dt, const void *W_enc, const void *b_enc, const void *threshold,
                        const void *W_dec, int64_t d, int64_t m, const int64_t *S, int64_t s, void *Wenc_S,
                        void *benc_S, void *thr_S, void *Wdec_S) {
    const unsigned grid = unsigned(std::min<int64_t>(s, int64_t(1) << 30));
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        pack_kernel<T><<<grid, 256, 0, as_stream(stream)>>>(
            static_cast<const T *>(W_enc), static_cast<const T *>(b_enc), static_cast<const T *>(threshold),
            static_cast<const T *>(W_dec), d, m, S, s, static_cast<T *>(Wenc_S), static_cast<T *>(benc_S),
            threshold ? static_cast<T *>(thr_S) : nullptr, static_cast<T *>(Wdec_S));
        return check_launch("pack_kernel");
    });
}

sas_status steer_fused(void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *Wenc_S,
                       const void *benc_S, const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act,
                       const float *v_S, float lambda, const uint8_t *row_mask) {
    if (n == 0 || s == 0) return SAS_OK;
    cudaStream_t st = as_stream(stream);
    Scratch coef(st);  // the other paths' coefficient workspace, allocated below the one-launch path
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        constexpr int V = vec_of<T>();
        const int64_t es = int64_t(sizeof(T));
        SteerArgs a{x,      ldx,    n,      d,        s, Wenc_S, benc_S, thr_S, Wdec_S, act == SAS_ACT_JUMPRELU ? 1 : 0,
                    v_S,    lambda, row_mask, nullptr,
                    d % V == 0 && (ldx * es) % 16 == 0 && aligned16(x) && aligned16(Wenc_S),
                    d % V == 0 && aligned16(Wdec_S)};
        // Variant SAS_CUDA_PDL: every launch below with programmatic stream serialization.
        a.pdl = variants::on(variants::kPdl) && pdl_ready<T>();
        // Variant SAS_CUDA_STEER_PREFETCH: the cooperative and one-launch kernels ask L2 for their later
        // W_dec (and W_enc) lines first; coef_one and one_coefs load the per-feature scalars early on every path.
        a.prefetch = variants::on(variants::kSteerPrefetch);
        const int64_t cbs = (d + cols_of<T>() - 1) / cols_of<T>();
        const int64_t work = std::max(n * s, n * cbs);
        // Variant SAS_CUDA_STEER_ONE: one plain launch for small steps (see steer_one_kernel). Unset, it is
        // taken where one group covers the support (s <= 8: no partial sums), where it timed faster than
        // the cooperative launch on an H200 (kernels/src/variants.h).
        // Variant SAS_CUDA_STEER_CLUSTER: one cluster launch (sm_90+) for decode-sized steps (steer_cluster.cuh).
        cluster_step::Shape sh{};
        if (variants::on(variants::kSteerCluster) && cluster_step::fits(n, d, s, V, a.vec_enc, a.vec_dec, &sh) &&
            cluster_ready<T>()) {
            const sas_status st_cluster = launch_cluster_step<T>(st, a, sh);
            if (st_cluster != SAS_ERR_UNSUPPORTED) return st_cluster;
        }
        OneArgs o{};
        one_groups(s, &o.F, &o.G);
        if (s <= kOneMaxS && n <= kOneMaxRows && size_t(n * 16 * d) * sizeof(float) + 8192 <= kStreamBufferMax &&
            variants::taken(variants::kSteerOne, s <= variants::kSteerOneAutoMaxS)) {
            if (o.G > 1) {
                // One stream buffer (slot 3, one lookup per call: the host's time is part of a decode step's
                // latency): 64 arrival counters at offset 0, which only ever hold counters (zeroed when the
                // buffer is allocated, left at zero by every call), then the flags, then the partials.
                const size_t nz_off = kOneMaxRows * sizeof(uint32_t);
                const size_t delta_off = (nz_off + size_t(n * o.G) * sizeof(uint32_t) + 15) / 16 * 16;
                void *buf = nullptr;
                SAS_TRY(stream_buffer(st, 3, delta_off + size_t(n * o.G * d) * sizeof(float), &buf, "sas_steer_fused",
                                      true));
                o.arrived = static_cast<uint32_t *>(buf);
                o.nz = reinterpret_cast<uint32_t *>(static_cast<char *>(buf) + nz_off);
                o.delta = reinterpret_cast<float *>(static_cast<char *>(buf) + delta_off);
            }
            const dim3 grid(unsigned(o.G), unsigned(n));
            if (a.pdl) return check_cuda(launch_pdl(steer_one_kernel<T>, grid, st, false, a, o), "steer_one_kernel");
            steer_one_kernel<T><<<grid, kThreads, 0, st>>>(a, o);
            return check_launch("steer_one_kernel");
        }
        SAS_TRY(coef.alloc(size_t(n * s) * sizeof(float), "sas_steer_fused"));
        a.coef = coef.as<float>();
        // One cooperative launch while the work is a few waves of blocks (decode steps and small batches);
        // two plain launches for big batches, where a grid-wide barrier would idle the GPU.
        const int coop = coop_blocks<T>();
        if (coop > 0 && work <= 4 * int64_t(coop)) {
            const unsigned grid = unsigned(std::min<int64_t>(work, coop));
            cudaError_t err = cudaErrorNotSupported;
            if (a.pdl && !*coop_pdl_refused()) {
                err = launch_pdl(steer_coop_kernel<T>, dim3(grid), st, true, a);
                if (err == cudaSuccess) return SAS_OK;
                if (err != cudaErrorCooperativeLaunchTooLarge) {  // the combination refused: without it from now
                    (void)cudaGetLastError();
                    *coop_pdl_refused() = true;
                }
            }
            if (err != cudaErrorCooperativeLaunchTooLarge) {
                SteerArgs plain = a;
                plain.pdl = false;
                void *args[] = {&plain};
                err = cudaLaunchCooperativeKernel(steer_coop_kernel<T>, dim3(grid), dim3(kThreads), args, 0, st);
            }
            if (err == cudaSuccess) return SAS_OK;
            // Fewer SMs than the occupancy query saw (MPS, green contexts): fall back to two launches.
            if (err != cudaErrorCooperativeLaunchTooLarge && err != cudaErrorNotSupported)
                return check_cuda(err, "steer_coop_kernel");
            (void)cudaGetLastError();
        }
        const unsigned rows = unsigned(std::min<int64_t>(n, 65535));
        if (a.pdl) {
            SAS_TRY(check_cuda(launch_pdl(steer_coef_kernel<T>, dim3(unsigned(s), rows), st, false, a), "steer_coef_kernel"));
            return check_cuda(launch_pdl(steer_update_kernel<T>, dim3(unsigned(cbs), rows), st, false, a),
                              "steer_update_kernel");
        }
        steer_coef_kernel<T><<<dim3(unsigned(s), rows), kThreads, 0, st>>>(a);
        SAS_TRY(check_launch("steer_coef_kernel"));
        steer_update_kernel<T><<<dim3(unsigned(cbs), rows), kThreads, 0, st>>>(a);
        return check_launch("steer_update_kernel");
    });
}

}  // namespace cuda
}  // namespace sas
