// CPU twin of top-k selection: one pass per row with a rising bar (most entries are rejected 8 at a
// time by one vector compare), a buffer pruned by nth_element, then a sort of the k survivors by
// (value desc, index asc). Long rows with few of them are split into chunks whose top-k are merged:
// exact, because the global top-k lies in the union of the chunks' top-k under the same total order.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace sas {
namespace cpu {

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SAS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SAS_CLONES
#endif

// The v8 helpers are always inlined, so the ABI note about passing AVX vectors does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
// GCC vector extension: 8 lanes (one AVX register in the x86-64-v3 clone, two SSE registers otherwise).
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

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

template <bool ABS>
__attribute__((always_inline)) inline void select_scan(const float *vals, int64_t len, int64_t base, size_t kk,
                                                       size_t cap, std::vector<Cand> &buf) {
    bool cut = false;
    uint32_t bar = 0;
    auto visit = [&](int64_t j) {
        const uint32_t key = ABS ? abs_key(vals[j]) : order_key(vals[j]);
        if (cut && key <= bar) return;
        buf.push_back(Cand{key, base + j});
        if (buf.size() >= cap) {
            std::nth_element(buf.begin(), buf.begin() + (kk - 1), buf.end(), cand_better);
            buf.resize(kk);
            bar = buf[kk - 1].key;
            cut = true;
        }
    };
    int64_t j = 0;
    // Once the bar has risen, most blocks of 8 are rejected whole by one vector compare; a block with an
    // entry above the bar goes through the scalar path, all 8 (the bar may rise inside it).
    for (; j + 8 <= len; j += 8) {
        if (cut && !any_above8<ABS>(vals + j, bar)) continue;
        for (int64_t i = j; i < j + 8; ++i) visit(i);
    }
    for (; j < len; ++j) visit(j);
}

}  // namespace

SAS_CLONES void topk_select_f32(const float *vals, int64_t len, int64_t base, int32_t k, bool by_abs,
                                std::vector<Cand> &out) {
    // Scan in index order keeping candidates in a buffer; when it holds 2k (at least k + 64), keep its
    // best k (nth_element) and raise the bar to the k-th key. A small buffer raises the bar early, after
    // which the 8-wide compare rejects most of a long row (k + 1024 before: 2x slower at m = 16k, k = 64). Entries are visited in ascending index,
    // so once the buffer has been cut, an entry equal to the bar is never better than a kept one.
    const size_t kk = size_t(k);
    const size_t cap = std::max<size_t>(2 * kk, kk + 64);
    std::vector<Cand> buf;
    buf.reserve(std::min<size_t>(cap + 1, size_t(len)));
    if (by_abs)
        select_scan<true>(vals, len, base, kk, cap, buf);
    else
        select_scan<false>(vals, len, base, kk, cap, buf);
    if (buf.size() > kk) {
        std::nth_element(buf.begin(), buf.begin() + (kk - 1), buf.end(), cand_better);
        buf.resize(kk);
    }
    std::sort(buf.begin(), buf.end(), cand_better);
    out.insert(out.end(), buf.begin(), buf.end());
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
        std::partial_sort(all.begin(), all.begin() + k, all.end(), cand_better);
        emit(dt, row, all, k, out_values + r * k, out_indices + r * k);
    }
    return SAS_OK;
}

}  // namespace cpu
}  // namespace sas
