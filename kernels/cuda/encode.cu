// CUDA SAE encoders: the GEMM of gemm.cuh with an activation epilogue, then (TopK) an in-place
// per-row top-k, or (sparse) a per-row ordered compaction; the subset encoder gathers W_enc columns.
// Also the dense decode used as the non-sparse baseline by sas_bench.
#include "block_util.cuh"
#include "gemm.cuh"

namespace sas {
namespace cuda {

int sm_count() {
    static int cache[64] = {0};
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
        (void)cudaGetLastError();
        return 108;
    }
    if (cache[dev] == 0) {
        int v = 0;
        if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || v <= 0) {
            (void)cudaGetLastError();
            v = 108;
        }
        cache[dev] = v;
    }
    return cache[dev];
}

namespace {

int epi_mode(sas_activation act) {
    return act == SAS_ACT_JUMPRELU ? kEpiJump : act == SAS_ACT_RELU ? kEpiRelu : kEpiPre;
}

// TopK in place on dense pre-activation rows: keep the k largest (ReLU'd), zero the rest.
__global__ void __launch_bounds__(kTopkThreads) topk_inplace_kernel(float *out, int64_t ldo, int64_t n, int64_t m, int k) {
    __shared__ TopkSmem sm;
    __shared__ float vals[kMaxCand];
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        float *row = out + r * ldo;
        block_topk_select([row](int64_t j) { return order_key_dev(row[j]); }, m, k, sm);
        for (int i = threadIdx.x; i < k; i += blockDim.x) vals[i] = relu_dev(row[cand_index(sm.cand[i])]);
        __syncthreads();
        for (int64_t j = threadIdx.x; j < m; j += blockDim.x) row[j] = 0.0f;
        __syncthreads();
        for (int i = threadIdx.x; i < k; i += blockDim.x) row[cand_index(sm.cand[i])] = vals[i];
        __syncthreads();
    }
}

// Writes one row's sparse code: slots [count, max_nnz) get index -1 and value 0.
__device__ void finish_row(uint32_t count, int32_t max_nnz, int64_t *oi, float *ov, int32_t *oc) {
    const int64_t start = count < uint32_t(max_nnz) ? int64_t(count) : int64_t(max_nnz);
    for (int64_t i = start + threadIdx.x; i < max_nnz; i += blockDim.x) {
        oi[i] = -1;
        ov[i] = 0.0f;
    }
    if (threadIdx.x == 0) *oc = int32_t(count);
}

// Ordered compaction of the non-zeros of each activated row (ascending index).
__global__ void __launch_bounds__(kTopkThreads)
    compact_kernel(const float *act, int64_t m, int64_t rows, int32_t max_nnz, int64_t *out_indices,
                   float *out_values, int32_t *out_count) {
    __shared__ uint32_t warp_sums[33];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *row = act + r * m;
        int64_t *oi = out_indices ? out_indices + r * max_nnz : nullptr;
        float *ov = out_values ? out_values + r * max_nnz : nullptr;
        uint32_t base = 0;
        for (int64_t t0 = 0; t0 < m; t0 += blockDim.x) {
            const int64_t j = t0 + threadIdx.x;
            const float v = j < m ? row[j] : 0.0f;
            uint32_t total;
            const uint32_t pos = base + block_exclusive_count(v != 0.0f, warp_sums, &total);
            if (v != 0.0f && pos < uint32_t(max_nnz)) {
                oi[pos] = j;
                ov[pos] = v;
            }
            base += total;
        }
        finish_row(base, max_nnz, oi, ov, out_count + r);
        __syncthreads();
    }
}

// Variant SAS_CUDA_SPARSE_SPLIT: the same compaction with each row split over blocks of kSplitThreads
// threads x kSplitV entries, in two launches: count each chunk's non-zeros, then write each chunk's at the
// row's count before it. compact_kernel's one block per row ranks 1024 entries per step, with three
// barriers each: at m = 1M that was 0.8 ms on an H200 (sparse encode 1.87 ms against the dense 1.06 ms,
// the overhead growing with m at ~0.8 ns per feature); here a row of 1M is 128 blocks.
constexpr int kSplitThreads = 512, kSplitV = 16;
constexpr int64_t kSplitChunk = int64_t(kSplitThreads) * kSplitV;

