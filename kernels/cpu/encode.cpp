// CPU twins of the SAE encoders: a cache-blocked x.W_enc + b_enc (parallel over column tiles of W_enc,
// which is streamed once per row block), then the activation, then dense or compacted output.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"
#include "simd.h"

namespace sas {
namespace cpu {

namespace {

constexpr int64_t kTileJ = 256;  // columns of W_enc per task (1 KiB of f32 per W row)
constexpr int64_t kTileK = 128;  // rows of W_enc per packed block (128 KiB f32, stays in L2)
constexpr int64_t kRowBlock = 4; // x rows sharing one pass over a packed block

enum Mode { kPre = 0, kJump = 1, kRelu = 2 };

using namespace simd;

// bf16 W is read in place by the streamed path through simd.h's load16 (16 columns per 32-byte load, the
// even and the odd ones), on accumulators in the split layout (split16 / unsplit16).

// Every column, tails included, goes through the same 8-wide expression (acc += x * w), so a column's
// arithmetic (fused multiply-adds in the x86-64-v3 clone, multiply then add in the baseline one) does not
// depend on where it falls in a tile: a row's bits do not depend on the batch it came in.

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
    for (; j + 8 <= jw; j += 8) micro_fixed<RB, 8>(kc, x, ldx, w + j, ldw, out + j, ldo);
    if (j < jw) {  // the last < 8 columns, zero-padded to one vector
        const int64_t cnt = jw - j;
        float wpad[kTileK * 8], opad[RB * 8];
        for (int64_t kk = 0; kk < kc; ++kk) store8(wpad + kk * 8, load_part(w + kk * ldw + j, cnt));
        for (int rr = 0; rr < RB; ++rr) store8(opad + rr * 8, load_part(out + rr * ldo + j, cnt));
        micro_fixed<RB, 8>(kc, x, ldx, wpad, 8, opad, 8);
        for (int rr = 0; rr < RB; ++rr) store_part(out + rr * ldo + j, load8(opad + rr * 8), cnt);
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

// out[rr, 0..jw) += sum_k x[rr, k] * w_k[0..jw) for k < K in order, rr < RB, where w_k is row k of W
// (leading dimension ldw; f32, or f16 widened in order: bf16 has stream_rows_bf16 below), read in place,
// eight rows per pass: each pass reads eight contiguous row segments and updates the RB out rows, which
// stay in L1 (RB x jw floats).
// Per column the products are added one k at a time, in k order, with the expression micro_fixed uses,
// so a column's bits do not depend on which path computed it.
// One 8-column step of stream_rows: out[rr, j..j+8) += sum_q xs[rr][q] * w_q[j..j+8) in q order; `cnt`
// columns only (zero-padded) when `part`. A function, not a lambda: GCC may leave a lambda out of line,
// and then out of the x86-64-v3 clone that calls it (without its fused multiply-adds).
template <int RB, int KG, class WT>
__attribute__((always_inline)) inline void stream_step(const WT *const (&wq)[KG], const float (&xs)[RB][KG], int64_t j,
                                                       bool part, int64_t cnt, float *out, int64_t ldo) {
    v8f wv[KG];
    for (int q = 0; q < KG; ++q) wv[q] = part ? load_part(wq[q] + j, cnt) : load8(wq[q] + j);
    for (int rr = 0; rr < RB; ++rr) {
        float *op = out + rr * ldo + j;
        v8f o = part ? load_part(op, cnt) : load8(op);
        for (int q = 0; q < KG; ++q) o += xs[rr][q] * wv[q];
        if (part)
            store_part(op, o, cnt);
        else
            store8(op, o);
    }
}

template <int RB, class WT>
__attribute__((always_inline)) inline void stream_rows(int64_t K, int64_t jw, const float *x, int64_t ldx,
                                                       const WT *w, int64_t ldw, float *out, int64_t ldo) {
    const int64_t jv = jw / 8 * 8, cnt = jw - jv;  // whole vectors, then the last < 8 columns
    int64_t k = 0;
    constexpr int KG = 8;  // rows of W per pass
    for (; k + KG <= K; k += KG) {
        const WT *wq[KG];
        for (int q = 0; q < KG; ++q) wq[q] = w + (k + q) * ldw;
        float xs[RB][KG];
        for (int rr = 0; rr < RB; ++rr)
            for (int q = 0; q < KG; ++q) xs[rr][q] = x[rr * ldx + k + q];
        for (int64_t j = 0; j < jv; j += 8) stream_step<RB, KG, WT>(wq, xs, j, false, cnt, out, ldo);
        if (cnt) stream_step<RB, KG, WT>(wq, xs, jv, true, cnt, out, ldo);
    }
    for (; k < K; ++k) {  // the last K % KG rows of W, one at a time
        const WT *wk = w + k * ldw;
        for (int64_t j = 0; j < jw; j += 8) {
            const bool part = j + 8 > jw;
            const v8f wv = part ? load_part(wk + j, cnt) : load8(wk + j);
            for (int rr = 0; rr < RB; ++rr) {
                float *op = out + rr * ldo + j;
                v8f o = part ? load_part(op, cnt) : load8(op);
                o += x[rr * ldx + k] * wv;
                if (part)
                    store_part(op, o, cnt);
                else
                    store8(op, o);
            }
        }
    }
}

// stream_rows for bf16 W on split accumulators (acc: RB rows, leading dimension lda, a multiple of 16
// floats, in the split layout): acc[rr] += sum_k x[rr, k] * w_k[0..jw) for k < K in order. Per column
// the same operations in the same order as stream_rows (one multiply-add per k, in k order), so the
// bits are those of the f32-widened W on any path.
template <int RB>
__attribute__((always_inline)) inline void stream_step16(const uint16_t *const (&wq)[8], const float (&xs)[RB][8],
                                                         int64_t j, int64_t cnt, float *acc, int64_t lda) {
    v16pair wv[8];
    for (int q = 0; q < 8; ++q) wv[q] = cnt < 16 ? load16_part(wq[q] + j, cnt) : load16(wq[q] + j);
    for (int rr = 0; rr < RB; ++rr) {
        float *ap = acc + rr * lda + j;
        v8f e = load8(ap), o = load8(ap + 8);
        for (int q = 0; q < 8; ++q) {
            e += xs[rr][q] * wv[q].even;
            o += xs[rr][q] * wv[q].odd;
        }
        store8(ap, e);
        store8(ap + 8, o);
    }
}

template <int RB>
__attribute__((always_inline)) inline void stream_rows_bf16(int64_t K, int64_t jw, const float *x, int64_t ldx,
                                                            const uint16_t *w, int64_t ldw, float *acc, int64_t lda) {
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        const uint16_t *wq[8];
        for (int q = 0; q < 8; ++q) wq[q] = w + (k + q) * ldw;
        float xs[RB][8];
        for (int rr = 0; rr < RB; ++rr)
            for (int q = 0; q < 8; ++q) xs[rr][q] = x[rr * ldx + k + q];
        int64_t j = 0;
        // One or two rows: two groups (32 columns) per step and row, four independent chains of 8
        // multiply-adds (one group's two chains left the one-row encoder latency-bound at about 70% of
        // the read rate); W is widened again for the second row (from L1). More rows share the widened
        // W of one group (stream_step16), which measured faster from 4 rows on.
        for (; RB <= 2 && j + 32 <= jw; j += 32)
            for (int rr = 0; rr < RB; ++rr) {
                float *ap = acc + rr * lda + j;
                v8f e0 = load8(ap), o0 = load8(ap + 8), e1 = load8(ap + 16), o1 = load8(ap + 24);
                for (int q = 0; q < 8; ++q) {
                    const v16pair w0 = load16(wq[q] + j), w1 = load16(wq[q] + j + 16);
                    e0 += xs[rr][q] * w0.even;
                    o0 += xs[rr][q] * w0.odd;
                    e1 += xs[rr][q] * w1.even;
                    o1 += xs[rr][q] * w1.odd;
                }
                store8(ap, e0);
                store8(ap + 8, o0);
                store8(ap + 16, e1);
                store8(ap + 24, o1);
            }
        for (; j < jw; j += 16) stream_step16<RB>(wq, xs, j, std::min<int64_t>(16, jw - j), acc, lda);
    }
    for (; k < K; ++k) {  // the last K % 8 rows of W, one at a time
        const uint16_t *wk = w + k * ldw;
        for (int64_t j = 0; j < jw; j += 16) {
            const v16pair wv = j + 16 <= jw ? load16(wk + j) : load16_part(wk + j, jw - j);
            for (int rr = 0; rr < RB; ++rr) {
                float *ap = acc + rr * lda + j;
                v8f e = load8(ap), o = load8(ap + 8);
                e += x[rr * ldx + k] * wv.even;
                o += x[rr * ldx + k] * wv.odd;
                store8(ap, e);
                store8(ap + 8, o);
            }
        }
    }
}

template <class WT>
__attribute__((always_inline)) inline void stream_any(int64_t rb, int64_t K, int64_t jw, const float *x, int64_t ldx,
                                                      const WT *w, int64_t ldw, float *out, int64_t ldo) {
    switch (rb) {
    case 1: stream_rows<1>(K, jw, x, ldx, w, ldw, out, ldo); break;
    case 2: stream_rows<2>(K, jw, x, ldx, w, ldw, out, ldo); break;
    case 3: stream_rows<3>(K, jw, x, ldx, w, ldw, out, ldo); break;
    case 4: stream_rows<4>(K, jw, x, ldx, w, ldw, out, ldo); break;
    case 5: stream_rows<5>(K, jw, x, ldx, w, ldw, out, ldo); break;
    case 6: stream_rows<6>(K, jw, x, ldx, w, ldw, out, ldo); break;
    case 7: stream_rows<7>(K, jw, x, ldx, w, ldw, out, ldo); break;
    default: stream_rows<8>(K, jw, x, ldx, w, ldw, out, ldo); break;
    }
}
SAS_CLONES void stream(int64_t rb, int64_t K, int64_t jw, const float *x, int64_t ldx, const float *w, int64_t ldw,
                       float *out, int64_t ldo) {
    stream_any(rb, K, jw, x, ldx, w, ldw, out, ldo);
}
// f16 W, widened in order (simd.h): stream_rows on f16 pointers, one version per path.
#if SAS_HAVE_F16C
SAS_TARGET_V3 void stream_f16c(int64_t rb, int64_t K, int64_t jw, const float *x, int64_t ldx, const uint16_t *w,
                               int64_t ldw, float *out, int64_t ldo) {
    stream_any(rb, K, jw, x, ldx, reinterpret_cast<const f16c_t *>(w), ldw, out, ldo);
}
#endif
SAS_CLONES void stream_f16sw(int64_t rb, int64_t K, int64_t jw, const float *x, int64_t ldx, const uint16_t *w,
                             int64_t ldw, float *out, int64_t ldo) {
    stream_any(rb, K, jw, x, ldx, reinterpret_cast<const f16sw_t *>(w), ldw, out, ldo);
}
void stream_f16(int64_t rb, int64_t K, int64_t jw, const float *x, int64_t ldx, const uint16_t *w, int64_t ldw,
                float *out, int64_t ldo) {
#if SAS_HAVE_F16C
    if (has_f16c()) return stream_f16c(rb, K, jw, x, ldx, w, ldw, out, ldo);
#endif
    stream_f16sw(rb, K, jw, x, ldx, w, ldw, out, ldo);
}
SAS_CLONES void stream(int64_t rb, int64_t K, int64_t jw, const float *x, int64_t ldx, const uint16_t *w_bf16,
                       int64_t ldw, float *acc, int64_t lda) {
    switch (rb) {
    case 1: stream_rows_bf16<1>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    case 2: stream_rows_bf16<2>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    case 3: stream_rows_bf16<3>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    case 4: stream_rows_bf16<4>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    case 5: stream_rows_bf16<5>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    case 6: stream_rows_bf16<6>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    case 7: stream_rows_bf16<7>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    default: stream_rows_bf16<8>(K, jw, x, ldx, w_bf16, ldw, acc, lda); break;
    }
}

inline float relu(float v) { return v > 0.0f ? v : 0.0f; }

// The streamed path (stream_rows) takes up to kStreamRows rows, all in one pass over W.
constexpr int64_t kStreamRows = 8;
// Its column tile: wide, so each W row is read in long contiguous segments (2048 columns, 8 KiB of f32,
// for up to 4 rows; 1024 for more, so the n out rows stay within 32 KiB of L1), but at least 4 tiles per
// worker, so the workers stay balanced. Its gain over the packed path is those long segments, which the
// hardware prefetchers follow; in tiles under 1024 columns (the dense decode's d = 2304 columns make 320
// on 2 workers) it ran slower than the packed path from 2 rows on (RESULTS-cpu.md), so it takes them
// only for one row (nothing to reuse a packed block).
// one_task: the call is one task of a caller's parallel loop (decode_dense's chunks), so its tiles need not
// be shared among workers: as wide as the cap allows.
int64_t stream_tile(int64_t N, int64_t n, bool one_task) {
    const int64_t cap = n > 4 ? 1024 : 2048;
    if (one_task) return std::min<int64_t>(cap, std::max<int64_t>(256, (N + 63) / 64 * 64));
    const int64_t per = (N + 4 * num_threads() - 1) / (4 * num_threads());
    return std::min<int64_t>(cap, std::max<int64_t>(256, (per + 63) / 64 * 64));
}

// out[r, j] = mode(A[r,:] . W[:, j] + b[j]) for r < n, j < N; A is f32 [n, K] with leading dimension lda,
// W is [K, N] in dtype dt, b may be NULL (no bias). Parallel over column tiles. Up to kStreamRows rows, W
// is streamed in place (stream_rows; bf16 widened into the split layout, f16 in order) in
// wide tiles, every row in
// the one pass; more rows pack each W block (128 rows x 256 columns) once as f32 and run it through
// micro for every block of 4 rows. W is read from memory once either way. (The packed path alone, as
// before session 15, read W's rows in 1 KiB pieces and ran at about half the read bandwidth at n = 1:
// RESULTS-cpu.md.) Both add a column's products one k at a time in k order with the same operations, so
// a row's result does not depend on the batch it came in (test_encode checks it).
void gemm_bias_act(sas_dtype dt, const float *A, int64_t lda, int64_t n, int64_t K, const void *W, const void *b,
                   const void *thr, int64_t N, Mode mode, float *out, int64_t ldo, bool one_task = false) {
    const bool streamed = n == 1 || (n <= kStreamRows && stream_tile(N, n, one_task) >= 1024);
    const int64_t tj = streamed ? stream_tile(N, n, one_task) : kTileJ;
    const int64_t tiles = (N + tj - 1) / tj;
    parallel_for(tiles, n * K * tj + K * tj, [&](int64_t t0, int64_t t1) {
        std::vector<float> wbuf(static_cast<size_t>(streamed ? 0 : kTileK * kTileJ));
        // bf16, streamed: the tile's accumulators in the split layout (stream_rows_bf16).
        std::vector<float> abuf(static_cast<size_t>(streamed && dt == SAS_BF16 ? n * ((tj + 15) / 16 * 16) : 0));
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t j0 = t * tj, jw = std::min(tj, N - j0);
            for (int64_t r = 0; r < n; ++r) {
                if (b)
                    convert_to_f32(dt, b, j0, jw, out + r * ldo + j0);
                else
                    std::fill(out + r * ldo + j0, out + r * ldo + j0 + jw, 0.0f);
            }
            if (streamed && dt == SAS_F32) {
                stream(n, K, jw, A, lda, static_cast<const float *>(W) + j0, N, out + j0, ldo);
            } else if (streamed && dt == SAS_BF16) {
                const int64_t la = (tj + 15) / 16 * 16;
                for (int64_t r = 0; r < n; ++r) split16(out + r * ldo + j0, jw, &abuf[size_t(r * la)]);
                stream(n, K, jw, A, lda, static_cast<const uint16_t *>(W) + j0, N, abuf.data(), la);
                for (int64_t r = 0; r < n; ++r) unsplit16(&abuf[size_t(r * la)], jw, out + r * ldo + j0);
            } else if (streamed) {
                stream_f16(n, K, jw, A, lda, static_cast<const uint16_t *>(W) + j0, N, out + j0, ldo);
            }
            for (int64_t k0 = 0; !streamed && k0 < K; k0 += kTileK) {
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
    // The fused step's phase 1 (steer.cpp) on every row: the support's W_enc columns gathered as rows, in
    // their own dtype (gather_columns), then the n x s dot products with each gathered row read once per 3
    // rows of x (dot_rows_*; bf16 through the split layout, f16 widened in place), in tasks of a block of
    // rows x a group of features, so a block of x and a group of columns stay in cache together. Until
    // session 23 it gathered into f32 one scalar load at a time and ran one dot_f32 per row and feature.
    const size_t es = dtype_size(dt);
    const bool split = dt == SAS_BF16, f16 = dt == SAS_F16;
    const int64_t ld = split ? (d + 15) / 16 * 16 : d;  // the rows' leading dimension (split: zero-padded)
    // Features in blocks of at most 4 MiB of gathered columns.
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(s, (int64_t(4) << 20) / (d * int64_t(es))));
    // One scratch allocation for the rows and the gathered columns: as two (each over glibc's first mmap
    // threshold, 128 KiB), every call of a same-sized job got its pages from the kernel and faulted them in
    // again (glibc raises the mmap threshold to a freed block's size but trims the heap's top above twice
    // that, which the two blocks together reached): at n = s = 64, d = 2304, repeated calls took 4-5 ms
    // instead of 0.6-0.8 ms on the 2-core VM.
    const size_t xf_floats = size_t(n * ld), cols_floats = (static_cast<size_t>(block * d) * es + 3) / 4;
    std::vector<float> scratch;
    try {
        scratch.resize(xf_floats + cols_floats);
    } catch (const std::bad_alloc &) {
        return fail(SAS_ERR_ALLOC, "encode_subset: cannot allocate %lld floats of scratch",
                    (long long)(xf_floats + cols_floats));
    }
    float *const xf = scratch.data();
    unsigned char *const cols = reinterpret_cast<unsigned char *>(scratch.data() + xf_floats);
    parallel_for(n, d * 2, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            if (split)
                bf16_to_split(static_cast<const uint16_t *>(x) + r * ldx, d, xf + r * ld);
            else
                convert_to_f32(dt, x, r * ldx, d, xf + r * ld);
        }
    });
    // A task: kSubRows rows x kSubFeats features (12 x 16, 48 x 4, 96 x 8 and 6 x 32 timed the same).
    constexpr int64_t kSubRows = 24, kSubFeats = 8;
    for (int64_t i0 = 0; i0 < s; i0 += block) {
        const int64_t bs = std::min(block, s - i0);
        gather_columns(es, W_enc, d, m, S + i0, bs, cols);
        const int64_t rblocks = (n + kSubRows - 1) / kSubRows, fgroups = (bs + kSubFeats - 1) / kSubFeats;
        parallel_for(rblocks * fgroups, std::min(n, kSubRows) * std::min(bs, kSubFeats) * d, [&](int64_t t0, int64_t t1) {
            float dots[kSubRows];
            for (int64_t t = t0; t < t1; ++t) {
                // Row blocks inner: a thread's consecutive tasks share a group of columns.
                const int64_t r0 = (t % rblocks) * kSubRows, rb = std::min(kSubRows, n - r0);
                const int64_t g0 = (t / rblocks) * kSubFeats, gn = std::min(kSubFeats, bs - g0);
                const float *xr = xf + r0 * ld;
                for (int64_t i = g0; i < g0 + gn; ++i) {
                    const unsigned char *w = cols + size_t(i * d) * es;
                    if (split)
                        dot_rows_bf16_split(xr, ld, rb, reinterpret_cast<const uint16_t *>(w), d, dots);
                    else if (f16)
                        dot_rows_f16(xr, ld, rb, reinterpret_cast<const uint16_t *>(w), d, dots);
                    else
                        dot_rows_f32(xr, ld, rb, reinterpret_cast<const float *>(w), d, dots);
                    const int64_t j = S[i0 + i];
                    const float bias = load_f32(dt, b_enc, j);
                    const float th = act == SAS_ACT_JUMPRELU ? load_f32(dt, threshold, j) : 0.0f;
                    for (int64_t r = 0; r < rb; ++r) {
                        const float pre = dots[r] + bias;
                        out[(r0 + r) * ld_out + i0 + i] = act == SAS_ACT_JUMPRELU ? (pre > th ? pre : 0.0f) : relu(pre);
                    }
                }
            }
        });
    }
    return SAS_OK;
}

sas_status decode_dense(sas_dtype dt, void *x, int64_t ldx, int64_t n, int64_t d, const void *W_dec, int64_t m,
                        const float *c, int64_t ldc) {
    if (n == 0) return SAS_OK;
    // The non-sparse decode as a GEMM (c [n, m] . W_dec [m, d]), split along m: chunks of whole W_dec
    // rows (d contiguous values each), one task per chunk, so every worker streams its own rows from
    // memory and none waits on a share of d's few column tiles (d = 2304 made 9 tiles of 256 for 2
    // workers, and short pieces of each row). The chunks' partial sums are added in chunk order and x
    // += their sum, rounded once; the chunk size depends on m only, so the result does not depend on
    // the number of workers.
    const int64_t rows_per_chunk = std::max<int64_t>(4096, (m + 63) / 64);
    const int64_t chunks = (m + rows_per_chunk - 1) / rows_per_chunk;
    const size_t es = dtype_size(dt);
    std::vector<float> part(static_cast<size_t>(chunks * n * d));
    parallel_for(chunks, n * rows_per_chunk * d, [&](int64_t c0, int64_t c1) {
        for (int64_t ch = c0; ch < c1; ++ch) {
            const int64_t k0 = ch * rows_per_chunk, kc = std::min(rows_per_chunk, m - k0);
            gemm_bias_act(dt, c + k0, ldc, n, kc, static_cast<const char *>(W_dec) + size_t(k0 * d) * es, nullptr,
                          nullptr, d, kPre, &part[size_t(ch * n * d)], d, /*one_task=*/true);
        }
    });
    parallel_for(n, chunks * d * 2, [&](int64_t r0, int64_t r1) {
        std::vector<float> row(static_cast<size_t>(d)), sum(static_cast<size_t>(d));
        for (int64_t r = r0; r < r1; ++r) {
            std::copy_n(&part[size_t(r * d)], d, sum.begin());
            for (int64_t ch = 1; ch < chunks; ++ch) {
                const float *p = &part[size_t((ch * n + r) * d)];
                for (int64_t k = 0; k < d; ++k) sum[size_t(k)] += p[k];
            }
            convert_to_f32(dt, x, r * ldx, d, row.data());
            for (int64_t k = 0; k < d; ++k) row[size_t(k)] += sum[size_t(k)];
            convert_from_f32(dt, row.data(), d, x, r * ldx);
        }
    });
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
