// sas_topk_rows / sas_topk_abs against a stable sort (value desc, index asc): exact, on every dtype,
// with ties, k = 1, k = m, rows with fewer than k non-zeros, long rows (chunked path); CUDA == CPU.
#include <numeric>

#include "../cpu/cpu_kernels.h"
#include "test_util.h"

using namespace t;

namespace {

// Reference: the first `count` indices of a stable sort by key descending (key = value, or |value| by_abs),
// i.e. ordered by key descending, then index ascending (-0 and +0 are one key). A partial sort of the keys
// converted once: it runs once per case, outside the device loop, and under ThreadSanitizer a full stable
// sort of the million-entry rows through x.at() took a third of the emulated test.
std::vector<int64_t> ref_order(const Arr &x, int64_t off, int64_t m, bool by_abs, int64_t count) {
    std::vector<double> key(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) key[size_t(i)] = by_abs ? std::fabs(x.at(off + i)) : x.at(off + i);
    std::vector<int64_t> idx(static_cast<size_t>(m));
    std::iota(idx.begin(), idx.end(), 0);
    count = std::min(count, m);
    std::partial_sort(idx.begin(), idx.begin() + count, idx.end(), [&](int64_t a, int64_t b) {
        const double ka = key[size_t(a)], kb = key[size_t(b)];
        return ka > kb || (ka == kb && a < b);
    });
    idx.resize(size_t(count));
    return idx;
}

// kBurst: Gaussian, with 300 entries in [8, 9) every 100000 (one digit of SAS_CUDA_TOPK_HIST's histogram,
// crowded into single chunks); kMixed: rows of 20000 at ldx = 20007, even rows Gaussian, odd rows zeros.
enum Fill { kGauss, kTies, kSparse, kZeros, kNear, kBurst, kMixed };

Arr make_rows(sas_dtype dt, int64_t count, Fill fill, Rng &r) {
    Arr a(dt, count);
    for (int64_t i = 0; i < count; ++i) {
        double v;
        switch (fill) {
        case kGauss: v = r.normal(); break;
        case kTies: v = double(r.below(7)) - 3.0; break;  // many exact ties, negatives, -0 via 0*-1 below
        case kSparse: v = r.below(50) == 0 ? 1.0 + r.uniform() : 0.0; break;  // far fewer than k non-zeros
        // 2^14 adjacent f32 values above 1 (ties in bf16/f16): keys that differ only in their lowest 14 bits
        case kNear: v = 1.0 + std::ldexp(double(r.below(1 << 14)), -23); break;
        case kBurst: v = i % 100000 >= 5000 && i % 100000 < 5300 ? 8.0 + 0.99 * r.uniform() : r.normal(); break;
        case kMixed: v = (i / 20007) % 2 ? 0.0 : r.normal(); break;
        default: v = (i % 2) ? -0.0 : 0.0; break;                                // all zeros, mixed signs
        }
        if (fill == kTies && v == 0.0 && (i & 1)) v = -0.0;
        a.set(i, v);
    }
    return a;
}

void run_rows(sas_dtype dt, int64_t n, int64_t m, int32_t k, Fill fill, uint64_t seed) {
    CaseClock clock(label("topk rows n=%lld m=%lld k=%d %s fill %d", (long long)n, (long long)m, k, dn(dt), int(fill)));
    Rng rng(seed);
    const int64_t ldx = m + (n > 1 ? 7 : 0);
    Arr x = make_rows(dt, std::max<int64_t>(n * ldx, 1), fill, rng);
    std::vector<std::vector<int64_t>> orders;
    for (int64_t r = 0; r < n; ++r) orders.push_back(ref_order(x, r * ldx, m, false, k));
    std::vector<float> cpu_v;
    std::vector<int64_t> cpu_i;
    for (sas_device dev : devices()) {
        char ctx[200];
        std::snprintf(ctx, sizeof ctx, "topk_rows %s %s n=%lld m=%lld k=%d fill=%d", devn(dev), dn(dt), (long long)n,
                      (long long)m, k, int(fill));
        g_ctx = ctx;
        Buf bx = upload(dev, x);
        Buf bv(dev, size_t(n * k) * 4 + 4), bi(dev, size_t(n * k) * 8 + 8);
        if (!check_ok(sas_topk_rows(dev, nullptr, dt, bx.p, ldx, n, m, k, bv.as<float>(), bi.as<int64_t>()),
                      "sas_topk_rows"))
            continue;
        auto vals = download<float>(bv, size_t(n * k));
        auto idx = download<int64_t>(bi, size_t(n * k));
        int bad = 0;
        for (int64_t r = 0; r < n; ++r) {
            const std::vector<int64_t> &order = orders[size_t(r)];
            for (int32_t i = 0; i < k; ++i) {
                const int64_t gi = idx[size_t(r * k + i)];
                const float gv = vals[size_t(r * k + i)];
                const int64_t want = order[size_t(i)];
                const float wv = float(x.at(r * ldx + want));
                // -0 and +0 are equal keys: index order decides, and the value is returned as stored.
                if ((gi != want || std::memcmp(&gv, &wv, 4) != 0) && bad++ < 3)
                    std::printf("   row %lld rank %d: got (%lld, %g) want (%lld, %g)\n", (long long)r, i,
                                (long long)gi, gv, (long long)want, wv);
            }
        }
        check(bad == 0, "top-k differs from the stable reference order: %d", bad);
        if (dev == SAS_DEVICE_CPU) {
            cpu_v = vals;
            cpu_i = idx;
        } else {
            check(cpu_i == idx && (vals.empty() || std::memcmp(cpu_v.data(), vals.data(), vals.size() * 4) == 0),
                  "CUDA top-k differs from the CPU twin (must be identical)");
        }
    }
}

void run_abs(sas_dtype dt, int64_t m, int32_t k, Fill fill, uint64_t seed) {
    CaseClock clock(label("topk abs m=%lld k=%d %s fill %d", (long long)m, k, dn(dt), int(fill)));
    Rng rng(seed);
    Arr v = make_rows(dt, m, fill, rng);
    if (fill == kTies)  // explicit +/- pairs of equal magnitude: the lower index first
        for (int64_t i = 0; i + 1 < m; i += 5) v.set(i + 1, -v.at(i));
    const auto order = ref_order(v, 0, m, true, k);
    std::vector<float> cpu_v;
    std::vector<int64_t> cpu_i;
    for (sas_device dev : devices()) {
        char ctx[200];
        std::snprintf(ctx, sizeof ctx, "topk_abs %s %s m=%lld k=%d fill=%d", devn(dev), dn(dt), (long long)m, k,
                      int(fill));
        g_ctx = ctx;
        Buf bx = upload(dev, v);
        Buf bv(dev, size_t(k) * 4), bi(dev, size_t(k) * 8);
        if (!check_ok(sas_topk_abs(dev, nullptr, dt, bx.p, m, k, bv.as<float>(), bi.as<int64_t>()), "sas_topk_abs"))
            continue;
        auto vals = download<float>(bv, size_t(k));
        auto idx = download<int64_t>(bi, size_t(k));
        int bad = 0;
        for (int32_t i = 0; i < k; ++i) {
            const float wv = float(v.at(order[size_t(i)]));
            if ((idx[size_t(i)] != order[size_t(i)] || std::memcmp(&vals[size_t(i)], &wv, 4) != 0) && bad++ < 3)
                std::printf("   rank %d: got (%lld, %g) want (%lld, %g)\n", i, (long long)idx[size_t(i)],
                            vals[size_t(i)], (long long)order[size_t(i)], wv);
        }
        check(bad == 0, "topk_abs differs from the stable reference order: %d", bad);
        if (dev == SAS_DEVICE_CPU) {
            cpu_v = vals;
            cpu_i = idx;
        } else {
            check(cpu_i == idx && std::memcmp(cpu_v.data(), vals.data(), vals.size() * 4) == 0,
                  "CUDA topk_abs differs from the CPU twin (must be identical)");
        }
    }
}

// The CPU twin's scan from a given first bar (sas::cpu::topk_select_from): the result must not depend on
// the bar, whether it lies below the k-th key (a prime that keeps more than needed), exactly one below it,
// at it or above it (too high: fewer than k entries above it, so the scan must start again from nothing).
void run_bars(int64_t len, int32_t k, Fill fill, bool by_abs, uint64_t seed) {
    CaseClock clock(label("topk bars len=%lld k=%d", (long long)len, k));
    Rng rng(seed);
    Arr x = make_rows(SAS_F32, len, fill, rng);
    std::vector<float> v(static_cast<size_t>(len));
    for (int64_t i = 0; i < len; ++i) v[size_t(i)] = float(x.at(i));
    auto key = [&](int64_t i) { return by_abs ? sas::abs_key(v[size_t(i)]) : sas::order_key(v[size_t(i)]); };
    const auto order = ref_order(x, 0, len, by_abs, 3 * int64_t(k) + 1);
    const int64_t kth = int64_t(key(order[size_t(k - 1)])), top = int64_t(key(order[0]));
    const int64_t mid = int64_t(key(order[size_t(std::min<int64_t>(len - 1, 3 * int64_t(k)))]));
    for (int64_t bar : {int64_t(-1), int64_t(0), mid - 1, kth - 1, kth, kth + 1, top, int64_t(0xffffffffu)}) {
        char ctx[200];
        std::snprintf(ctx, sizeof ctx, "topk_select_from len=%lld k=%d fill=%d abs=%d bar=%lld", (long long)len, k,
                      int(fill), int(by_abs), (long long)bar);
        g_ctx = ctx;
        std::vector<sas::cpu::Cand> out;
        sas::cpu::topk_select_from(v.data(), len, 0, k, by_abs, bar, out);
        int bad = out.size() == size_t(k) ? 0 : 1;
        for (size_t i = 0; i < out.size() && i < size_t(k); ++i)
            if (out[i].idx != order[i] || out[i].key != key(order[i])) ++bad;
        check(bad == 0, "%zu candidates, %d differ from the stable reference order", out.size(), bad);
    }
}

void all_cases(uint64_t seed) {
    for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) {
        for (Fill f : {kGauss, kTies, kSparse}) {
            run_rows(dt, 1, 1000, 1, f, seed++);
            run_rows(dt, 3, 1000, 1000, f, seed++);  // k = m
            run_rows(dt, 17, 1000, 37, f, seed++);
            run_rows(dt, 3, 16411, 1024, f, seed++);
            run_rows(dt, 1, 100003, 1024, f, seed++);  // one long row: the chunked CPU path
            run_rows(dt, 1, 5, 5, f, seed++);
            run_abs(dt, 1000, 1, f, seed++);
            run_abs(dt, 16411, 64, f, seed++);
            run_abs(dt, 100003, 1024, f, seed++);
            run_abs(dt, 7, 7, f, seed++);
        }
        // Rows long enough for the CPU twin's sampled first bar (k >= 32), and its way around ties: a
        // sampled key shared by many entries (zeros, the seven values of kTies) gives no bar.
        for (Fill f : {kGauss, kTies, kSparse, kNear})
            for (int32_t k : {32, 64, 256}) run_rows(dt, 3, 16384, k, f, seed++);
        run_abs(dt, 65536, 256, kGauss, seed++);
        run_rows(dt, 2, 3000, 100, kZeros, seed++);
        run_rows(dt, 3, 5000, 300, kNear, seed++);
        run_rows(dt, 2, 70000, 64, kNear, seed++);
        // CUDA's two-phase path (rows over 8192 split into chunks): ties across chunk borders, many
        // small chunks of one wide row, many rows of a few chunks.
        run_rows(dt, 2, 20000, 100, kZeros, seed++);
        run_rows(dt, 2, (int64_t(1) << 20) + 3, 8, kTies, seed++);
        run_rows(dt, 40, 9000, 5, kGauss, seed++);
        // SAS_CUDA_TOPK_REG's phase 2 holds 8, 16 or 32 candidates per thread by their count (here 128
        // or 129 chunks of 8192: 25800 candidates, 32 per thread); more first go through a merge level
        // (the abs case below: 33024).
        if (dt == SAS_F32) run_rows(dt, 1, (int64_t(1) << 20) + 5, 200, kGauss, seed++);
        run_abs(dt, (int64_t(1) << 20) + 3, 256, kSparse, seed++);
        run_abs(dt, 3000, 100, kZeros, seed++);
        run_rows(dt, 0, 1000, 10, kGauss, seed++);  // n = 0: no-op
    }
}

}  // namespace

