// cuda_emu.h: just enough of CUDA to run this library's kernels on the CPU, to check their LOGIC where no
// GPU is lent (index math, barriers, warp-level exchanges, tensor-core fragment layouts, the host code
// around the launches). Not a simulator of timing or memory ordering: a few blocks are resident at once
// (all of them in a cooperative launch), and their threads are fibers that switch only at barriers and
// warp-wide operations, interleaved in shuffled orders with one warp per block lagging, so
// __syncthreads, the *_sync intrinsics and this_grid().sync() have their CUDA meaning and a missing one
// shows up as a wrong result. A kernel that passes here can still fail on a GPU (a race no schedule here
// exposes, a missing fence, a compiler or hardware difference); one that fails here is wrong.
// native/emu/README.md says how it is built and what it covers.
//
// The kernels' sources are used as they are, after native/emu/cu2cpp.py rewrites what C++ cannot parse or
// what must be per block: kernel<<<grid, block, smem, stream>>>(args) launches and `__shared__` /
// `extern __shared__` declarations. The PTX of the tensor-core kernels (ldmatrix, mma.sync, cp.async) is
// emulated from the PTX ISA's fragment layouts (#ifdef SAS_CUDA_EMU in gemv_tc.cuh / gemm_tc.cuh).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// ---- keywords ------------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// __shared__ declarations are rewritten by cu2cpp.py (per-block memory), so no macro here.
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict

// ---- vector types ----------------------------------------------------------------------------------------
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// ---- bf16 / f16 (storage types with round-to-nearest-even conversions) ----------------------------------------
struct __nv_bfloat16 { uint16_t bits; };
struct __half { uint16_t bits; };
struct __half2 { __half x, y; };

inline float __uint_as_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t __float_as_uint(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float(uint32_t(h.bits) << 16); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    const uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return {uint16_t((u >> 16) | 0x40u)};  // NaN stays NaN
    return {uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16)};
}
inline float __half2float(__half h) {
    const uint32_t s = uint32_t(h.bits & 0x8000u) << 16, e = (h.bits >> 10) & 0x1fu, m = h.bits & 0x3ffu;
    if (e == 0x1f) return __uint_as_float(s | 0x7f800000u | (m << 13));
    if (e == 0) return (s ? -1.0f : 1.0f) * std::ldexp(float(m), -24);  // zero and subnormals
    return __uint_as_float(s | ((e + 112u) << 23) | (m << 13));
}
inline __half __float2half_rn(float f) {
    const uint32_t u = __float_as_uint(f), s = (u >> 16) & 0x8000u;
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return {uint16_t(s | 0x7e00u)};
    if (a >= 0x477ff000u) return {uint16_t(s | 0x7c00u)};  // rounds to >= 65520: inf
    if (a < 0x38800000u) {  // below the smallest normal half: a subnormal, rounded to even
        const float q = std::nearbyint(__uint_as_float(a) * 16777216.0f);  // units of 2^-24
        return {uint16_t(s | uint32_t(q))};
    }
    const uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    return {uint16_t(s | ((r - 0x38000000u) >> 13))};
}
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }

// ---- the fiber runtime ------------------------------------------------------------------------------------
namespace emu {

struct ThreadPos {
    dim3 tid;
    int lane, warp;
};
// The running fiber's indices (the scheduler sets them at every switch) and the launch's shape.
extern ThreadPos g_pos;
extern dim3 g_block_idx, g_block_dim, g_grid_dim;
// The running block's own shared memory: one `__shared__` variable (tag: unique to the declaration and
// the kernel's instantiation) and the dynamic (`extern __shared__`) array. cu2cpp.py rewrites the
// declarations into these calls, so every resident block has its own copy, poisoned when it starts.
void *shared_variable(const void *tag, size_t bytes, size_t align);
unsigned char *dynamic_shared();
template <class V, size_t Align = alignof(V)> inline V &block_shared(const void *tag) {
    return *static_cast<V *>(shared_variable(tag, sizeof(V), Align > alignof(V) ? Align : alignof(V)));
}

uint64_t *warp_exchange(uint64_t v);  // every lane deposits v; returns the 32 values of this round
int block_barrier(int pred);          // __syncthreads; returns the block's count of pred != 0

template <class V> inline uint64_t to_bits(V v) {
    static_assert(sizeof(V) <= 8, "warp exchange of a value over 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(V));
    return b;
}
template <class V> inline V from_bits(uint64_t b) {
    V v;
    std::memcpy(&v, &b, sizeof(V));
    return v;
}

struct Cfg {
    dim3 grid, block;
    size_t smem;
    const void *stream;  // the launch's stream (nullptr: the legacy default stream)
    bool pdl = false;    // programmatic stream serialization (cudaLaunchKernelEx's attribute)
    Cfg(dim3 g, dim3 b, size_t s = 0, const void *st = nullptr) : grid(g), block(b), smem(s), stream(st) {}
};

// The runtime calls that do work on the device or wait for it, in the order made (launches that CUDA
// would refuse are not logged): what a test can ask of the library's host code, say one launch per
// decode step, no allocation and no synchronisation per call, and everything on the caller's stream
// (native/emu/test_calls.cpp). Queries (cudaGetDevice, attributes, errors) are not logged.
enum class Op { Launch, CooperativeLaunch, ClusterLaunch, Malloc, Free, PoolAlloc, PoolFree, Memset, MemsetAsync, Memcpy,
                DeviceSync, EventRecord, EventSync };
struct Call {
    Op op;
    const void *stream;  // the stream of an ordered call; nullptr for the default stream and synchronous ones
    bool pdl = false;    // a launch with programmatic stream serialization
};
std::vector<Call> calls();  // a copy of the log
void clear_calls();
const char *op_name(Op op);
// Runs body() as every thread of every block (a few blocks resident at a time). Returns false (and sets the last
// error, as a failed launch would) for a configuration CUDA would refuse.
bool run_grid(const Cfg &cfg, const std::function<void()> &body);

template <class... P, class... A> void launch(void (*kernel)(P...), const Cfg &cfg, A &&...args) {
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);  // converted as the call would
    run_grid(cfg, [&] { std::apply(kernel, params); });
}

// Tensor-core and async-copy instructions, by the PTX ISA's fragment layouts.
void ldmatrix_x4(uint32_t (&r)[4], const void *row, bool trans);
void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, bool bf16);

