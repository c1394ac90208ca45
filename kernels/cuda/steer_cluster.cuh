// ---- Variant SAS_CUDA_STEER_CLUSTER (kernels/src/variants.h): the decode step on thread-block clusters --
// Included by steer.cu (it uses SteerArgs, vec_of and row_steered from there).
//
// Why: at n = 1 the fused step moves 2 s d elements (a few hundred KB) and is pure latency. The default
// decode path (one cooperative launch) waits for a memory round trip in phase 1, a grid-wide barrier,
// the coefficients and W_dec in phase 2, then x; on an H200 it took 5.3 us back to back where an empty
// launch takes 3.3 us, and Nsight Compute put the kernel at 6.5-6.9 us against 1.6 us for an empty one.
// Hopper's clusters give what this step needs: blocks that can read each other's shared memory
// (distributed shared memory) and a hardware barrier among them, so the step needs one round trip to
// memory for all its operands and no grid-wide barrier.
//
// Layout: one cluster of kBlocks blocks per steered row (grid kBlocks x n). Block b of the cluster owns the
// column slice of `nvb` 16-byte vectors starting at vector b * nvb of d, and, before any arithmetic,
// issues every global load it will need:
//   x[r, slice] (phase A, and again for the final write), Wenc_S[:, slice] and Wdec_S[:, slice] (to
//   registers), and b_enc, threshold and v of feature t (thread t < s).
//  A. partial dot products p_b[i] = x[r, slice] . Wenc_S[i, slice] for every i < s: warp w takes
//     features w, w + 16, w + 32, w + 48; lane l the slice's vectors l, l + 32, l + 64; a fixed shuffle
//     tree per feature; lane 0 writes p_b[i] to shared memory.
//  cluster.sync(): every block's partials are in its shared memory.
//  B. thread i < s of every block reads the kBlocks partials of feature i over distributed shared memory
//     and adds them in rank order (so every block computes the same c), then
//     c_i = relu(f_i + lambda v_i) - f_i with f_i = act(sum + b_i). An arrival at the cluster barrier
//     says this block is done reading the others' shared memory.
//  C. x[r, slice] += sum_i c_i Wdec_S[i, slice]: thread (j, q) = (t / nvb, t % nvb) sums features
//     j F .. j F + F - 1 for vector q; the J slices' sums are added to x in slice order.
//  The wait at the cluster barrier comes last: no block leaves while another may still read its partials.
// Each block reads and writes only its own slice of x[r], so no block reads what another writes. A row
// whose coefficients are all zero is not written (bit for bit unchanged), as on the other paths; a row
// with row_mask[r] == 0 makes its whole cluster return at once (no block waits at a barrier).
// The sums run in another order than the default path's (slices of d, then ranks): equal to f32 rounding.
//
// Taken, when switched on, for the vector path (d % V == 0, 16-byte aligned x rows, Wenc_S and Wdec_S)
// with s <= kMaxS, n <= kMaxRows, a slice of at most kMaxSliceVec vectors and at most kMaxFeat features
// per thread in phase C (cluster_step::fits), on devices with cluster launch (sm_90 and newer) where the
// kernel's code was built for sm_90 or newer (cluster_ready): elsewhere the step takes the other paths.
namespace cluster_step {
constexpr int kBlocks = 8;                      // blocks per cluster: the portable maximum
constexpr int kCThreads = 512;                  // per block (16 warps): <= 128 registers per thread
constexpr int kCWarps = kCThreads / 32;
constexpr int kMaxS = 64;                       // support sizes it takes
constexpr int kFeatPerWarp = kMaxS / kCWarps;   // phase A: 4 features per warp
constexpr int kVecPerLane = 3;                  // phase A: slice vectors per lane
constexpr int kMaxSliceVec = 32 * kVecPerLane;  // 96 vectors: d <= 6144 (bf16, f16), 3072 (f32)
constexpr int kMaxFeat = 8;                     // phase C: features per thread
constexpr int64_t kMaxRows = 16;                // rows (one cluster each) it takes

struct Shape {
    int nvb;  // vectors per block's slice, ceil(d / V / kBlocks)
    int J;    // phase C slices: thread t is (slice t / nvb, vector t % nvb), J * nvb <= kCThreads
    int F;    // features per slice: J * F >= s, F <= kMaxFeat
};

// Whether the cluster path takes this call, and its shape.
inline bool fits(int64_t n, int64_t d, int64_t s, int V, bool vec_enc, bool vec_dec, Shape *sh) {
    if (!vec_enc || !vec_dec || n > kMaxRows || s > kMaxS || s < 1 || d % V != 0) return false;
    const int64_t nv = d / V;
    const int64_t nvb = (nv + kBlocks - 1) / kBlocks;
    if (nvb < 1 || nvb > kMaxSliceVec) return false;
    const int64_t J = std::min<int64_t>(kCThreads / nvb, s);
    const int64_t F = (s + J - 1) / J;
    if (F > kMaxFeat) return false;
    *sh = Shape{int(nvb), int(J), int(F)};
    return true;
}

// 16 bytes as V floats of T (the packed registers of the prefetch, unpacked where they are used).
__device__ __forceinline__ void unpack16(const uint4 &u, float (&w)[4]) {
    w[0] = __uint_as_float(u.x);
    w[1] = __uint_as_float(u.y);
    w[2] = __uint_as_float(u.z);
    w[3] = __uint_as_float(u.w);
}
template <class T> __device__ __forceinline__ void unpack16(const uint4 &u, float (&w)[8]) {
    if constexpr (std::is_same<T, __half>::value) {
        f16x2_to_f32(u.x, w);
        f16x2_to_f32(u.y, w + 2);
        f16x2_to_f32(u.z, w + 4);
        f16x2_to_f32(u.w, w + 6);
    } else {
        bf16x2_to_f32(u.x, w);
        bf16x2_to_f32(u.y, w + 2);
        bf16x2_to_f32(u.z, w + 4);
        bf16x2_to_f32(u.w, w + 6);
    }
}
template <class T, int V> __device__ __forceinline__ void unpack(const uint4 &u, float (&w)[V]) {
    if constexpr (V == 4)
        unpack16(u, w);
    else
        unpack16<T>(u, w);
}
template <class T, int V> __device__ __forceinline__ void store16(T *p, const float (&w)[V]) {
    union {
        uint4 u;
        T e[V];
    } out;
#pragma unroll
    for (int c = 0; c < V; ++c) out.e[c] = from_f32<T>(w[c]);
    *reinterpret_cast<uint4 *>(p) = out.u;
}
}  // namespace cluster_step