__device__ __forceinline__ uint32_t warp_sum_u32(uint32_t v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Loads chunk blockIdx.x of row blockIdx.y (entry u * kSplitThreads + threadIdx.x in v[u]); returns the
// bits of the non-zero ones.
__device__ __forceinline__ unsigned load_split_chunk(const float *act, int64_t m, float (&v)[kSplitV]) {
    const int64_t c0 = int64_t(blockIdx.x) * kSplitChunk, len = m - c0 < kSplitChunk ? m - c0 : kSplitChunk;
    const float *seg = act + int64_t(blockIdx.y) * m + c0;
#pragma unroll
    for (int u = 0; u < kSplitV; ++u) {  // all loads issued before the first use
        const int64_t j = int64_t(u) * kSplitThreads + threadIdx.x;
        v[u] = j < len ? seg[j] : 0.0f;
    }
    unsigned nz = 0;
#pragma unroll
    for (int u = 0; u < kSplitV; ++u) nz |= unsigned(v[u] != 0.0f) << u;
    return nz;
}

__global__ void __launch_bounds__(kSplitThreads)
    compact_count_kernel(const float *__restrict__ act, int64_t m, uint32_t *__restrict__ counts) {
    __shared__ uint32_t warp_counts[kSplitThreads / 32];
    float v[kSplitV];
    const uint32_t mine = warp_sum_u32(uint32_t(__popc(load_split_chunk(act, m, v))));
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    if (lane == 0) warp_counts[warp] = mine;
    __syncthreads();
    if (warp == 0) {
        const uint32_t total = warp_sum_u32(lane < kSplitThreads / 32 ? warp_counts[lane] : 0u);
        if (lane == 0) counts[int64_t(blockIdx.y) * gridDim.x + blockIdx.x] = total;
    }
}

__global__ void __launch_bounds__(kSplitThreads)
    compact_write_kernel(const float *__restrict__ act, int64_t m, const uint32_t *__restrict__ counts, int32_t max_nnz,
                         int64_t *__restrict__ out_indices, float *__restrict__ out_values, int32_t *__restrict__ out_count) {
    constexpr int W = kSplitThreads / 32;
    __shared__ uint32_t ranks[kSplitV * W + 1];
    __shared__ uint32_t before;
    const int c = int(blockIdx.x);
    const int64_t r = blockIdx.y;
    float v[kSplitV];
    const unsigned nz = load_split_chunk(act, m, v);
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    if (warp == 0) {  // non-zeros of the row's chunks before this one
        uint32_t s = 0;
        for (int i = int(lane); i < c; i += 32) s += counts[r * gridDim.x + i];
        s = warp_sum_u32(s);
        if (lane == 0) before = s;
    }
    rank_flags<kSplitV, kSplitThreads>(nz, ranks);  // its barriers also publish `before`
    const uint32_t base = before;
    int64_t *oi = out_indices ? out_indices + r * max_nnz : nullptr;
    float *ov = out_values ? out_values + r * max_nnz : nullptr;
    const unsigned below = (1u << lane) - 1u;
#pragma unroll
    for (int u = 0; u < kSplitV; ++u) {
        const unsigned ball = __ballot_sync(0xffffffffu, (nz >> u) & 1u);
        const uint32_t pos = base + ranks[u * W + warp] + uint32_t(__popc(ball & below));
        if (((nz >> u) & 1u) && pos < uint32_t(max_nnz)) {
            oi[pos] = int64_t(c) * kSplitChunk + int64_t(u) * kSplitThreads + threadIdx.x;
            ov[pos] = v[u];
        }
    }
    if (c == int(gridDim.x) - 1) finish_row(base + ranks[kSplitV * W], max_nnz, oi, ov, out_count + r);
}

// Both launches of the split compaction of `rows` activated rows of m; counts: rows * chunks scratch.
sas_status launch_compact_split(cudaStream_t st, const float *act, int64_t m, int64_t rows, int32_t max_nnz,
                                int64_t *oi, float *ov, int32_t *oc, uint32_t *counts) {
    const unsigned chunks = unsigned((m + kSplitChunk - 1) / kSplitChunk);
    for (int64_t r0 = 0; r0 < rows; r0 += 65535) {  // grid.y limit
        const unsigned g = unsigned(std::min<int64_t>(rows - r0, 65535));
        const float *a = act + r0 * m;
        compact_count_kernel<<<dim3(chunks, g), kSplitThreads, 0, st>>>(a, m, counts);
        SAS_TRY(check_launch("compact_count_kernel"));
        compact_write_kernel<<<dim3(chunks, g), kSplitThreads, 0, st>>>(a, m, counts, max_nnz,
                                                                        oi ? oi + r0 * max_nnz : nullptr,
                                                                        ov ? ov + r0 * max_nnz : nullptr, oc + r0);
        SAS_TRY(check_launch("compact_write_kernel"));
    }
    return SAS_OK;
}

// TopK sparse: select the k largest pre of each row (cand comes back in index order), keep the
// non-zero ReLU'd ones.
__global__ void __launch_bounds__(kTopkThreads)
    topk_sparse_kernel(const float *pre, int64_t m, int64_t rows, int k, int32_t max_nnz, int64_t *out_indices,
                       float *out_values, int32_t *out_count) {
    __shared__ TopkSmem sm;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *row = pre + r * m;
        int64_t *oi = out_indices ? out_indices + r * max_nnz : nullptr;
        float *ov = out_values ? out_values + r * max_nnz : nullptr;
        block_topk_select([row](int64_t j) { return order_key_dev(row[j]); }, m, k, sm);
        const int i = threadIdx.x;  // k <= 1024 = blockDim.x: one candidate per thread
        int64_t j = -1;
        float v = 0.0f;
        if (i < k) {
            j = cand_index(sm.cand[i]);
            v = relu_dev(row[j]);
        }
        uint32_t total;
        const uint32_t pos = block_exclusive_count(v != 0.0f, sm.warp_sums, &total);
        if (v != 0.0f && pos < uint32_t(max_nnz)) {
            oi[pos] = j;
            ov[pos] = v;
        }
        finish_row(total, max_nnz, oi, ov, out_count + r);
        __syncthreads();
    }
}

