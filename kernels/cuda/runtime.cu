// CUDA runtime plumbing: device availability (never fails on a host without a driver), error
// conversion, memory helpers and event timers for the tests and the bench, the copy kernel.
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "gemm.cuh"

namespace sas {
namespace cuda {

namespace {
int g_available = -1;
const char *g_why = "";
char g_why_buf[256];
std::once_flag g_once;
char g_name[512];
cudaEvent_t g_ev0 = nullptr, g_ev1 = nullptr;
}  // namespace

int available(const char **why) {
    std::call_once(g_once, [] {
        int count = 0;
        cudaError_t err = cudaGetDeviceCount(&count);
        if (err != cudaSuccess) {
            std::snprintf(g_why_buf, sizeof g_why_buf, "cudaGetDeviceCount: %s", cudaGetErrorString(err));
            g_why = g_why_buf;
            (void)cudaGetLastError();  // clear the sticky-free error so later calls start clean
            g_available = 0;
        } else if (count == 0) {
            g_why = "no CUDA device found";
            g_available = 0;
        } else {
            g_available = 1;
        }
    });
    if (why) *why = g_why;
    return g_available;
}

sas_status check_cuda(cudaError_t err, const char *what) {
    if (err == cudaSuccess) return SAS_OK;
    (void)cudaGetLastError();
    return fail(SAS_ERR_CUDA, "%s: CUDA error %d (%s): %s", what, int(err), cudaGetErrorName(err),
                cudaGetErrorString(err));
}

sas_status check_launch(const char *what) { return check_cuda(cudaGetLastError(), what); }

sas_status stream_buffer(cudaStream_t st, int slot, size_t bytes, void **p, const char *what, bool zero_new) {
    static std::mutex mu;
    // (device, stream, slot, host thread for cudaStreamPerThread, which names a different stream per thread)
    using Key = std::tuple<int, cudaStream_t, int, std::thread::id>;
    static std::map<Key, std::pair<void *, size_t>> cache;
    int dev = 0;
    SAS_TRY(check_cuda(cudaGetDevice(&dev), what));
    const Key key{dev, st, slot, st == cudaStreamPerThread ? std::this_thread::get_id() : std::thread::id()};
    std::lock_guard<std::mutex> lock(mu);
    auto &entry = cache[key];
    if (entry.second < bytes) {
        cudaMemPool_t pool = nullptr;
        SAS_TRY(scratch_pool(&pool, what));
        if (entry.first) (void)cudaFreeAsync(entry.first, st);  // after this stream's earlier work
        entry = {nullptr, 0};
        const size_t cap = (std::max(bytes, size_t(64) << 10) + 0xffff) & ~size_t(0xffff);
        void *q = nullptr;
        cudaError_t err = cudaMallocFromPoolAsync(&q, cap, pool, st);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            return fail(SAS_ERR_ALLOC, "%s: cudaMallocFromPoolAsync(%zu bytes) failed: %s", what, cap,
                        cudaGetErrorString(err));
        }
        if (zero_new) {
            err = cudaMemsetAsync(q, 0, cap, st);
            if (err != cudaSuccess) {
                (void)cudaFreeAsync(q, st);
                return check_cuda(err, what);
            }
        }
        entry = {q, cap};
    }
    *p = entry.first;
    return SAS_OK;
}

sas_status scratch_pool(cudaMemPool_t *pool, const char *what) {
    static std::mutex mu;
    static cudaMemPool_t pools[64] = {};
    int dev = 0;
    SAS_TRY(check_cuda(cudaGetDevice(&dev), what));
    if (dev < 0 || dev >= 64) return fail(SAS_ERR_CUDA, "%s: CUDA device ordinal %d out of range", what, dev);
    std::lock_guard<std::mutex> lock(mu);
    if (!pools[dev]) {
        cudaMemPoolProps props{};
        props.allocType = cudaMemAllocationTypePinned;
        props.location.type = cudaMemLocationTypeDevice;
        props.location.id = dev;
        cudaMemPool_t p = nullptr;
        SAS_TRY(check_cuda(cudaMemPoolCreate(&p, &props), what));
        uint64_t keep = kScratchKeepBytes;
        sas_status st = check_cuda(cudaMemPoolSetAttribute(p, cudaMemPoolAttrReleaseThreshold, &keep), what);
        if (st != SAS_OK) {
            (void)cudaMemPoolDestroy(p);
            return st;
        }
        pools[dev] = p;
    }
    *pool = pools[dev];
    return SAS_OK;
}

__global__ void copy_kernel(const uint4 *__restrict__ src, uint4 *__restrict__ dst, size_t n16) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n16; i += size_t(gridDim.x) * blockDim.x)
        dst[i] = src[i];
}
__global__ void copy_tail(const unsigned char *src, unsigned char *dst, size_t n) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
        dst[i] = src[i];
}