// griddepcontrol.wait and .launch_dependents (programmatic dependent launch). The emulation runs one
// launch at a time, so the wait has nothing to wait for; what it checks is the library's rule for a
// launch with programmatic stream serialization: every thread waits before it exits, and waits before it
// lets the next kernel launch (which would otherwise run beside the kernel before this one). Either
// breach stops the run with a message.
void griddep_wait();
void griddep_launch_dependents();
// prefetch.L2: nothing to fetch here. The byte at p is read, so AddressSanitizer checks the address, and
// the prefetch is counted (prefetches(): since the process started), so a test can see a kernel issue them.
extern uint64_t g_prefetches;
inline void prefetch_l2(const void *p) {
    (void)*static_cast<const volatile char *>(p);
    __atomic_fetch_add(&g_prefetches, 1, __ATOMIC_RELAXED);
}
inline uint64_t prefetches() { return __atomic_load_n(&g_prefetches, __ATOMIC_RELAXED); }

}  // namespace emu

#define threadIdx (::emu::g_pos.tid)
#define blockIdx (::emu::g_block_idx)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)

// ---- device intrinsics ------------------------------------------------------------------------------------
inline void __syncthreads() { ::emu::block_barrier(0); }
inline int __syncthreads_or(int p) { return ::emu::block_barrier(p != 0) > 0; }
inline int __syncthreads_count(int p) { return ::emu::block_barrier(p != 0); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::emu::warp_exchange(0); }
template <class V> inline V __shfl_sync(unsigned, V v, int src) {
    return ::emu::from_bits<V>(::emu::warp_exchange(::emu::to_bits(v))[src & 31]);
}
template <class V> inline V __shfl_xor_sync(unsigned, V v, int mask) {
    return ::emu::from_bits<V>(::emu::warp_exchange(::emu::to_bits(v))[(::emu::g_pos.lane ^ mask) & 31]);
}
template <class V> inline V __shfl_up_sync(unsigned, V v, unsigned delta) {
    const uint64_t *all = ::emu::warp_exchange(::emu::to_bits(v));
    const int lane = ::emu::g_pos.lane;
    return lane >= int(delta) ? ::emu::from_bits<V>(all[lane - int(delta)]) : v;
}
inline unsigned __ballot_sync(unsigned, int p) {
    const uint64_t *all = ::emu::warp_exchange(p != 0);
    unsigned b = 0;
    for (int l = 0; l < 32; ++l) b |= unsigned(all[l] != 0) << l;
    return b;
}
inline int __all_sync(unsigned m, int p) { return __ballot_sync(m, p) == 0xffffffffu; }
inline int __any_sync(unsigned m, int p) { return __ballot_sync(m, p) != 0u; }
template <class V> inline unsigned __match_any_sync(unsigned, V v) {
    const uint64_t mine = ::emu::to_bits(v);
    const uint64_t *all = ::emu::warp_exchange(mine);
    unsigned b = 0;
    for (int l = 0; l < 32; ++l) b |= unsigned(all[l] == mine) << l;
    return b;
}
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz(unsigned(v)); }
inline void __threadfence() {}
template <class V> inline V __ldg(const V *p) { return *p; }
template <class V> inline V __ldcg(const V *p) { return *p; }
// Atomics: one host thread runs every emulated thread, so a plain read-modify-write is atomic. Under
// ThreadSanitizer (-DSAS_SANITIZE=thread), which sees each emulated thread as its own, they are real
// atomics with acquire-release order, so that the pattern "write partial results, then count in; the last
// block to count in reads them all" is ordered for it by the counter (__threadfence, which it cannot
// model, is then neither needed nor checked here).
namespace emu {
template <class F> inline unsigned atomic_rmw(unsigned *p, F f) {
#if defined(__SANITIZE_THREAD__)
    unsigned old = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    while (!__atomic_compare_exchange_n(p, &old, f(old), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    }
    return old;
#else
    const unsigned old = *p;
    *p = f(old);
    return old;
#endif
}
}  // namespace emu
inline unsigned atomicAdd(unsigned *p, unsigned v) { return ::emu::atomic_rmw(p, [v](unsigned o) { return o + v; }); }
inline unsigned atomicMin(unsigned *p, unsigned v) { return ::emu::atomic_rmw(p, [v](unsigned o) { return v < o ? v : o; }); }
inline unsigned atomicMax(unsigned *p, unsigned v) { return ::emu::atomic_rmw(p, [v](unsigned o) { return v > o ? v : o; }); }
inline unsigned atomicXor(unsigned *p, unsigned v) { return ::emu::atomic_rmw(p, [v](unsigned o) { return o ^ v; }); }
inline unsigned atomicExch(unsigned *p, unsigned v) { return ::emu::atomic_rmw(p, [v](unsigned) { return v; }); }
inline size_t __cvta_generic_to_shared(const void *p) { return reinterpret_cast<size_t>(p); }

// ---- the runtime API subset the library calls ------------------------------------------------------------
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorNotSupported = 801,
    cudaErrorCooperativeLaunchTooLarge = 720,
    cudaErrorInvalidClusterSize = 912,
};
using cudaError = cudaError_t;
struct CUstream_st;
using cudaStream_t = CUstream_st *;
#define cudaStreamPerThread (reinterpret_cast<cudaStream_t>(0x2))
struct CUevent_st;
using cudaEvent_t = CUevent_st *;
struct CUmemPool_st;
using cudaMemPool_t = CUmemPool_st *;
enum cudaMemAllocationType { cudaMemAllocationTypePinned = 1 };
enum cudaMemLocationType { cudaMemLocationTypeDevice = 1 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
struct cudaMemLocation { cudaMemLocationType type; int id; };
struct cudaMemPoolProps { cudaMemAllocationType allocType; int handleTypes; cudaMemLocation location; };
enum cudaDeviceAttr {
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrCooperativeLaunch = 95,
    cudaDevAttrClusterLaunch = 120,
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount;
    size_t totalGlobalMem;
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *dev);
cudaError_t cudaGetLastError();
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int dev);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void *p, int v, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t st = nullptr);
cudaError_t cudaMemPoolCreate(cudaMemPool_t *pool, const cudaMemPoolProps *props);
cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value);
cudaError_t cudaMallocFromPoolAsync(void **p, size_t bytes, cudaMemPool_t pool, cudaStream_t st);
cudaError_t cudaFreeAsync(void *p, cudaStream_t st);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t st = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);