// Variant SAS_CUDA_TOPK_ACT: the TopK activation through the chunked top-k of topk.cu (each row split
// over blocks; SAS_CUDA_TOPK_REG applies there too), which hands back each row's k (value, index) in
// scratch, then: dense, block (c, r) zeroes chunk c of row r and writes the row's ReLU'd selected values
// that fall in it (one launch); sparse, one block per row sorts the k by index and keeps the non-zeros.
// The default selects with one block per row (topk_inplace_kernel, topk_sparse_kernel): four radix
// passes over the whole row and an ordered pass of 1024 keys per step, from one SM, at m up to 2^21.
// Same keys, same ties (lowest index), same set, same output.
constexpr int64_t kActChunk = 8192;

__global__ void __launch_bounds__(256)
    topk_act_dense_kernel(float *__restrict__ out, int64_t ldo, int64_t m, int k, const float *__restrict__ vals,
                          const int64_t *__restrict__ idx) {
    const int64_t r = blockIdx.y, c0 = int64_t(blockIdx.x) * kActChunk;
    const int64_t c1 = m - c0 < kActChunk ? m : c0 + kActChunk;
    float *row = out + r * ldo;
    for (int64_t j = c0 + threadIdx.x; j < c1; j += blockDim.x) row[j] = 0.0f;
    __syncthreads();  // the zeros of this chunk before its selected values (the same block writes both)
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const int64_t j = idx[r * k + i];
        if (j >= c0 && j < c1) row[j] = relu_dev(vals[r * k + i]);
    }
}