sas_status copy(void *stream, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return SAS_OK;
    int sms = 132;
    int dev = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    const size_t n16 = ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) % 16 == 0) ? bytes / 16 : 0;
    if (n16) {
        copy_kernel<<<unsigned(sms) * 8, 512, 0, as_stream(stream)>>>(static_cast<const uint4 *>(src),
                                                                       static_cast<uint4 *>(dst), n16);
        SAS_CUDA_LAUNCH_CHECK("copy_kernel");
    }
    const size_t done = n16 * 16;
    if (done < bytes) {
        copy_tail<<<unsigned(sms), 256, 0, as_stream(stream)>>>(static_cast<const unsigned char *>(src) + done,
                                                                static_cast<unsigned char *>(dst) + done, bytes - done);
        SAS_CUDA_LAUNCH_CHECK("copy_tail");
    }
    return SAS_OK;
}

// The read probe: every byte of src read once (16-byte loads, four in flight per thread), folded into
// one word so the loads cannot be dropped: *sink ^= XOR over i of byte[i] << 8 * (i % 4), i.e. the XOR
// of src's little-endian 32-bit words, the same on the CPU (native/tests check it). The time of streaming a matrix once at a given size, single
// and back to back, is the floor of any kernel that must read it (the encoder at n = 1 reads W_enc).
__global__ void read_kernel(const uint4 *__restrict__ src, size_t n16, const unsigned char *__restrict__ tail,
                            size_t tail_bytes, unsigned *sink) {
    const size_t stride = size_t(gridDim.x) * blockDim.x;
    size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
    unsigned acc = 0;
    for (; i + 3 * stride < n16; i += 4 * stride) {
        const uint4 a = src[i], b = src[i + stride], c = src[i + 2 * stride], e = src[i + 3 * stride];
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ e.x ^ e.y ^ e.z ^ e.w;
    }
    for (; i < n16; i += stride) {
        const uint4 a = src[i];
        acc ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    if (blockIdx.x == 0)
        for (size_t t = threadIdx.x; t < tail_bytes; t += blockDim.x) acc ^= unsigned(tail[t]) << (8 * (t % 4));
    for (int o = 16; o > 0; o >>= 1) acc ^= __shfl_xor_sync(0xffffffffu, acc, o);
    if ((threadIdx.x & 31) == 0) atomicXor(sink, acc);
}

sas_status read_probe(void *stream, const void *src, size_t bytes, unsigned *sink) {
    int sms = 132;
    int dev = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    const size_t n16 = reinterpret_cast<uintptr_t>(src) % 16 == 0 ? bytes / 16 : 0;
    read_kernel<<<unsigned(sms) * 4, 512, 0, as_stream(stream)>>>(static_cast<const uint4 *>(src), n16,
                                                                   static_cast<const unsigned char *>(src) + n16 * 16,
                                                                   bytes - n16 * 16, sink);
    SAS_CUDA_LAUNCH_CHECK("read_kernel");
    return SAS_OK;
}

// The launch probe: one empty block. Its single-call time from an idle stream (launch, run, event) is
// the floor of any one-launch call, and back to back the launch rate.
__global__ void empty_kernel() {}

sas_status launch_probe(void *stream) {
    empty_kernel<<<1, 32, 0, as_stream(stream)>>>();
    SAS_CUDA_LAUNCH_CHECK("empty_kernel");
    return SAS_OK;
}

sas_status malloc_device(void **p, size_t bytes) {
    cudaError_t err = cudaMalloc(p, bytes);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return fail(SAS_ERR_ALLOC, "cudaMalloc(%zu bytes): %s", bytes, cudaGetErrorString(err));
    }
    return SAS_OK;
}
sas_status free_device(void *p) { return check_cuda(cudaFree(p), "cudaFree"); }
sas_status memcpy_h2d(void *dst, const void *src, size_t bytes) {
    return check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
}
sas_status memcpy_d2h(void *dst, const void *src, size_t bytes) {
    return check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
}
sas_status memset_device(void *p, int value, size_t bytes) {
    return check_cuda(cudaMemset(p, value, bytes), "cudaMemset");
}
sas_status synchronize() { return check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

sas_status timer_start(void *stream) {
    if (!g_ev0) {
        SAS_TRY(check_cuda(cudaEventCreate(&g_ev0), "cudaEventCreate"));
        SAS_TRY(check_cuda(cudaEventCreate(&g_ev1), "cudaEventCreate"));
    }
    return check_cuda(cudaEventRecord(g_ev0, as_stream(stream)), "cudaEventRecord");
}
sas_status timer_stop(void *stream, float *ms) {
    SAS_TRY(check_cuda(cudaEventRecord(g_ev1, as_stream(stream)), "cudaEventRecord"));
    SAS_TRY(check_cuda(cudaEventSynchronize(g_ev1), "cudaEventSynchronize"));
    return check_cuda(cudaEventElapsedTime(ms, g_ev0, g_ev1), "cudaEventElapsedTime");
}

const char *device_name() {
    cudaDeviceProp prop{};
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return "CUDA device (unknown)";
    }
    std::snprintf(g_name, sizeof g_name, "%.200s (sm_%d%d, %d SMs, %.0f GiB)", prop.name, prop.major, prop.minor,
                  prop.multiProcessorCount, double(prop.totalGlobalMem) / (1024.0 * 1024 * 1024));
    return g_name;
}

}  // namespace cuda
}  // namespace sas

