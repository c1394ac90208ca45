// Host-side launchers of the CUDA kernels (plain C++ declarations, no CUDA headers), used by the
// dispatcher when the library is built with SAS_CUDA. Arguments are validated before these run; the
// pointers are device pointers and every launch is asynchronous on `stream`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../src/common.h"

namespace sas {
namespace cuda {

// 1 when a CUDA device is usable; otherwise 0 and *why (if non-null) says why.
int available(const char **why);

sas_status encode_dense(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d,
                        const void *W_enc, const void *b_enc, const void *threshold, int64_t m, sas_activation act,
                        int32_t k, float *out, int64_t ld_out);

sas_status encode_sparse(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d,
                         const void *W_enc, const void *b_enc, const void *threshold, int64_t m, sas_activation act,
                         int32_t k, int32_t max_nnz, int64_t *out_indices, float *out_values, int32_t *out_count);

sas_status encode_subset(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d,
                         const void *W_enc, const void *b_enc, const void *threshold, int64_t m, sas_activation act,
                         const int64_t *S, int64_t s, float *out, int64_t ld_out);

// scratch_slot: the stream buffer slot of its chunk candidates (a caller holding slot 0 passes another).
sas_status topk_rows(void *stream, sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t m, int32_t k,
                     bool by_abs, float *out_values, int64_t *out_indices, int scratch_slot = 0);

sas_status inject(void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec,
                  int64_t m, int32_t nnz, const int64_t *indices, const float *coeffs);

sas_status pack_support(void *stream, sas_dtype dt, const void *W_enc, const void *b_enc, const void *threshold,
                        const void *W_dec, int64_t d, int64_t m, const int64_t *S, int64_t s, void *Wenc_S,
                        void *benc_S, void *thr_S, void *Wdec_S);

sas_status steer_fused(void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *Wenc_S,
                       const void *benc_S, const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act,
                       const float *v_S, float lambda, const uint8_t *row_mask);

// ---- internal (tests / bench) --------------------------------------------------------------------
sas_status decode_dense(void *stream, sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec,
                        int64_t m, const float *c, int64_t ldc);
sas_status copy(void *stream, void *dst, const void *src, size_t bytes);  // plain copy kernel (peak bandwidth)
sas_status read_probe(void *stream, const void *src, size_t bytes, unsigned *sink);  // reads src once
sas_status launch_probe(void *stream);  // one empty kernel
// Whether SAS_CUDA_STEER_CLUSTER's kernel can run on the current device in dtype dt (steer_cluster.cuh);
// the device's compute capability major in *cc_major (0 when it cannot be read).
bool steer_cluster_ready(sas_dtype dt, int *cc_major);
// Whether a step of n rows, d, s in dtype dt, rows and operands 16-byte aligned, takes that path when on.
bool steer_cluster_takes(sas_dtype dt, int64_t n, int64_t d, int64_t s);
// Whether SAS_CUDA_PDL's launches can be taken by the fused step's kernels in dtype dt on the current
// device (sm_90 and newer, code built for it: steer.cu); the compute capability major in *cc_major.
bool steer_pdl_ready(sas_dtype dt, int *cc_major);
sas_status malloc_device(void **p, size_t bytes);
sas_status free_device(void *p);
sas_status memcpy_h2d(void *dst, const void *src, size_t bytes);
sas_status memcpy_d2h(void *dst, const void *src, size_t bytes);
sas_status memset_device(void *p, int value, size_t bytes);
sas_status synchronize();
// Event timer around fn-free regions: start() records, stop() records + syncs and returns ms.
sas_status timer_start(void *stream);
sas_status timer_stop(void *stream, float *ms);
const char *device_name();

}  // namespace cuda
}  // namespace sas

namespace sas {
namespace cuda {
sas_status fill_random(sas_dtype dt, void *p, int64_t count, uint64_t seed, float lo, float hi);
sas_status dense_coef(void *stream, const float *f, int64_t n, int64_t m, const float *v, float lambda, float *c);
}  // namespace cuda
}  // namespace sas
