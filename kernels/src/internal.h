// Internal entry points for the native tests and sas_bench (hidden symbols: reachable only by
// linking the static library sas_kernels_static, not through libsas_kernels.so).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sas_kernels.h"

namespace sas {
namespace internal {

bool built_with_cuda();
int cpu_threads();

// Device memory helpers (device CPU = malloc/memcpy).
sas_status dev_alloc(sas_device dev, void **p, size_t bytes);
void dev_free(sas_device dev, void *p);
sas_status to_device(sas_device dev, void *dst, const void *src, size_t bytes);
sas_status to_host(sas_device dev, void *dst, const void *src, size_t bytes);
sas_status dev_sync(sas_device dev);

// x[r,:] += sum_{j<m} c[r*ldc + j] * W_dec[j,:] over all m: the non-sparse decode (baseline).
sas_status decode_dense(sas_device dev, void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d,
                        const void *W_dec, int64_t m, const float *c, int64_t ldc);

// A plain copy of `bytes` (multithreaded memcpy on CPU, a copy kernel on CUDA): the peak bandwidth probe.
sas_status copy(sas_device dev, void *dst, const void *src, size_t bytes);

// Reads `bytes` at src once and folds them into *sink (*sink ^= XOR over i of byte[i] << 8 * (i % 4); a
// host word on the CPU, a device word on CUDA), so no read can be dropped: what streaming a matrix once costs at that size, the floor of a kernel
// that must read it. sas_bench times it beside the encoder (which reads W_enc once).
sas_status read_probe(sas_device dev, const void *src, size_t bytes, uint32_t *sink);
// CUDA: one empty kernel on the legacy stream, the floor of any one-launch call. CPU: nothing to do.
sas_status launch_probe(sas_device dev);

// Whether the fused step's cluster path (variant SAS_CUDA_STEER_CLUSTER) can run on the current CUDA
// device in dtype dt, and that device's compute capability major in *cc_major (0: no CUDA device or
// build). The path needs sm_90 or newer; a test or bench that switches it on can check it will be taken.
bool steer_cluster_ready(sas_dtype dt, int *cc_major);
// Whether a step of n rows, width d and support s in dtype dt (rows and operands on 16-byte boundaries)
// takes that path when the variant is on: ready, and the shape within its limits.
bool steer_cluster_takes(sas_dtype dt, int64_t n, int64_t d, int64_t s);
// Whether the fused step's launches take variant SAS_CUDA_PDL (programmatic dependent launch) when it is
// on: a CUDA device of compute capability 9 or newer, the kernels' code built for it (*cc_major as above).
bool steer_pdl_ready(sas_dtype dt, int *cc_major);

// Wall-clock timing helpers: CPU uses steady_clock, CUDA uses events on the legacy stream.
sas_status timer_start(sas_device dev);
sas_status timer_stop(sas_device dev, double *ms);

std::string device_name(sas_device dev);

}  // namespace internal
}  // namespace sas

namespace sas {
namespace internal {

// Fills count elements of dtype dt at p with a deterministic hash of (seed, index), uniform in [lo, hi).
sas_status fill_random(sas_device dev, sas_dtype dt, void *p, int64_t count, uint64_t seed, float lo, float hi);

// c[r*m + j] = relu(f[r*m + j] + lambda * v[j]) - f[r*m + j]: the dense steering coefficients of the
// non-sparse baseline (v dense over all m).
sas_status dense_coef(sas_device dev, void *stream, const float *f, int64_t n, int64_t m, const float *v, float lambda,
                      float *c);

}  // namespace internal
}  // namespace sas