template <class T>
__global__ void __launch_bounds__(cluster_step::kCThreads, 1) steer_cluster_kernel(SteerArgs a, cluster_step::Shape sh) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900  // clusters exist from sm_90; cluster_ready() checks
    using namespace cluster_step;
    namespace cg = cooperative_groups;
    constexpr int V = vec_of<T>();
    __shared__ float part[kMaxS];                // this block's partial dot products, read by the cluster
    __shared__ float coef[kMaxS];                // c_i, computed alike by every block of the cluster
    __shared__ float slice_sum[kCThreads * V];    // phase C: [slice j][vector q][V]
    const cg::cluster_group cluster = cg::this_cluster();
    if (a.pdl) pdl_begin();  // before row_mask is read: the kernel before may write it
    const int64_t r = blockIdx.y;
    if (!row_steered(a, r)) return;  // uniform over the cluster: all its blocks leave, none waits
    const int t = int(threadIdx.x), lane = t & 31, warp = t >> 5;
    const int64_t nv = a.d / V;
    const int64_t q0 = int64_t(cluster.block_rank()) * sh.nvb;  // the slice's first vector
    const int64_t left = nv - q0;                                // vectors from there to the row's end
    const int nvb = int(left < sh.nvb ? (left > 0 ? left : 0) : sh.nvb);  // the slice's (the last ones: fewer, or none)
    T *xr = static_cast<T *>(a.x) + r * a.ldx + q0 * V;
    const T *We = static_cast<const T *>(a.Wenc_S) + q0 * V;
    const T *Wd = static_cast<const T *>(a.Wdec_S) + q0 * V;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);

    // Every global load, issued before the first use. x through the coherent path (this block writes
    // it at the end), the packed weights through the read-only one; absent slots hold zeros, which add
    // exact zeros to the sums.
    uint4 xa[kVecPerLane], wa[kFeatPerWarp][kVecPerLane], wc[kMaxFeat], xc = zero;