// ---- cooperative launches ---------------------------------------------------------------------------------
namespace emu {
// Blocks of block_threads threads that fit on one emulated "SM" at once (2048 threads, at most 32 blocks).
int blocks_per_sm(unsigned block_threads);
// Runs body() as every thread of every block with all blocks alive at once, so that grid_barrier()
// (cooperative_groups::this_grid().sync()) can hold them; cudaErrorCooperativeLaunchTooLarge when the
// grid does not fit, as on a GPU.
cudaError_t run_cooperative(const Cfg &cfg, const std::function<void()> &body);
void grid_barrier();

template <class... P, size_t... I>
cudaError_t launch_cooperative(void (*kernel)(P...), const Cfg &cfg, void **args, std::index_sequence<I...>) {
    std::tuple<std::decay_t<P>...> params(*static_cast<std::decay_t<P> *>(args[I])...);  // copied, as CUDA does
    return run_cooperative(cfg, [&] { std::apply(kernel, params); });
}
}  // namespace emu

// CUDA's typed overload (the kernel, not a void *): the emulation needs the parameter types to unpack args.
template <class... P>
cudaError_t cudaLaunchCooperativeKernel(void (*kernel)(P...), dim3 grid, dim3 block, void **args, size_t smem = 0,
                                        cudaStream_t st = nullptr) {
    return ::emu::launch_cooperative(kernel, ::emu::Cfg(grid, block, smem, st), args, std::index_sequence_for<P...>{});
}
// ---- cluster launches (cudaLaunchKernelEx with a cluster dimension) ---------------------------------------
// cudaLaunchConfig_t's members are named like the gridDim / blockDim macros above: those are set aside
// here (kernel sources fill the struct by position, so their host code never names the members).
#pragma push_macro("gridDim")
#pragma push_macro("blockDim")
#undef gridDim
#undef blockDim
enum cudaLaunchAttributeID {
    cudaLaunchAttributeCooperative = 2,
    cudaLaunchAttributeClusterDimension = 4,
    cudaLaunchAttributeProgrammaticStreamSerialization = 6,
};
union cudaLaunchAttributeValue {
    struct {
        unsigned x, y, z;
    } clusterDim;
    int cooperative;
    int programmaticStreamSerializationAllowed;
};
struct cudaLaunchAttribute {
    cudaLaunchAttributeID id;
    cudaLaunchAttributeValue val;
};
struct cudaLaunchConfig_t {
    dim3 gridDim, blockDim;
    size_t dynamicSmemBytes;
    cudaStream_t stream;
    cudaLaunchAttribute *attrs;
    unsigned numAttrs;
};
struct cudaFuncAttributes {
    int binaryVersion, ptxVersion, numRegs, maxThreadsPerBlock;
    size_t sharedSizeBytes;
};
namespace emu {
// Runs body() as every thread of every block, the blocks of each cluster (`cluster` consecutive blocks
// along x) resident together, so that cooperative_groups::this_cluster()'s barrier can hold them and
// map_shared_rank can reach their shared memory; cluster == 1 is a plain launch. Clusters of more than 8
// blocks, or that do not divide the grid or fit on the emulated device, are refused
// (cudaErrorInvalidClusterSize), as CUDA refuses them without the non-portable opt-in.
cudaError_t run_clustered(const Cfg &cfg, unsigned cluster, const std::function<void()> &body);
unsigned cluster_size();                         // of the running launch (1: not a cluster launch)
unsigned cluster_arrive();                       // returns the barrier generation to wait for
void cluster_wait(unsigned gen);
void *map_shared_rank(const void *p, unsigned rank);  // p in this block's shared memory -> rank's copy
// The cluster dimension among a launch's attributes (1 when there is none); 0 for one this emulation
// does not run (y or z above 1).
unsigned cluster_of(const cudaLaunchConfig_t &cfg);
// Whether an attribute `id` is set to a non-zero value (cooperative, programmatic stream serialization).
bool attr_set(const cudaLaunchConfig_t &cfg, cudaLaunchAttributeID id);
}  // namespace emu
// Cluster, cooperative (not together with a cluster) and programmatically serialized launches.
template <class... P, class... A>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t *cfg, void (*kernel)(P...), A &&...args) {
    const unsigned cluster = ::emu::cluster_of(*cfg);
    const bool coop = ::emu::attr_set(*cfg, cudaLaunchAttributeCooperative);
    if (cluster == 0 || (coop && cluster > 1)) return cudaErrorNotSupported;
    const bool pdl = ::emu::attr_set(*cfg, cudaLaunchAttributeProgrammaticStreamSerialization);
    // CUDA_EMU_REFUSE_COOP_PDL=1: refuse the two together, as a device or driver might (test_calls).
    const char *refuse = std::getenv("CUDA_EMU_REFUSE_COOP_PDL");
    if (coop && pdl && refuse && refuse[0] == '1') return cudaErrorNotSupported;
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);  // converted as the call would
    ::emu::Cfg c(cfg->gridDim, cfg->blockDim, cfg->dynamicSmemBytes, cfg->stream);
    c.pdl = pdl;
    const std::function<void()> body = [&] { std::apply(kernel, params); };
    return coop ? ::emu::run_cooperative(c, body) : ::emu::run_clustered(c, cluster, body);
}
template <class K> cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *a, K *) {
    *a = cudaFuncAttributes{90, 90, 32, 1024, 0};  // the emulated device is "sm_90", and so is every kernel
    return cudaSuccess;
}
template <class K> cudaError_t cudaOccupancyMaxActiveClusters(int *n, K *, const cudaLaunchConfig_t *cfg) {
    const unsigned cluster = ::emu::cluster_of(*cfg);
    const unsigned threads = cfg->blockDim.x * cfg->blockDim.y * cfg->blockDim.z;
    *n = cluster == 0 ? 0 : int(unsigned(::emu::blocks_per_sm(threads)) * 4u / cluster);
    return cudaSuccess;
}
#pragma pop_macro("blockDim")
#pragma pop_macro("gridDim")
template <class K> cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, K, int block_threads, size_t) {
    *n = ::emu::blocks_per_sm(unsigned(block_threads));
    return cudaSuccess;
}
