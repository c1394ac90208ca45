// The CUDA kernel variants: a second way to run one kernel, same results (same selection, same formula),
// chosen per process by an environment variable: "1" takes the variant, "0" the kernel it would replace,
// anything else (or unset) the default written here. Read on every call, so tests and benchmarks can
// switch per case; host code only (the CUDA files, dispatch.cpp's sas_build_info, the emulation, the native
// tests and sas_bench read it).
//
// A variant written without a GPU to run it on ships with on_by_default = false; once a GPU run has
// checked it (ctest, torch_contract.py) and timed it beside the default (sas_bench --ab, ab_report.py),
// adopting it is flipping its default here. The switch stays either way: the native tests name the side
// of every switch they check (native/tests/test_util.h, Variants), so both kernels stay tested whatever
// the defaults, and a user can take an adopted variant back out.
#pragma once

#include <cstdlib>

namespace sas {
namespace variants {

struct Variant {
    const char *env;     // environment variable
    bool on_by_default;  // taken when env is neither "0" nor "1"
    const char *label;   // short name (sas_bench's variant column)
};

// Tensor-core (mma.sync) encoder for 2..16 rows of bf16/f16: kernels/cuda/gemv_tc.cuh.
// Status: all five were written after the last GPU run (session 3, H200); they pass the native tests in
// the CPU emulation of the CUDA kernels (native/emu), not yet run on a GPU, so all are off by default.

inline constexpr Variant kTcGemv{"SAS_CUDA_TC_GEMV", false, "tc_gemv"};
// Tensor-core GEMM encoder for more than 16 rows of bf16/f16: kernels/cuda/gemm_tc.cuh.
inline constexpr Variant kTcGemm{"SAS_CUDA_TC_GEMM", false, "tc_gemm"};
// The n <= 16 encoders reduce their own split-K partials (last block to arrive): kernels/cuda/splitk.cuh.
inline constexpr Variant kSplitkOne{"SAS_CUDA_SPLITK_ONE", false, "splitk_one"};
// Warp-aggregated histograms and a tiled ordered pass in top-k: block_topk_select<Fast> (block_util.cuh).
inline constexpr Variant kTopkFast{"SAS_CUDA_TOPK_FAST", false, "fast"};
// The fused steering step as one plain launch, no grid barrier: steer_one_kernel (kernels/cuda/steer.cu).
inline constexpr Variant kSteerOne{"SAS_CUDA_STEER_ONE", false, "one"};

inline constexpr const Variant *kAll[] = {&kTcGemv, &kTcGemm, &kSplitkOne, &kTopkFast, &kSteerOne};

// "0" or "1" as set in the environment: -1 when unset or anything else.
inline int forced(const Variant &v) {
    const char *s = std::getenv(v.env);
    if (s && (s[0] == '0' || s[0] == '1') && s[1] == 0) return s[0] - '0';
    return -1;
}

// Whether the library takes the variant now.
inline bool on(const Variant &v) {
    const int f = forced(v);
    return f < 0 ? v.on_by_default : f == 1;
}

}  // namespace variants
}  // namespace sas