__global__ void __launch_bounds__(kTopkThreads)
    topk_act_sparse_kernel(int k, const float *__restrict__ vals, const int64_t *__restrict__ idx, int32_t max_nnz,
                           int64_t *__restrict__ out_indices, float *__restrict__ out_values,
                           int32_t *__restrict__ out_count) {
    __shared__ unsigned long long keys[kMaxCand];
    __shared__ uint32_t warp_sums[33];
    const int64_t r = blockIdx.x;
    const int P = pow2_at_least(k);
    // (0xffffffff - index) << 32 | position: sorted descending = ascending index (padding 0 sorts last).
    for (int i = threadIdx.x; i < P; i += blockDim.x)
        keys[i] = i < k ? (static_cast<unsigned long long>(0xffffffffu - uint32_t(idx[r * k + i])) << 32) | uint32_t(i)
                        : 0ull;
    __syncthreads();
    bitonic_sort_desc(keys, P);
    const int i = threadIdx.x;  // k <= 1024 = blockDim.x: one selected entry per thread
    int64_t j = -1;
    float v = 0.0f;
    if (i < k) {
        const uint32_t p = uint32_t(keys[i] & 0xffffffffull);
        j = idx[r * k + p];
        v = relu_dev(vals[r * k + p]);
    }
    int64_t *oi = out_indices ? out_indices + r * max_nnz : nullptr;
    float *ov = out_values ? out_values + r * max_nnz : nullptr;
    uint32_t total;
    const uint32_t pos = block_exclusive_count(v != 0.0f, warp_sums, &total);
    if (v != 0.0f && pos < uint32_t(max_nnz)) {
        oi[pos] = j;
        ov[pos] = v;
    }
    finish_row(total, max_nnz, oi, ov, out_count + r);
}

// The k largest pre-activations of `rows` rows (stride ldp) by the chunked top-k, into scratch slot 5
// (its own candidates in slot 6, clear of encode_sparse's slot 0): *vals, *idx are [rows, k].
sas_status topk_act_select(cudaStream_t st, Scratch &sel, const float *pre, int64_t ldp, int64_t rows, int64_t m, int k,
                           float **vals, int64_t **idx) {
    SAS_TRY(sel.alloc(size_t(rows * k) * (sizeof(int64_t) + sizeof(float)), "TopK activation"));
    *idx = sel.as<int64_t>();
    *vals = reinterpret_cast<float *>(*idx + rows * k);
    return topk_rows(st, SAS_F32, pre, ldp, rows, m, k, false, *vals, *idx, 6);
}

// Subset encode: block (i, row group) gathers column S[i] of W_enc in chunks into shared memory;
// each warp owns one row and reduces its dot product with shuffles (fixed order).
template <class T>
__global__ void __launch_bounds__(256)
    subset_kernel(const T *__restrict__ x, int64_t ldx, int64_t n, int64_t d, const T *__restrict__ W,
                  const T *__restrict__ b, const T *__restrict__ thr, int64_t m, int mode,
                  const int64_t *__restrict__ S, int64_t s, float *__restrict__ out, int64_t ldo) {
    constexpr int kChunk = 2048;
    __shared__ float col[kChunk];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t i = blockIdx.x; i < s; i += gridDim.x) {
        const int64_t j = S[i];
        const bool valid = j >= 0 && j < m;  // indices are checked on the host for CPU calls only
        for (int64_t r0 = int64_t(blockIdx.y) * 8; r0 < n; r0 += int64_t(gridDim.y) * 8) {
            const int64_t r = r0 + warp;
            float acc = 0.0f;
            for (int64_t k0 = 0; k0 < d; k0 += kChunk) {
                const int kc = int(d - k0 < kChunk ? d - k0 : kChunk);
                __syncthreads();
                for (int kk = threadIdx.x; kk < kc; kk += blockDim.x)
                    col[kk] = valid ? to_f32(W[(k0 + kk) * m + j]) : 0.0f;
                __syncthreads();
                if (r < n)
                    for (int kk = lane; kk < kc; kk += 32) acc += to_f32(x[r * ldx + k0 + kk]) * col[kk];
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
            if (lane == 0 && r < n) {
                float v = 0.0f;
                if (valid) {
                    v = acc + to_f32(b[j]);
                    if (mode == kEpiJump)
                        v = v > to_f32(thr[j]) ? v : 0.0f;
                    else
                        v = relu_dev(v);
                }
                out[r * ldo + i] = v;
            }
        }
    }
}

// Variant SAS_CUDA_SUBSET_GEMM: the subset's columns of W_enc gathered once into [d, s] (Gemma Scope's
// layout, so the dense encoders take it as an SAE of width s), with b_enc and threshold; an index outside
// [0, m) gathers zeros, which encode to 0 as subset_kernel writes for it.
template <class T>
__global__ void __launch_bounds__(256)
    subset_gather_kernel(const T *__restrict__ W, const T *__restrict__ b, const T *__restrict__ thr, int64_t d,
                         int64_t m, const int64_t *__restrict__ S, int64_t s, T *__restrict__ W_S, T *__restrict__ b_S,
                         T *__restrict__ thr_S) {
    const int64_t total = d * s;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t k = e / s, i = e - k * s, j = S[i];
        const bool valid = j >= 0 && j < m;
        W_S[e] = valid ? W[k * m + j] : from_f32<T>(0.0f);
        if (k == 0) {
            b_S[i] = valid ? b[j] : from_f32<T>(0.0f);
            thr_S[i] = valid && thr ? thr[j] : from_f32<T>(0.0f);
        }
    }
}