int main() {
    const Variants base;  // every CUDA kernel variant off
    for (Fill f : {kGauss, kTies, kSparse, kZeros, kNear})
        for (int32_t k : {1, 37, 256})
            for (bool by_abs : {false, true}) run_bars(20000 + k, k, f, by_abs, 500 + uint64_t(k) + uint64_t(f));
    all_cases(100);
    // The CUDA top-k variants (SAS_CUDA_TOPK_STAGE: staged loads; SAS_CUDA_TOPK_REG: keys in registers;
    // SAS_CUDA_TOPK_HIST: a threshold from a histogram), on a GPU only: every case again, CUDA against the
    // stable reference and the CPU twin, which it must equal.
    if (sas_cuda_available()) {
        {
            const Variants on{&sas::variants::kTopkReg};
            all_cases(100);
            // A merge level before phase 2: 129 chunks x 1024 candidates, in groups of 8192 (17 x 1024 left).
            run_rows(SAS_F32, 1, (int64_t(1) << 20) + 3, 1024, kSparse, 900);
            run_rows(SAS_BF16, 2, (int64_t(1) << 20) + 3, 700, kGauss, 901);
        }
        {
            // SAS_CUDA_TOPK_HIST, and its way back to the default kernels for the rows it does not finish:
            // too many keys in the k-th key's digit (zeros, ties, near-equal keys: all_cases), a chunk
            // holding more kept keys than its slots (kBurst: 300 in one chunk of 8192, 64 slots), and rows
            // of both kinds in one call (kMixed).
            const Variants on{&sas::variants::kTopkHist};
            all_cases(100);
            run_rows(SAS_F32, 2, (int64_t(1) << 20) + 3, 64, kBurst, 910);
            run_rows(SAS_BF16, 6, 20000, 64, kMixed, 911);
            run_rows(SAS_F32, 3, 100003, 1024, kGauss, 912);
            run_rows(SAS_F16, 2, 50000, 1, kBurst, 913);
        }
        const Variants on{&sas::variants::kTopkStage};
        all_cases(100);
    }
    // The bar raised by a cut, then an entry one key above it alone in its block of 8: [1 x 72, then 0.5
    // except 1 + 2^-23 at 75]. The first cut (at 65 candidates, k = 1) sets the bar to the key of 1.0; the
    // block 72..79 must not be rejected whole.
    g_ctx = "topk one key above a raised bar";
    {
        std::vector<float> v(200, 0.5f);
        std::fill(v.begin(), v.begin() + 72, 1.0f);
        v[75] = std::nextafter(1.0f, 2.0f);
        float ov[1];
        int64_t oi[1];
        check_ok(sas_topk_rows(SAS_DEVICE_CPU, nullptr, SAS_F32, v.data(), 200, 1, 200, 1, ov, oi), "sas_topk_rows");
        check(oi[0] == 75, "got index %lld, want 75", (long long)oi[0]);
    }
    // A hand-made tie case: [3, -3, 2, -5, 5, 5, 0, -0]
    g_ctx = "topk hand-made";
    {
        const float v[8] = {3, -3, 2, -5, 5, 5, 0, -0.0f};
        float ov[8];
        int64_t oi[8];
        check_ok(sas_topk_rows(SAS_DEVICE_CPU, nullptr, SAS_F32, v, 8, 1, 8, 8, ov, oi), "sas_topk_rows");
        const int64_t want[8] = {4, 5, 0, 2, 6, 7, 1, 3};
        check(std::equal(oi, oi + 8, want), "rows order: got %lld %lld %lld %lld %lld %lld %lld %lld", (long long)oi[0],
              (long long)oi[1], (long long)oi[2], (long long)oi[3], (long long)oi[4], (long long)oi[5],
              (long long)oi[6], (long long)oi[7]);
        check_ok(sas_topk_abs(SAS_DEVICE_CPU, nullptr, SAS_F32, v, 8, 8, ov, oi), "sas_topk_abs");
        const int64_t want_abs[8] = {3, 4, 5, 0, 1, 2, 6, 7};
        check(std::equal(oi, oi + 8, want_abs) && ov[0] == -5.0f, "abs order: got %lld %lld %lld %lld (v0 %g)",
              (long long)oi[0], (long long)oi[1], (long long)oi[2], (long long)oi[3], ov[0]);
    }
    return summary("test_topk");
}