namespace sas {
namespace cuda {

namespace {
__host__ __device__ inline uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

template <class T> __global__ void fill_kernel(T *p, int64_t count, uint64_t seed, float lo, float hi) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
        const float u = float(mix64(seed * 0x100000001B3ull + uint64_t(i)) >> 40) * (1.0f / 16777216.0f);
        p[i] = from_f32<T>(lo + (hi - lo) * u);
    }
}

__global__ void dense_coef_kernel(const float *f, int64_t n, int64_t m, const float *v, float lambda, float *c) {
    const int64_t total = n * m;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const float fv = f[e];
        c[e] = relu_dev(fv + lambda * v[e % m]) - fv;
    }
}
}  // namespace

sas_status fill_random(sas_dtype dt, void *p, int64_t count, uint64_t seed, float lo, float hi) {
    return with_dtype(dt, [&](auto tag) -> sas_status {
        using T = typename decltype(tag)::T;
        fill_kernel<T><<<2048, 256>>>(static_cast<T *>(p), count, seed, lo, hi);
        return check_launch("fill_kernel");
    });
}

sas_status dense_coef(void *stream, const float *f, int64_t n, int64_t m, const float *v, float lambda, float *c) {
    dense_coef_kernel<<<2048, 256, 0, as_stream(stream)>>>(f, n, m, v, lambda, c);
    return check_launch("dense_coef_kernel");
}

}  // namespace cuda
}  // namespace sas
