// CPU twins of the SAE encoders: a cache-blocked x.W_enc + b_enc (parallel over column tiles of W_enc,
// which is streamed once per row block), then the activation, then dense or compacted output.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SAS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SAS_CLONES
#endif

namespace sas {
namespace cpu {

namespace {

constexpr int64_t kTileJ = 256;  // columns of W_enc per task (1 KiB of f32 per W row)
constexpr int64_t kTileK = 128;  // rows of W_enc per packed block (128 KiB f32, stays in L2)
constexpr int64_t kRowBlock = 4; // x rows sharing one pass over a packed block

enum Mode { kPre = 0, kJump = 1, kRelu = 2 };

// The v8f helpers are always inlined, so the ABI note about passing AVX vectors does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
// GCC vector extension: 8 floats (one AVX register in the x86-64-v3 clone, two SSE registers otherwise).
typedef float v8f __attribute__((vector_size(32)));

__attribute__((always_inline)) inline v8f load8(const float *p) {
    v8f v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
__attribute__((always_inline)) inline void store8(float *p, v8f v) { std::memcpy(p, &v, sizeof v); }

// out[rr, 0..JW) += sum_kk x[rr, kk] * w[kk, 0..JW): RB x JW accumulators held in registers.
template <int RB, int JW>
__attribute__((always_inline)) inline void micro_fixed(int64_t kc, const float *x, int64_t ldx, const float *w,
                                                       int64_t ldw, float *out, int64_t ldo) {
    constexpr int NV = JW / 8;
    v8f acc[RB][NV];
    for (int rr = 0; rr < RB; ++rr)
        for (int v = 0; v < NV; ++v) acc[rr][v] = load8(out + rr * ldo + v * 8);
    for (int64_t kk = 0; kk < kc; ++kk) {
        const float *wr = w + kk * ldw;
        v8f wv[NV];
        for (int v = 0; v < NV; ++v) wv[v] = load8(wr + v * 8);
        for (int rr = 0; rr < RB; ++rr) {
            const float xv = x[rr * ldx + kk];
            for (int v = 0; v < NV; ++v) acc[rr][v] += xv * wv[v];
        }
    }
    for (int rr = 0; rr < RB; ++rr)
        for (int v = 0; v < NV; ++v) store8(out + rr * ldo + v * 8, acc[rr][v]);
}

template <int RB, int JW>
__attribute__((always_inline)) inline void micro_rows(int64_t kc, int64_t jw, const float *x, int64_t ldx,
                                                      const float *w, int64_t ldw, float *out, int64_t ldo) {
    int64_t j = 0;
    for (; j + JW <= jw; j += JW) micro_fixed<RB, JW>(kc, x, ldx, w + j, ldw, out + j, ldo);
    for (; j < jw; ++j)  // tail columns
        for (int rr = 0; rr < RB; ++rr) {
            float a = out[rr * ldo + j];
            for (int64_t kk = 0; kk < kc; ++kk) a += x[rr * ldx + kk] * w[kk * ldw + j];
            out[rr * ldo + j] = a;
        }
}

// out[rr, j] += sum_kk x[rr, kk] * w[kk, j] for rr < rb (<= 4), kk < kc, j < jw.
SAS_CLONES void micro(int64_t rb, int64_t kc, int64_t jw, const float *x, int64_t ldx, const float *w, int64_t ldw,
                      float *out, int64_t ldo) {
    switch (rb) {
    case 1: micro_rows<1, 32>(kc, jw, x, ldx, w, ldw, out, ldo); break;
    case 2: micro_rows<2, 32>(kc, jw, x, ldx, w, ldw, out, ldo); break;
    case 3: micro_rows<3, 16>(kc, jw, x, ldx, w, ldw, out, ldo); break;
    default: micro_rows<4, 16>(kc, jw, x, ldx, w, ldw, out, ldo); break;
    }
}

inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

// out[r, j] = mode(A[r,:] . W[:, j] + b[j]) for r < n, j < N; A is f32 [n, K] with leading dimension lda,
// W is [K, N] in dtype dt, b may be NULL (no bias). Parallel over column tiles; each W block is packed
// once as f32 and reused by every row block, so W is streamed from memory once.
void gemm_bias_act(sas_dtype dt, const float *A, int64_t lda, int64_t n, int64_t K, const void *W, const void *b,
                   const void *thr, int64_t N, Mode mode, float *out, int64_t ldo) {
    const int64_t tiles = (N + kTileJ - 1) / kTileJ;
    parallel_for(tiles, n * K * kTileJ + K * kTileJ, [&](int64_t t0, int64_t t1) {
        std::vector<float> wbuf(static_cast<size_t>(kTileK * kTileJ));
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t j0 = t * kTileJ, jw = std::min(kTileJ, N - j0);
            for (int64_t r = 0; r < n; ++r) {
                if (b)
                    convert_to_f32(dt, b, j0, jw, out + r * ldo + j0);
                else
                    std::fill(out + r * ldo + j0, out + r * ldo + j0 + jw, 0.0f);
            }
            for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
                const int64_t kc = std::min(kTileK, K - k0);
                // Pack the block contiguously as f32 (sequential reads of W, then L1/L2-resident reuse).
                for (int64_t kk = 0; kk < kc; ++kk)
                    convert_to_f32(dt, W, (k0 + kk) * N + j0, jw, &wbuf[size_t(kk * kTileJ)]);
                for (int64_t r = 0; r < n; r += kRowBlock)
                    micro(std::min(kRowBlock, n - r), kc, jw, A + r * lda + k0, lda, wbuf.data(), kTileJ,
                          out + r * ldo + j0, ldo);
            }
            if (mode == kRelu) {
                for (int64_t r = 0; r < n; ++r) {
                    float *o = out + r * ldo + j0;
                    for (int64_t j = 0; j < jw; ++j) o[j] = relu(o[j]);
                }
            } else if (mode == kJump) {
                std::vector<float> th(static_cast<size_t>(jw));
                convert_to_f32(dt, thr, j0, jw, th.data());
                for (int64_t r = 0; r < n; ++r) {
                    float *o = out + r * ldo + j0;
                    for (int64_t j = 0; j < jw; ++j) o[j] = o[j] > th[size_t(j)] ? o[j] : 0.0f;
                }
            }
        }
    });
}

// x rows [r0, r0+rows) as f32, contiguous [rows, d].
void load_x(sas_dtype dt, const void *x, int64_t ldx, int64_t r0, int64_t rows, int64_t d, std::vector<float> &xf) {
    xf.resize(size_t(rows * d));
    for (int64_t r = 0; r < rows; ++r) convert_to_f32(dt, x, (r0 + r) * ldx, d, &xf[size_t(r * d)]);
}

Mode mode_of(sas_activation act) {
    return act == SAS_ACT_JUMPRELU ? kJump : act == SAS_ACT_RELU ? kRelu : kPre;
}

// TopK on a pre-activation row in place: keeps the k largest (ReLU'd), zeroes the rest.
void topk_row_inplace(float *row, int64_t m, int32_t k, std::vector<Cand> &sel, std::vector<float> &vals) {
    sel.clear();
    topk_select_f32(row, m, 0, k, false, sel);
    vals.resize(sel.size());
    for (size_t i = 0; i < sel.size(); ++i) vals[i] = relu(row[sel[i].idx]);
    std::fill(row, row + m, 0.0f);
    for (size_t i = 0; i < sel.size(); ++i) row[sel[i].idx] = vals[i];
}

}  // namespace

sas_status encode_dense(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d, const void *W_enc,
                        const void *b_enc, const void *threshold, int64_t m, sas_activation act, int32_t k,
                        float *out, int64_t ld_out) {
    if (n == 0) return SAS_OK;
    std::vector<float> xf;
    load_x(dt, x, ldx, 0, n, d, xf);
    gemm_bias_act(dt, xf.data(), d, n, d, W_enc, b_enc, threshold, m, mode_of(act), out, ld_out);
    if (act == SAS_ACT_TOPK) {
        parallel_for(n, m * 4, [&](int64_t r0, int64_t r1) {
            std::vector<Cand> sel;
            std::vector<float> vals;
            for (int64_t r = r0; r < r1; ++r) topk_row_inplace(out + r * ld_out, m, k, sel, vals);
        });
    }
    return SAS_OK;
}

sas_status encode_sparse(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d, const void *W_enc,
                         const void *b_enc, const void *threshold, int64_t m, sas_activation act, int32_t k,
                         int32_t max_nnz, int64_t *out_indices, float *out_values, int32_t *out_count) {
    if (n == 0) return SAS_OK;
    // Rows in chunks so the dense pre-activation buffer stays <= 64 MiB (at least one row).
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(n, (int64_t(16) << 20) / m));
    std::vector<float> pre, xf;
    try {
        pre.resize(size_t(chunk * m));
    } catch (const std::bad_alloc &) {
        return fail(SAS_ERR_ALLOC, "encode_sparse: cannot allocate %lld floats of scratch", (long long)(chunk * m));
    }
    const Mode mode = mode_of(act);
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        const int64_t rows = std::min(chunk, n - r0);
        load_x(dt, x, ldx, r0, rows, d, xf);
        gemm_bias_act(dt, xf.data(), d, rows, d, W_enc, b_enc, threshold, m, mode, pre.data(), m);
        parallel_for(rows, m * 2, [&](int64_t a, int64_t b) {
            std::vector<Cand> sel;
            for (int64_t rr = a; rr < b; ++rr) {
                const int64_t r = r0 + rr;
                const float *row = pre.data() + rr * m;
                int64_t *oi = out_indices ? out_indices + r * max_nnz : nullptr;
                float *ov = out_values ? out_values + r * max_nnz : nullptr;
                int64_t cnt = 0;
                if (act == SAS_ACT_TOPK) {
                    sel.clear();
                    topk_select_f32(row, m, 0, k, false, sel);
                    std::sort(sel.begin(), sel.end(), [](const Cand &p, const Cand &q) { return p.idx < q.idx; });
                    for (const Cand &c : sel) {
                        const float v = relu(row[c.idx]);
                        if (v == 0.0f) continue;
                        if (cnt < max_nnz) {
                            oi[cnt] = c.idx;
                            ov[cnt] = v;
                        }
                        ++cnt;
                    }
                } else {
                    for (int64_t j = 0; j < m; ++j) {
                        const float v = row[j];
                        if (v == 0.0f) continue;
                        if (cnt < max_nnz) {
                            oi[cnt] = j;
                            ov[cnt] = v;
                        }
                        ++cnt;
                    }
                }
                for (int64_t i = cnt; i < max_nnz; ++i) {
                    oi[i] = -1;
                    ov[i] = 0.0f;
                }
                out_count[r] = int32_t(std::min<int64_t>(cnt, INT32_MAX));
            }
        });
    }
    return SAS_OK;
}

