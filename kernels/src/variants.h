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
    const char *auto_rule = nullptr;  // when unset, the kernel decides per call by this rule (else the default)
};

// Status after two H200 runs in session 9 (native/gpu-check.sh: ctest, torch_contract.py and the
// variants-off/on comparison of sas_bench --ab all passed; times in BENCHMARKS.md section 3):
//  - TC_GEMM: 4.7x-9.0x faster than the tiled FMA kernel at n = 64 and 512: on by default.
//  - TC_GEMV: first version 0.45x-0.87x (its B operands came from global memory two bytes at a time);
//    rewritten (x fragments as 16-byte loads, k order permuted): 1.28x-2.13x at n = 16 in all six shapes,
//    0.84x-1.36x at n = 8, 0.74x-1.21x at n = 2 (the FMA kernel streams W better at m = 1M). When
//    unset, taken where n > 8 (both kernels then cost what n = 16 costs); "1" or "0" force it.
//  - SPLITK_ONE: 0.88x-1.08x, slower where n = 8 and 16: off.
//  - TOPK_FAST (warp-aggregated histograms, a tiled ordered pass, staged loads): faster in none of the 60
//    shapes (0.58x-1.00x): removed in session 14; its staged loads live on as TOPK_STAGE.
//  - STEER_ONE: faster at s = 8 in both runs (1.0x-1.8x, the shapes where it needs no partial sums),
//    slower from s = 64 (0.55x-0.96x): when unset, taken where s <= 8; "1" or "0" force it.
//  - TC_WIDE, TOPK_STAGE: written after these runs, not yet timed: off.
//  - TOPK_REG, SPARSE_SPLIT, TOPK_ACT: written in session 10 (no GPU), not yet timed: off.
//  - STEER_CLUSTER, GEMV_XT: written in session 11 (no GPU), not yet timed: off.
//  - PDL, TOPK_HIST: written in session 12 (no GPU), not yet timed: off.
//  - STEER_PREFETCH: written in session 15 (no GPU), not yet timed: off.
//  - SUBSET_GEMM: written in session 22 (no GPU), not yet timed: off.
// A variant with an auto rule decides per call when unset (taken() below, with the call's shape).

