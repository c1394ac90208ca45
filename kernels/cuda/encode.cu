// Placeholder (milestone 1): the CUDA encode kernels follow in milestone 2.
#include "cuda_common.cuh"
namespace sas { namespace cuda {
#define NYI(f) return fail(SAS_ERR_UNSUPPORTED, "%s: the CUDA kernel is not implemented yet", f)
sas_status encode_dense(void *, sas_dtype, const void *, int64_t, int64_t, int64_t, const void *, const void *, const void *, int64_t, sas_activation, int32_t, float *, int64_t) { NYI("sas_encode_dense"); }
sas_status encode_sparse(void *, sas_dtype, const void *, int64_t, int64_t, int64_t, const void *, const void *, const void *, int64_t, sas_activation, int32_t, int32_t, int64_t *, float *, int32_t *) { NYI("sas_encode_sparse"); }
sas_status encode_subset(void *, sas_dtype, const void *, int64_t, int64_t, int64_t, const void *, const void *, const void *, int64_t, sas_activation, const int64_t *, int64_t, float *, int64_t) { NYI("sas_encode_subset"); }
sas_status topk_rows(void *, sas_dtype, const void *, int64_t, int64_t, int64_t, int32_t, bool, float *, int64_t *) { NYI("sas_topk_rows"); }
sas_status inject(void *, sas_dtype, void *, int64_t, int64_t, int64_t, const void *, int64_t, int32_t, const int64_t *, const float *) { NYI("sas_inject"); }
sas_status pack_support(void *, sas_dtype, const void *, const void *, const void *, const void *, int64_t, int64_t, const int64_t *, int64_t, void *, void *, void *, void *) { NYI("sas_pack_support"); }
sas_status steer_fused(void *, sas_dtype, void *, int64_t, int64_t, int64_t, const void *, const void *, const void *, const void *, int64_t, sas_activation, const float *, float, const uint8_t *) { NYI("sas_steer_fused"); }
sas_status decode_dense(void *, sas_dtype, void *, int64_t, int64_t, int64_t, const void *, int64_t, const float *, int64_t) { NYI("decode_dense"); }
}}
