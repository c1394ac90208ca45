// CPU twins of the SAE encoders: a cache-blocked x.W_enc + b_enc (parallel over column tiles of W_enc,
// which is streamed once per row block), then the activation, then dense or compacted output.
#include <algorithm>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
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

// out[rr, j] += sum_kk x[rr, kk] * w[kk, j] for rr < rb, kk < kc, j < jw.
SAS_CLONES void micro(int64_t rb, int64_t kc, int64_t jw, const float *x, int64_t ldx, const float *w, int64_t ldw,
                      float *out, int64_t ldo) {
    for (int64_t kk = 0; kk < kc; ++kk) {
        const float *wr = w + kk * ldw;
        for (int64_t rr = 0; rr < rb; ++rr) {
            const float xv = x[rr * ldx + kk];
            float *o = out + rr * ldo;
            for (int64_t j = 0; j < jw; ++j) o[j] += xv * wr[j];
        }
    }
}

inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

// out[r, j] = mode(xf[r,:] . W[:, j] + b[j]) for r < n, j < m; xf is [n, d] f32 contiguous.
void gemm_bias_act(sas_dtype dt, const float *xf, int64_t n, int64_t d, const void *W, const void *b,
                   const void *thr, int64_t m, Mode mode, float *out, int64_t ldo) {
    const int64_t tiles = (m + kTileJ - 1) / kTileJ;
    parallel_for(tiles, n * d * kTileJ + d * kTileJ, [&](int64_t t0, int64_t t1) {
        std::vector<float> wbuf;
        if (dt != SAS_F32) wbuf.resize(size_t(kTileK * kTileJ));
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t j0 = t * kTileJ, jw = std::min(kTileJ, m - j0);
            for (int64_t r = 0; r < n; ++r) convert_to_f32(dt, b, j0, jw, out + r * ldo + j0);
            for (int64_t k0 = 0; k0 < d; k0 += kTileK) {
                const int64_t kc = std::min(kTileK, d - k0);
                const float *wp;
                int64_t ldw;
                if (dt == SAS_F32) {
                    wp = static_cast<const float *>(W) + k0 * m + j0;
                    ldw = m;
                } else {
                    for (int64_t kk = 0; kk < kc; ++kk) convert_to_f32(dt, W, (k0 + kk) * m + j0, jw, &wbuf[kk * kTileJ]);
                    wp = wbuf.data();
                    ldw = kTileJ;
                }
                for (int64_t r = 0; r < n; r += kRowBlock)
                    micro(std::min(kRowBlock, n - r), kc, jw, xf + r * d + k0, d, wp, ldw, out + r * ldo + j0, ldo);
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
    gemm_bias_act(dt, xf.data(), n, d, W_enc, b_enc, threshold, m, mode_of(act), out, ld_out);
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
        gemm_bias_act(dt, xf.data(), rows, d, W_enc, b_enc, threshold, m, mode, pre.data(), m);
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
    parallel_for(s, n * d + d * 16, [&](int64_t i0, int64_t i1) {
        std::vector<float> col(static_cast<size_t>(d));
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t j = S[i];
            for (int64_t kk = 0; kk < d; ++kk) col[size_t(kk)] = load_f32(dt, W_enc, kk * m + j);
            const float b = load_f32(dt, b_enc, j);
            const float th = act == SAS_ACT_JUMPRELU ? load_f32(dt, threshold, j) : 0.0f;
            for (int64_t r = 0; r < n; ++r) {
                const float pre = dot_f32(xf.data() + r * d, col.data(), d) + b;
                out[r * ld_out + i] = act == SAS_ACT_JUMPRELU ? (pre > th ? pre : 0.0f) : relu(pre);
            }
        }
    });
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