#pragma unroll
    for (int j = 0; j < kVecPerLane; ++j) {
        const int q = lane + 32 * j;
        xa[j] = q < nvb ? *reinterpret_cast<const uint4 *>(xr + q * V) : zero;
#pragma unroll
        for (int f = 0; f < kFeatPerWarp; ++f) {
            const int64_t i = warp + kCWarps * f;
            wa[f][j] = q < nvb && i < a.s ? __ldg(reinterpret_cast<const uint4 *>(We + i * a.d + q * V)) : zero;
        }
    }
    const int tj = t / sh.nvb, tq = t % sh.nvb;
    const bool c_thread = tj < sh.J && tq < nvb;
#pragma unroll
    for (int f = 0; f < kMaxFeat; ++f) {
        const int64_t i = int64_t(tj) * sh.F + f;
        wc[f] = c_thread && f < sh.F && i < a.s ? __ldg(reinterpret_cast<const uint4 *>(Wd + i * a.d + tq * V)) : zero;
    }
    if (t < nvb) xc = *reinterpret_cast<const uint4 *>(xr + t * V);
    float b_i = 0.0f, thr_i = 0.0f, v_i = 0.0f;
    if (t < a.s) {
        b_i = to_f32(static_cast<const T *>(a.benc_S)[t]);
        if (a.jump) thr_i = to_f32(static_cast<const T *>(a.thr_S)[t]);
        v_i = a.v_S[t];
    }

    // A. this block's partial dot products.
    float acc[kFeatPerWarp];
#pragma unroll
    for (int f = 0; f < kFeatPerWarp; ++f) acc[f] = 0.0f;
#pragma unroll
    for (int j = 0; j < kVecPerLane; ++j) {
        float xv[V];
        unpack<T, V>(xa[j], xv);
#pragma unroll
        for (int f = 0; f < kFeatPerWarp; ++f) {
            float wv[V];
            unpack<T, V>(wa[f][j], wv);
#pragma unroll
            for (int c = 0; c < V; ++c) acc[f] += xv[c] * wv[c];
        }
    }
#pragma unroll
    for (int f = 0; f < kFeatPerWarp; ++f) {
        float sum = acc[f];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const int i = warp + kCWarps * f;
        if (lane == 0 && i < a.s) part[i] = sum;
    }
    cluster.sync();  // every block's partials are written, and visible to the whole cluster

    // B. the coefficients, from the kBlocks partials of each feature (their loads in flight together).
    float c_i = 0.0f;
    if (t < a.s) {
        float p[kBlocks];
#pragma unroll
        for (int k = 0; k < kBlocks; ++k) p[k] = *cluster.map_shared_rank(&part[t], k);
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < kBlocks; ++k) dot += p[k];
        const float pre = dot + b_i;
        const float f = a.jump ? (pre > thr_i ? pre : 0.0f) : relu_dev(pre);
        c_i = relu_dev(f + a.lambda * v_i) - f;
        coef[t] = c_i;
    }
    auto done_reading = cluster.barrier_arrive();  // this block no longer reads the others' partials
    const bool any = __syncthreads_or(c_i != 0.0f);  // coef is visible to the block from here

    // C. the slice's update, when some coefficient is non-zero.
    if (any) {
        if (c_thread) {
            float sum[V];
#pragma unroll
            for (int c = 0; c < V; ++c) sum[c] = 0.0f;
#pragma unroll
            for (int f = 0; f < kMaxFeat; ++f) {
                const int i = tj * sh.F + f;
                if (f < sh.F && i < a.s) {
                    float w[V];
                    unpack<T, V>(wc[f], w);
                    const float ci = coef[i];
#pragma unroll
                    for (int c = 0; c < V; ++c) sum[c] += ci * w[c];
                }
            }
#pragma unroll
            for (int c = 0; c < V; ++c) slice_sum[(tj * sh.nvb + tq) * V + c] = sum[c];
        }
        __syncthreads();
        if (t < nvb) {
            float sum[V];
            unpack<T, V>(xc, sum);
            for (int j = 0; j < sh.J; ++j)
#pragma unroll
                for (int c = 0; c < V; ++c) sum[c] += slice_sum[(j * sh.nvb + t) * V + c];
            store16<T, V>(xr + t * V, sum);
        }
    }
    cluster.barrier_wait(std::move(done_reading));