// Tensor-core (mma.sync) encoder for 2..16 rows of bf16/f16: kernels/cuda/gemv_tc.cuh.
inline constexpr int kTcGemvAutoMinN = 9;
inline constexpr Variant kTcGemv{"SAS_CUDA_TC_GEMV", false, "tc_gemv", "n > 8"};
// The tensor-core encoder with 4 column tiles per warp, so each 16-byte W load of a warp covers whole
// 128-byte lines (gemv_tc.cuh, CT = kTcWideCT); on ("1") it takes the tensor-core path for 2..16 rows
// whatever SAS_CUDA_TC_GEMV says. Written after session 9's GPU runs: not yet run on a GPU, off.
inline constexpr Variant kTcWide{"SAS_CUDA_TC_WIDE", false, "tc_wide"};
// The FMA encoder for 2..16 rows with its staged rows of x transposed in shared memory ([k][row]: one
// 16-byte load gives 4 rows' values of a k), cutting its issued instructions per weight by ~13% at n = 8,
// where it is bound by them (kernels/cuda/gemm.cuh, gemv_kernel). Same bits. Written in session 11,
// without a GPU: off, not yet run on a GPU.
inline constexpr Variant kGemvXt{"SAS_CUDA_GEMV_XT", false, "gemv_xt"};
// Tensor-core GEMM encoder for more than 16 rows of bf16/f16: kernels/cuda/gemm_tc.cuh.
inline constexpr Variant kTcGemm{"SAS_CUDA_TC_GEMM", true, "tc_gemm"};
// The n <= 16 encoders reduce their own split-K partials (last block to arrive): kernels/cuda/splitk.cuh.
inline constexpr Variant kSplitkOne{"SAS_CUDA_SPLITK_ONE", false, "splitk_one"};
// The removed TOPK_FAST's staged loads alone: a chunk's keys go to shared memory with 8 loads per thread in flight
// (stage_keys in topk.cu) instead of one load per thread and round trip, with the default histograms and
// ordered pass. Written after session 9's GPU runs, to time apart the one part of TOPK_FAST that cuts
// latency (at 8192 keys and 1024 threads the default waits for 8 dependent round trips to memory, by
// estimate up to ~5 us of phase 1's measured 17 us on an H200), from the parts that lost: not yet run on
// a GPU, off.
inline constexpr Variant kTopkStage{"SAS_CUDA_TOPK_STAGE", false, "stage"};
// Top-k with each chunk's keys in registers (kernels/cuda/register_select.cuh): an 11-bit first radix
// digit, later passes only over the keys of the chosen digit, one ranking of the whole chunk; phase 2
// in registers too, after a merge level when a row has more than 32768 candidates. Written in
// session 10, without a GPU, from session 9's Nsight Compute data (the default spends ~150 instructions
// per key: top-k over many rows reached 10-11% of the memory bandwidth): not yet run on a GPU, off.
inline constexpr Variant kTopkReg{"SAS_CUDA_TOPK_REG", false, "reg"};
// Top-k for rows over 8192 entries through a per-row threshold: a histogram of the keys' top 12 bits (one
// read of x), the digit holding the k-th largest key, then only the keys at or above it kept in index
// order (a second read) and selected in one block per row (kernels/cuda/topk.cu); rows where too many keys
// share that digit go to the default kernels. Memory-bound by design, where the default and TOPK_REG
// select every key in shared memory or registers. Taken before TOPK_REG and TOPK_STAGE.
// Written in session 12, without a GPU: off, not yet run on a GPU.
inline constexpr Variant kTopkHist{"SAS_CUDA_TOPK_HIST", false, "hist"};
// Sparse encode's compaction (JumpReLU, ReLU) with each row split over blocks of 8192 features, in two
// launches (count, then write at the row's count before each chunk; kernels/cuda/encode.cu), instead of
// one block per row: on an H200 that one block cost ~0.8 ns per feature (0.8 ms of the 1.87 ms sparse
// encode at m = 1M, n = 1, where the dense encode takes 1.06 ms). Written in session 10, without a GPU:
// off, not yet run on a GPU.
inline constexpr Variant kSparseSplit{"SAS_CUDA_SPARSE_SPLIT", false, "split"};
// The subset encoder as a gather of the s columns of W_enc (with b_enc and threshold) into a [d, s] buffer,
// then the dense encoders' GEMM on it (kernels/cuda/encode.cu): for many rows, where the default
// (subset_kernel, a block per column and group of 8 rows) gathers each column again for every group and
// reads each row of x again for every column (session 9's H200: 0.73 ms at n = 512, s = 256, m = 1M, where
// the same job is ~0.6 GFLOP and ~3 MB of weights). Written in session 22, without a GPU: off, not yet run
// on a GPU.
inline constexpr Variant kSubsetGemm{"SAS_CUDA_SUBSET_GEMM", false, "subset_gemm"};
// The TopK activation (encode, dense and sparse) through the chunked top-k of topk.cu, each row split over
// blocks, instead of one block per row selecting over the whole row (kernels/cuda/encode.cu). Written in
// session 10, without a GPU: off, not yet run on a GPU.
inline constexpr Variant kTopkAct{"SAS_CUDA_TOPK_ACT", false, "topk_act"};
// The fused steering step as one plain launch, no grid barrier: steer_one_kernel (kernels/cuda/steer.cu).
inline constexpr int kSteerOneAutoMaxS = 8;
inline constexpr Variant kSteerOne{"SAS_CUDA_STEER_ONE", false, "one", "s <= 8"};
// The fused step on Hopper thread-block clusters: one cluster of 8 blocks per row, each block a slice of
// d, every operand loaded in one round trip, the partial dot products exchanged through distributed
// shared memory and a cluster barrier instead of a grid-wide one (kernels/cuda/steer_cluster.cuh). For
// decode-sized steps (n <= 16, s <= 64) on sm_90 and newer; taken before SAS_CUDA_STEER_ONE when both
// are on. Written in session 11, without a GPU, for the decode step's latency (session 9's H200: 5.1-5.4
// us back to back at n = 1 where an empty launch takes 3.3 us): not yet run on a GPU, off.
inline constexpr Variant kSteerCluster{"SAS_CUDA_STEER_CLUSTER", false, "cluster"};
// Programmatic dependent launch (sm_90 and newer) for every launch of the fused step, whichever path it
// takes: the step's grid may start while the kernel before it in the stream runs, and waits
// (griddepcontrol.wait) before it reads anything, so only the launch and block scheduling overlap the
// previous kernel; each of the step's kernels lets the next kernel launch as soon as all its blocks have
// passed their wait. Aimed at the decode step back to back (session 9's H200: 5.1-5.4 us where 500x at
// m = 1M, d = 2304 needs 4.78). Written in session 12, without a GPU: off, not yet run on a GPU.
inline constexpr Variant kPdl{"SAS_CUDA_PDL", false, "pdl"};

// The fused step with its later operands requested early, for a step whose operands are not in L2 (a
// decode loop: the model's layers between two steps stream GBs of weights through the 50-60 MB L2).
// Before its first round trip to memory each block of the cooperative and the one-launch kernels asks L2
// for the W_dec lines it reads after the grid barrier (phase 2) or after its coefficients (phase B)
// (prefetch.global.L2: a hint, no register waits on it), and loads the per-feature b_enc, threshold and
// v with W_enc instead of after the dot product's reduction: cold, that is one round trip to HBM fewer
// and one overlapped. Same operations, same bits. Judged on sas_bench's cold times (time_cold_ms), not
// yet run on a GPU: off. Written in session 15, without a GPU.
inline constexpr Variant kSteerPrefetch{"SAS_CUDA_STEER_PREFETCH", false, "prefetch"};

inline constexpr const Variant *kAll[] = {&kTcGemv,    &kTcWide,      &kGemvXt,   &kTcGemm,    &kSplitkOne,
                                          &kTopkStage, &kTopkReg,     &kTopkHist, &kSparseSplit, &kSubsetGemm,
                                          &kTopkAct,   &kSteerOne,    &kSteerCluster, &kPdl,   &kSteerPrefetch};

// "0" or "1" as set in the environment: -1 when unset or anything else.
inline int forced(const Variant &v) {
    const char *s = std::getenv(v.env);
    if (s && (s[0] == '0' || s[0] == '1') && s[1] == 0) return s[0] - '0';
    return -1;
}

// Whether the library takes the variant now (for a variant with an auto rule: whether it is forced on).
inline bool on(const Variant &v) {
    const int f = forced(v);
    return f < 0 ? v.on_by_default : f == 1;
}

// Whether a call takes the variant: forced on or off by the environment, else, for a variant with an
// auto rule, `rule_holds` (the rule evaluated on the call's shape), else its default.
inline bool taken(const Variant &v, bool rule_holds) {
    const int f = forced(v);
    if (f >= 0) return f == 1;
    return v.auto_rule ? rule_holds : v.on_by_default;
}

}  // namespace variants
}  // namespace sas
