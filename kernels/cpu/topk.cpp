// CPU twin of top-k selection: one pass per row with a rising bar (most entries are rejected 8 at a
// time by one vector compare), a buffer pruned by nth_element, then a sort of the k survivors by
// (value desc, index asc). For k >= 32 the bar starts from a sample of the row. Nothing in the pass
// branches on an entry's value except the 8-wide test (timed on rows the benchmarks do not repeat: a
// branch predictor learns one repeated row). Long rows with few of them are split into chunks whose
// top-k are merged: exact, because the global top-k lies in the union of the chunks' top-k under the
// same total order.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"
#include "simd.h"

namespace sas {
namespace cpu {

namespace {

using simd::v8i;
using simd::v8u;

// Whether any of the 8 floats at p has a key above `bar`: order_key / abs_key lane by lane, exactly as the
// scalar loop computes them (-0 as +0, NaN above +inf), so skipping a block where this is false rejects
// exactly what the scalar loop would.
template <bool ABS> __attribute__((always_inline)) inline bool any_above8(const float *p, uint32_t bar) {
    v8u u;
    std::memcpy(&u, p, sizeof u);
    v8u key;
    if (ABS) {
        key = u & 0x7fffffffu;
    } else {
        const v8u zero = (v8u)((u & 0x7fffffffu) == 0);  // all ones where v is +-0
        u &= ~zero;
        const v8u neg = (v8u)((v8i)u >> 31);  // all ones where the sign is set
        key = u ^ (neg | 0x80000000u);         // ~u if negative, u | 0x80000000 otherwise
    }
    const v8i above = key > (v8u{} + bar);
    uint64_t w[4];
    std::memcpy(w, &above, sizeof w);
    return (w[0] | w[1] | w[2] | w[3]) != 0;
}

struct Better {
    bool operator()(const Cand &a, const Cand &b) const { return cand_better(a, b); }
};

template <bool ABS> __attribute__((always_inline)) inline uint32_t key_of(float v) {
    return ABS ? abs_key(v) : order_key(v);
}

// One pass over vals[0, len) keeping the candidates with key > bar in buf[0, cnt) (buf has cap + 8 slots);
// bar = -1 keeps everything until the first cut. When cnt reaches cap, the best kk stay (nth_element) and
// the bar rises to the k-th key: entries seen later with a key at or below it are worse than all kept ones
// (lower key, or equal key and higher index). Returns cnt. Once there is a bar, most blocks of 8 are
// rejected whole by one vector compare; a block with an entry above it is appended without a branch
// per entry (each entry written, only those above the bar counted), since whether an entry passes is
// data, which a branch predictor cannot learn from one row to the next.
template <bool ABS>
__attribute__((always_inline)) inline size_t select_scan(const float *vals, int64_t len, int64_t base, size_t kk,
                                                         size_t cap, int64_t bar, Cand *buf) {
    size_t cnt = 0;
    auto cut = [&] {
        std::nth_element(buf, buf + (kk - 1), buf + cnt, Better{});
        cnt = kk;
        bar = buf[kk - 1].key;
    };
    int64_t j = 0;
    for (; j + 8 <= len; j += 8) {
        if (bar >= 0 && !any_above8<ABS>(vals + j, uint32_t(bar))) continue;
        for (int64_t i = j; i < j + 8; ++i) {
            const uint32_t key = key_of<ABS>(vals[i]);
            buf[cnt] = Cand{key, base + i};
            cnt += int64_t(key) > bar;
        }
        if (cnt >= cap) cut();
    }
    for (; j < len; ++j) {
        const uint32_t key = key_of<ABS>(vals[j]);
        buf[cnt] = Cand{key, base + j};
        cnt += int64_t(key) > bar;
        if (cnt >= cap) cut();
    }
    return cnt;
}

// A first bar from a sample of the row's keys (one per stride of len / S, at a hashed offset inside it, so
// periodic rows do not alias): the key with about 1.5k + 32 of the row's entries expected at or above it,
// minus one. With it the pass skips most of the row from the start instead of raising its bar from
// nothing. -1 (no bar) for short rows, for k < 32, when the bar would keep more than an eighth of the row,
// and when the sampled key is the lowest or shared by many sampled entries.
template <bool ABS> __attribute__((always_inline)) inline int64_t sample_bar(const float *vals, int64_t len, size_t kk) {
    if (len < 4096 || kk < 32) return -1;  // small k: the bar raised from nothing is as fast (measured)
    const int64_t S = std::min<int64_t>(4096, std::max<int64_t>(256, len / 64));
    const int64_t r = int64_t((1.5 * double(kk) + 32.0) * double(S) / double(len));  // rank, 0 = largest
    if (r >= S / 8) return -1;
    uint32_t keys[4096];
    const uint64_t stride = uint64_t(len / S);  // the last len % S entries are not sampled
    for (int64_t i = 0; i < S; ++i) {
        const uint64_t h = ((uint64_t(i) + 1) * 0x9e3779b97f4a7c15ull) >> 32;  // 32 hashed bits
        keys[i] = key_of<ABS>(vals[uint64_t(i) * stride + ((h * stride) >> 32)]);
    }
    // The r + 1 largest sampled keys, kept sorted descending in top[] (r < S / 8: at most 512); most keys
    // fall below the smallest of them and cost one compare.
    uint32_t top[512];
    std::copy(keys, keys + r + 1, top);
    std::sort(top, top + r + 1, [](uint32_t a, uint32_t b) { return a > b; });
    for (int64_t i = r + 1; i < S; ++i) {
        const uint32_t key = keys[i];
        if (key <= top[r]) continue;
        int64_t p = r;
        for (; p > 0 && top[p - 1] < key; --p) top[p] = top[p - 1];
        top[p] = key;
    }
    const uint32_t t = top[r];
    // A key shared by many entries (the zeros of a sparse code): a bar below it would keep them all, and
    // the bar the scan raises from nothing skips them after its first cut anyway.
    int64_t ties = 0;
    for (int64_t i = 0; i < S; ++i) ties += keys[i] == t;
    if (t == 0 || ties > r + 8) return -1;
    return int64_t(t) - 1;
}

template <bool ABS>
__attribute__((always_inline)) inline void select_into(const float *vals, int64_t len, int64_t base, size_t kk, int64_t bar, std::vector<Cand> &out) {
    const size_t cap = std::max<size_t>(2 * kk, kk + 64);
    std::vector<Cand> buf(cap + 8);
    size_t cnt = select_scan<ABS>(vals, len, base, kk, cap, bar, buf.data());
    // Fewer than k entries above a first bar: it was too high (a sample that missed), so the top k is not
    // known to lie above it. Scan again from nothing; cnt reaches min(k, len) then.
    if (cnt < kk && bar >= 0) cnt = select_scan<ABS>(vals, len, base, kk, cap, -1, buf.data());
    if (cnt > kk) {
        std::nth_element(buf.begin(), buf.begin() + int64_t(kk - 1), buf.begin() + int64_t(cnt), Better{});
        cnt = kk;
    }
    std::sort(buf.begin(), buf.begin() + int64_t(cnt), Better{});
    out.insert(out.end(), buf.begin(), buf.begin() + int64_t(cnt));
}

}  // namespace

SAS_CLONES void topk_select_from(const float *vals, int64_t len, int64_t base, int32_t k, bool by_abs,
                                 int64_t bar, std::vector<Cand> &out) {
    if (by_abs)
        select_into<true>(vals, len, base, size_t(k), bar, out);
    else
        select_into<false>(vals, len, base, size_t(k), bar, out);
}

SAS_CLONES void topk_select_f32(const float *vals, int64_t len, int64_t base, int32_t k, bool by_abs,
                                std::vector<Cand> &out) {
    // Scan in index order keeping candidates in a buffer; when it holds 2k (at least k + 64), keep its
    // best k (nth_element) and raise the bar to the k-th key. A small buffer raises the bar early, after
    // which the 8-wide compare rejects most of a long row (k + 1024 before: 2x slower at m = 16k, k = 64).
    // The bar starts from a sample of the row (sample_bar) where that pays.
    const size_t kk = size_t(k);
    if (by_abs)
        select_into<true>(vals, len, base, kk, sample_bar<true>(vals, len, kk), out);
    else
        select_into<false>(vals, len, base, kk, sample_bar<false>(vals, len, kk), out);
}

namespace {

constexpr int64_t kConvChunk = 1 << 14;

// Top-k of row [j0, j1) of a dtype row, converting in blocks.
void select_range(sas_dtype dt, const void *row, int64_t j0, int64_t j1, int32_t k, bool by_abs,
                  std::vector<Cand> &out) {
    if (dt == SAS_F32) {
        topk_select_f32(static_cast<const float *>(row) + j0, j1 - j0, j0, k, by_abs, out);
        return;
    }
    // Convert the whole range (rows are at most 2^24 entries: 64 MiB) and select once.
    std::vector<float> buf(size_t(j1 - j0));
    for (int64_t j = j0; j < j1; j += kConvChunk)
        convert_to_f32(dt, row, j, std::min(kConvChunk, j1 - j), &buf[size_t(j - j0)]);
    topk_select_f32(buf.data(), j1 - j0, j0, k, by_abs, out);
}

void emit(sas_dtype dt, const void *row, const std::vector<Cand> &sel, int32_t k, float *vals, int64_t *idx) {
    for (int32_t i = 0; i < k; ++i) {
        idx[i] = sel[size_t(i)].idx;
        vals[i] = load_f32(dt, row, sel[size_t(i)].idx);
    }
}

}  // namespace

sas_status topk_rows(sas_dtype dt, const void *x, int64_t ldx, int64_t n, int64_t m, int32_t k, bool by_abs,
                     float *out_values, int64_t *out_indices) {
    if (n == 0) return SAS_OK;
    const size_t es = dtype_size(dt);
    auto row_ptr = [&](int64_t r) { return static_cast<const char *>(x) + size_t(r * ldx) * es; };
    const int nt = num_threads();
    const int64_t min_chunk = std::max<int64_t>(int64_t(1) << 15, int64_t(k) * 8);
    if (n >= nt || m < 2 * min_chunk) {
        parallel_for(n, m * 2, [&](int64_t r0, int64_t r1) {
            std::vector<Cand> sel;
            for (int64_t r = r0; r < r1; ++r) {
                sel.clear();
                select_range(dt, row_ptr(r), 0, m, k, by_abs, sel);
                emit(dt, row_ptr(r), sel, k, out_values + r * k, out_indices + r * k);
            }
        });
        return SAS_OK;
    }
    // Few long rows: split each row into chunks, select per chunk in parallel, merge.
    const int64_t nchunks = std::min<int64_t>(int64_t(nt) * 2, m / min_chunk);
    std::vector<std::vector<Cand>> parts(static_cast<size_t>(nchunks));
    for (int64_t r = 0; r < n; ++r) {
        const void *row = row_ptr(r);
        parallel_for(nchunks, kSerialCost, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c) {
                const int64_t j0 = m * c / nchunks, j1 = m * (c + 1) / nchunks;
                parts[size_t(c)].clear();
                select_range(dt, row, j0, j1, k, by_abs, parts[size_t(c)]);
            }
        });
        std::vector<Cand> all;
        for (auto &p : parts) all.insert(all.end(), p.begin(), p.end());
        std::partial_sort(all.begin(), all.begin() + k, all.end(), Better{});
        emit(dt, row, all, k, out_values + r * k, out_indices + r * k);
    }
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
