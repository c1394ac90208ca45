// The CPU twins of the CUDA kernels. Arguments are validated by the dispatcher before these run.
#pragma once

#include <cstdint>
#include <vector>

#include "../src/common.h"

namespace sas {
namespace cpu {

sas_status encode_dense(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d, const void *W_enc,
                        const void *b_enc, const void *threshold, int64_t m, sas_activation act, int32_t k,
                        float *out, int64_t ld_out);

sas_status encode_sparse(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d, const void *W_enc,
                         const void *b_enc, const void *threshold, int64_t m, sas_activation act, int32_t k,
                         int32_t max_nnz, int64_t *out_indices, float *out_values, int32_t *out_count);

sas_status encode_subset(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d, const void *W_enc,
                         const void *b_enc, const void *threshold, int64_t m, sas_activation act, const int64_t *S,
                         int64_t s, float *out, int64_t ld_out);

// by_abs: order by |v| (sas_topk_abs), else by v.
sas_status topk_rows(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t m, int32_t k, bool by_abs,
                     float *out_values, int64_t *out_indices);

sas_status inject(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec, int64_t m,
                  int32_t nnz, const int64_t *indices, const float *coeffs);

sas_status pack_support(sas_dtype dt, const void *W_enc, const void *b_enc, const void *threshold,
                        const void *W_dec, int64_t d, int64_t m, const int64_t *S, int64_t s, void *Wenc_S,
                        void *benc_S, void *thr_S, void *Wdec_S);

sas_status steer_fused(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *Wenc_S,
                       const void *benc_S, const void *thr_S, const void *Wdec_S, int64_t s, sas_activation act,
                       const float *v_S, float lambda, const uint8_t *row_mask);

// ---- internal (bench / tests) ------------------------------------------------------------------
// x[r,:] += sum_{j<m} c[r*ldc + j] * W_dec[j,:], dense over all m (the non-sparse decode).
sas_status decode_dense(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec, int64_t m,
                        const float *c, int64_t ldc);

// ---- helpers shared by the CPU files -------------------------------------------------------------
struct Cand {
    uint32_t key;
    int64_t idx;
};
// a before b in the output order: larger key first, ties by lower index.
inline bool cand_better(const Cand &a, const Cand &b) { return a.key > b.key || (a.key == b.key && a.idx < b.idx); }

// Top-k of vals[0..len) (f32) with index offset `base`, appended to `out` sorted best-first.
void topk_select_f32(const float *vals, int64_t len, int64_t base, int32_t k, bool by_abs, std::vector<Cand> &out);
// The same with the first bar given: entries with key <= bar (order_key / abs_key) are skipped unless fewer
// than k lie above it, when the row is scanned again from nothing (bar = -1). Exact for any bar; tests
// pass bars too high and too low on purpose.
void topk_select_from(const float *vals, int64_t len, int64_t base, int32_t k, bool by_abs, int64_t bar,
                      std::vector<Cand> &out);

// out[i * rows + k] = W[k * ld + S[i]] for k < rows, i < s: columns of a row-major matrix (elements of es
// bytes, 2 or 4) gathered as contiguous rows, bit for bit, parallel over tiles of W's rows (gather.cpp).
void gather_columns(size_t es, const void *W, int64_t rows, int64_t ld, const int64_t *S, int64_t s, void *out);

// Dot product of two f32 vectors with 32 fixed partial sums (deterministic, vectorisable).
float dot_f32(const float *a, const float *b, int64_t n);
// out[r] = dot_f32(x + r * ldx, w, n) for r < rows, bit for bit, with w read once per 3 rows.
void dot_rows_f32(const float *x, int64_t ldx, int64_t rows, const float *w, int64_t n, float *out);
// The same for an f16 w, widened in order (simd.h): the same bits as dot_rows_f32 on the widened w.
void dot_rows_f16(const float *x, int64_t ldx, int64_t rows, const uint16_t *w, int64_t n, float *out);
// The same sum for a bf16 w and rows xs in simd.h's split layout (zero-padded to a multiple of 16 floats),
// w widened in registers: another fixed summation order than dot_rows_f32 (the lanes hold other columns).
void dot_rows_bf16_split(const float *xs, int64_t ldx, int64_t rows, const uint16_t *w, int64_t n, float *out);
// y[r, 0..len) += c[r * ldc + i] * w[i][0..len) for r < rows, for each i < nf with use[i], in i order (one
// multiply-add per term and element), held in registers for 4 rows x 16 columns at a time.
void update_rows_f32(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc, const float *const *w,
                     const uint8_t *use, int64_t nf, int64_t len);
// The same with f16 weight rows, widened in order: the same bits as update_rows_f32 on the widened rows.
void update_rows_f16(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc, const uint16_t *const *w,
                     const uint8_t *use, int64_t nf, int64_t len);
// The same with bf16 weight rows, widened in registers, on rows y in the split layout (zero-padded to a
// multiple of 16 floats): per column the same bits as update_rows_f32 on the widened rows.
void update_rows_bf16_split(float *y, int64_t ldy, int64_t rows, const float *c, int64_t ldc,
                            const uint16_t *const *w, const uint8_t *use, int64_t nf, int64_t len);

// n bf16 to f32 in the split layout (xs zero-padded to a multiple of 16), and back (round to nearest even,
// as convert_from_f32).
void bf16_to_split(const uint16_t *x, int64_t n, float *xs);
void split_to_bf16(const float *xs, int64_t n, uint16_t *x);

// f16 (simd.h, f16.cpp): whether the f16 paths take F16C (x86-64-v3 CPUs, unless SAS_CPU_F16C=0 was set at
// the first call, or set_f16c(false): tests compare the two paths); and f16 rows to and from f32 that way
// (exact; rounding to nearest even as f32_to_f16).
bool has_f16c();
void set_f16c(bool allowed);
void f16_to_f32_row(const uint16_t *h, int64_t n, float *out);
void f32_to_f16_row(const float *in, int64_t n, uint16_t *h);

}  // namespace cpu
}  // namespace sas