unsigned row_grid(int64_t rows) { return unsigned(std::min<int64_t>(rows, int64_t(sm_count()) * 16)); }

}  // namespace

sas_status encode_dense(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d,
                        const void *W_enc, const void *b_enc, const void *threshold, int64_t m, sas_activation act,
                        int32_t k, float *out, int64_t ld_out) {
    cudaStream_t st = as_stream(stream);
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        EncEpi<T> epi{static_cast<const T *>(b_enc), static_cast<const T *>(threshold), epi_mode(act), out, ld_out};
        SAS_TRY(gemm(st, static_cast<const T *>(x), ldx, n, d, static_cast<const T *>(W_enc), m, epi,
                     "sas_encode_dense gemm"));
        if (act == SAS_ACT_TOPK && variant_on(variants::kTopkAct)) {
            Scratch sel(st, 5);
            float *vals = nullptr;
            int64_t *idx = nullptr;
            SAS_TRY(topk_act_select(st, sel, out, ld_out, n, m, k, &vals, &idx));
            const unsigned chunks = unsigned((m + kActChunk - 1) / kActChunk);
            for (int64_t r0 = 0; r0 < n; r0 += 65535) {  // grid.y limit
                const unsigned g = unsigned(std::min<int64_t>(n - r0, 65535));
                topk_act_dense_kernel<<<dim3(chunks, g), 256, 0, st>>>(out + r0 * ld_out, ld_out, m, k, vals + r0 * k,
                                                                       idx + r0 * k);
                SAS_TRY(check_launch("topk_act_dense_kernel"));
            }
        } else if (act == SAS_ACT_TOPK) {
            topk_inplace_kernel<<<row_grid(n), kTopkThreads, 0, st>>>(out, ld_out, n, m, k);
            SAS_TRY(check_launch("topk_inplace_kernel"));
        }
        return SAS_OK;
    });
}

sas_status encode_sparse(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d,
                         const void *W_enc, const void *b_enc, const void *threshold, int64_t m, sas_activation act,
                         int32_t k, int32_t max_nnz, int64_t *out_indices, float *out_values, int32_t *out_count) {
    cudaStream_t st = as_stream(stream);
    // Dense activations of a chunk of rows in scratch (<= 256 MiB, at least one row), then compaction.
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(n, (int64_t(64) << 20) / m));
    Scratch scratch(st);
    SAS_TRY(scratch.alloc(size_t(chunk * m) * sizeof(float), "sas_encode_sparse"));
    float *buf = scratch.as<float>();
    // Variant SAS_CUDA_SPARSE_SPLIT (JumpReLU / ReLU): per-chunk non-zero counts in a slot-2 buffer.
    const bool split = act != SAS_ACT_TOPK && variant_on(variants::kSparseSplit);
    Scratch counts(st, 2);
    if (split)
        SAS_TRY(counts.alloc(size_t(std::min<int64_t>(chunk, 65535)) * size_t((m + kSplitChunk - 1) / kSplitChunk) *
                                 sizeof(uint32_t),
                             "sas_encode_sparse"));
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        const T *xp = static_cast<const T *>(x);
        for (int64_t r0 = 0; r0 < n; r0 += chunk) {
            const int64_t rows = std::min(chunk, n - r0);
            EncEpi<T> epi{static_cast<const T *>(b_enc), static_cast<const T *>(threshold), epi_mode(act), buf, m};
            SAS_TRY(gemm(st, xp + r0 * ldx, ldx, rows, d, static_cast<const T *>(W_enc), m, epi,
                         "sas_encode_sparse gemm"));
            int64_t *oi = max_nnz > 0 ? out_indices + r0 * max_nnz : nullptr;
            float *ov = max_nnz > 0 ? out_values + r0 * max_nnz : nullptr;
            if (act == SAS_ACT_TOPK && variant_on(variants::kTopkAct)) {
                Scratch sel(st, 5);
                float *vals = nullptr;
                int64_t *idx = nullptr;
                SAS_TRY(topk_act_select(st, sel, buf, m, rows, m, k, &vals, &idx));
                topk_act_sparse_kernel<<<unsigned(rows), kTopkThreads, 0, st>>>(k, vals, idx, max_nnz, oi, ov,
                                                                                out_count + r0);
                SAS_TRY(check_launch("topk_act_sparse_kernel"));
            } else if (act == SAS_ACT_TOPK) {
                topk_sparse_kernel<<<row_grid(rows), kTopkThreads, 0, st>>>(buf, m, rows, k, max_nnz, oi, ov,
                                                                            out_count + r0);
                SAS_TRY(check_launch("topk_sparse_kernel"));
            } else if (split) {
                SAS_TRY(launch_compact_split(st, buf, m, rows, max_nnz, oi, ov, out_count + r0, counts.as<uint32_t>()));
            } else {
                compact_kernel<<<row_grid(rows), kTopkThreads, 0, st>>>(buf, m, rows, max_nnz, oi, ov, out_count + r0);
                SAS_TRY(check_launch("compact_kernel"));
            }
        }
        return SAS_OK;
    });
}