sas_status encode_subset(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t d, const void *W_enc,
                         const void *b_enc, const void *threshold, int64_t m, sas_activation act, const int64_t *S,
                         int64_t s, float *out, int64_t ld_out) {
    if (n == 0 || s == 0) return SAS_OK;
    std::vector<float> xf;
    load_x(dt, x, ldx, 0, n, d, xf);
    // Features in blocks: gather the block's W_enc columns row by row of W_enc (each W_enc row is visited
    // once per block, so page/TLB locality is that of the row, not of d strided rows per feature), then
    // the n x block dot products.
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(s, (int64_t(4) << 20) / d));
    std::vector<float> cols(static_cast<size_t>(block * d));
    for (int64_t i0 = 0; i0 < s; i0 += block) {
        const int64_t bs = std::min(block, s - i0);
        parallel_for(d, bs * 4, [&](int64_t k0, int64_t k1) {
            for (int64_t kk = k0; kk < k1; ++kk)
                for (int64_t i = 0; i < bs; ++i)
                    cols[size_t(i * d + kk)] = load_f32(dt, W_enc, kk * m + S[i0 + i]);
        });
        parallel_for(bs, n * d, [&](int64_t a, int64_t b) {
            for (int64_t i = a; i < b; ++i) {
                const int64_t j = S[i0 + i];
                const float bias = load_f32(dt, b_enc, j);
                const float th = act == SAS_ACT_JUMPRELU ? load_f32(dt, threshold, j) : 0.0f;
                for (int64_t r = 0; r < n; ++r) {
                    const float pre = dot_f32(xf.data() + r * d, cols.data() + i * d, d) + bias;
                    out[r * ld_out + i0 + i] = act == SAS_ACT_JUMPRELU ? (pre > th ? pre : 0.0f) : relu(pre);
                }
            }
        });
    }
    return SAS_OK;
}

sas_status decode_dense(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec, int64_t m,
                        const float *c, int64_t ldc) {
    if (n == 0) return SAS_OK;
    // The non-sparse decode as a GEMM (c [n, m] . W_dec [m, d]), then x += it, rounded once.
    std::vector<float> tmp(static_cast<size_t>(n * d));
    gemm_bias_act(dt, c, ldc, n, m, W_dec, nullptr, nullptr, d, kPre, tmp.data(), d);
    parallel_for(n, d * 4, [&](int64_t r0, int64_t r1) {
        std::vector<float> row(static_cast<size_t>(d));
        for (int64_t r = r0; r < r1; ++r) {
            convert_to_f32(dt, x, r * ldx, d, row.data());
            for (int64_t k = 0; k < d; ++k) row[size_t(k)] += tmp[size_t(r * d + k)];
            convert_from_f32(dt, row.data(), d, x, r * ldx);
        }
    });
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
