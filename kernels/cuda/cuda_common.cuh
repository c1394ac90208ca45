// Shared by the .cu files: launch checking, dtype loads/stores on the device, ordering keys.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "../src/variants.h"
#include "cuda_kernels.h"

namespace sas {
namespace cuda {

inline cudaStream_t as_stream(void *s) { return static_cast<cudaStream_t>(s); }

// Turns the last launch error (or `err`) into SAS_ERR_CUDA with cudaGetErrorString in the message.
sas_status check_launch(const char *what);
sas_status check_cuda(cudaError_t err, const char *what);

#define SAS_CUDA_LAUNCH_CHECK(what) SAS_TRY(::sas::cuda::check_launch(what))

// Element loads as f32 (exact) and stores from f32 (round to nearest even), by dtype tag.
struct F32 {
    using T = float;
};
struct BF16 {
    using T = __nv_bfloat16;
};
struct F16 {
    using T = __half;
};

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <class T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }

// The same total order as sas::order_key / sas::abs_key on the host.
__device__ __forceinline__ uint32_t order_key_dev(float v) {
    uint32_t u = __float_as_uint(v);
    if ((u & 0x7fffffffu) == 0) u = 0;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ uint32_t abs_key_dev(float v) { return __float_as_uint(v) & 0x7fffffffu; }

__device__ __forceinline__ float relu_dev(float v) { return v > 0.0f ? v : 0.0f; }

// Kernel variants (a second way to run a kernel, same results) are switched per process by an
// environment variable and default as kernels/src/variants.h says: variant_on(variants::kTcGemm); those
// with a rule on the call's shape (kTcGemv, kSteerOne) are asked with variants::taken(v, rule).
inline bool variant_on(const variants::Variant &v) { return variants::on(v); }

// Programmatic dependent launch (variant SAS_CUDA_PDL; sm_90 and newer). A kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization may start while the kernel before it in the stream
// still runs, so every thread of it calls pdl_begin() before it touches global memory (the pointer
// arguments included: the kernel before may be writing any of them). griddepcontrol.wait returns once
// that kernel has completed and its writes are visible; griddepcontrol.launch_dependents then lets the
// next kernel, if launched the same way, start once every block of this one has passed here. Releasing
// only after the wait keeps the overlap to one pair of kernels: the next kernel starts after the one
// before this one has completed. Both are no-ops in code built below sm_90 (the host launches with the
// attribute only where the kernel's code has them: pdl_ready in steer.cu) and in a kernel launched
// without the attribute. The emulation (native/emu) checks that every thread of such a launch waits, and
// waits before it releases.
__device__ __forceinline__ void pdl_begin() {
#if defined(SAS_CUDA_EMU)
    ::emu::griddep_wait();
    ::emu::griddep_launch_dependents();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Asks L2 for the 128-byte line holding p (prefetch.L2, generic address): a hint that no register waits
// for, so a kernel can request operands it reads only after a barrier or a round trip while it waits for
// its first loads. p must point into an allocation (the emulation reads the byte there, so
// AddressSanitizer checks every address a kernel prefetches).
__device__ __forceinline__ void prefetch_l2(const void *p) {
#if defined(SAS_CUDA_EMU)
    ::emu::prefetch_l2(p);
#elif defined(__CUDA_ARCH__)
    asm volatile("prefetch.L2 [%0];" ::"l"(p));
#endif
}

inline unsigned grid_cap(int64_t blocks) { return unsigned(blocks < 65535 * 16 ? blocks : 65535 * 16); }

// Calls fn<T>() with the element type of dt.
template <class Fn> sas_status with_dtype(sas_dtype dt, Fn &&fn) {
    switch (dt) {
    case SAS_BF16: return fn(BF16{});
    case SAS_F16: return fn(F16{});
    default: return fn(F32{});
    }
}

}  // namespace cuda
}  // namespace sas