sas_status encode_subset(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d,
                         const void *W_enc, const void *b_enc, const void *threshold, int64_t m, sas_activation act,
                         const int64_t *S, int64_t s, float *out, int64_t ld_out) {
    cudaStream_t st = as_stream(stream);
    const dim3 grid = dim3(unsigned(std::min<int64_t>(s, int64_t(1) << 30)),
                           unsigned(std::min<int64_t>((n + 7) / 8, 65535)));
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        if (variant_on(variants::kSubsetGemm) && n > 0 && s > 0) {
            // Gather, then the dense encoder's GEMM on the s columns: each weight read once from HBM and
            // reused across rows from shared memory/registers, where subset_kernel gathers every column
            // again for each group of 8 rows and reads each row of x again for each column. Slot 8: the
            // GEMM's own temporaries use slots 1 and 4.
            const size_t wbytes = size_t(d * s) * sizeof(T), vbytes = (size_t(s) * sizeof(T) + 255) & ~size_t(255);
            Scratch packed(st, 8);
            SAS_TRY(packed.alloc(((wbytes + 255) & ~size_t(255)) + 2 * vbytes, "sas_encode_subset"));
            T *W_S = packed.as<T>();
            T *b_S = reinterpret_cast<T *>(packed.as<char>() + ((wbytes + 255) & ~size_t(255)));
            T *thr_S = reinterpret_cast<T *>(reinterpret_cast<char *>(b_S) + vbytes);
            const unsigned blocks = unsigned(std::min<int64_t>((d * s + 255) / 256, int64_t(sm_count()) * 32));
            subset_gather_kernel<T><<<blocks, 256, 0, st>>>(static_cast<const T *>(W_enc), static_cast<const T *>(b_enc),
                                                             static_cast<const T *>(threshold), d, m, S, s, W_S, b_S,
                                                             thr_S);
            SAS_TRY(check_launch("subset_gather_kernel"));
            EncEpi<T> epi{b_S, thr_S, epi_mode(act), out, ld_out};
            return gemm(st, static_cast<const T *>(x), ldx, n, d, static_cast<const T *>(W_S), s, epi,
                        "sas_encode_subset gemm");
        }
        subset_kernel<T><<<grid, 256, 0, st>>>(static_cast<const T *>(x), ldx, n, d, static_cast<const T *>(W_enc),
                                               static_cast<const T *>(b_enc), static_cast<const T *>(threshold), m,
                                               epi_mode(act), S, s, out, ld_out);
        return check_launch("subset_kernel");
    });
}

sas_status decode_dense(void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec,
                        int64_t m, const float *c, int64_t ldc) {
    cudaStream_t st = as_stream(stream);
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        AddEpi<T> epi{static_cast<T *>(x), ldx};
        return gemm(st, c, ldc, n, m, static_cast<const T *>(W_dec), d, epi, "decode_dense gemm");
    });
}

}  // namespace cuda
}  // namespace sas