#endif
}

// The launch of `rows` clusters of kBlocks blocks (one per row) on `st`, with programmatic stream
// serialization when `pdl` (variant SAS_CUDA_PDL); attr is the caller's array. Filled by position (grid,
// block, dynamic shared memory, stream, attributes, their count): the CPU emulation defines gridDim and
// blockDim as macros, as CUDA defines them as built-in variables.
inline cudaLaunchConfig_t cluster_config(unsigned rows, cudaStream_t st, bool pdl, cudaLaunchAttribute (&attr)[2]) {
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = cluster_step::kBlocks;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[1].val.programmaticStreamSerializationAllowed = 1;
    return cudaLaunchConfig_t{dim3(cluster_step::kBlocks, rows, 1), dim3(cluster_step::kCThreads, 1, 1), 0, st, attr,
                              pdl ? 2u : 1u};
}

// Whether steer_cluster_kernel<T> can run on the current device (cached per device): cluster launch
// (sm_90 and newer), code for the device built from sm_90 or newer (an sm_80 build's body is empty), and
// at least one cluster of kBlocks blocks fitting at once.
template <class T> bool cluster_ready() {
    static int cache[64] = {0};  // 0 = not yet asked, -1 = unavailable, 1 = available
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
        (void)cudaGetLastError();
        return false;
    }
    if (cache[dev] == 0) {
        int major = 0, cluster = 0, clusters = 0;
        cudaFuncAttributes fa{};
        cudaLaunchAttribute attr[2];
        const cudaLaunchConfig_t cfg = cluster_config(1, nullptr, false, attr);
        const bool ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
                        major >= 9 && cudaDeviceGetAttribute(&cluster, cudaDevAttrClusterLaunch, dev) == cudaSuccess &&
                        cluster && cudaFuncGetAttributes(&fa, steer_cluster_kernel<T>) == cudaSuccess &&
                        fa.binaryVersion >= 90 && fa.ptxVersion >= 90 &&
                        cudaOccupancyMaxActiveClusters(&clusters, steer_cluster_kernel<T>, &cfg) == cudaSuccess &&
                        clusters > 0;
        if (!ok) (void)cudaGetLastError();
        cache[dev] = ok ? 1 : -1;
    }
    return cache[dev] > 0;
}

// Launches the cluster path: SAS_OK, or SAS_ERR_UNSUPPORTED (nothing launched, last error cleared) when
// the device refuses clusters of this size, so the caller takes another path.
template <class T> sas_status launch_cluster_step(cudaStream_t st, const SteerArgs &a, const cluster_step::Shape &sh) {
    cudaLaunchAttribute attr[2];
    const cudaLaunchConfig_t cfg = cluster_config(unsigned(a.n), st, a.pdl, attr);
    const cudaError_t err = cudaLaunchKernelEx(&cfg, steer_cluster_kernel<T>, a, sh);
    if (err == cudaSuccess) return SAS_OK;
    if (err == cudaErrorInvalidClusterSize || err == cudaErrorNotSupported) {
        (void)cudaGetLastError();
        return SAS_ERR_UNSUPPORTED;
    }
    return check_cuda(err, "steer_cluster_kernel");
}
