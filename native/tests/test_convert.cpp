// The library's own bf16/f16 <-> f32 conversions: exact decoding, and round-to-nearest-even encoding
// checked against an independent reference (nearest representable value by search, ties to even).
#include <map>

#include "../cpu/cpu_kernels.h"
#include "../cpu/simd.h"
#include "test_util.h"

using namespace t;

namespace {

struct Table {  // finite non-negative values of a 16-bit format, ascending, with their encodings
    std::vector<double> v;
    std::vector<uint16_t> code;
    double overflow;  // values >= this round to inf
};

Table build(bool bf16) {
    Table t;
    for (uint32_t h = 0; h < 0x8000u; ++h) {
        float f = bf16 ? sas::bf16_to_f32(uint16_t(h)) : sas::f16_to_f32(uint16_t(h));
        if (!std::isfinite(f)) continue;
        t.v.push_back(double(f));
        t.code.push_back(uint16_t(h));
    }
    // Halfway between the largest finite value and the next power step rounds to inf (ties to even).
    const double maxv = t.v.back();
    const double ulp = maxv - t.v[t.v.size() - 2];
    t.overflow = maxv + ulp / 2;
    return t;
}

uint16_t reference(const Table &t, float f) {
    const double a = std::fabs(double(f));
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    if (a >= t.overflow) return uint16_t(sign | (t.code.back() + 1));  // inf = largest finite + 1
    auto it = std::lower_bound(t.v.begin(), t.v.end(), a);
    size_t hi = size_t(it - t.v.begin());
    if (hi == t.v.size()) return uint16_t(sign | t.code.back());  // above the largest finite, below overflow
    if (hi < t.v.size() && t.v[hi] == a) return uint16_t(sign | t.code[hi]);
    size_t lo = hi - 1;
    const double dl = a - t.v[lo], dh = t.v[hi] - a;
    size_t pick = dl < dh ? lo : dh < dl ? hi : ((t.code[lo] & 1) == 0 ? lo : hi);
    return uint16_t(sign | t.code[pick]);
}

void run(bool bf16) {
    const char *name = bf16 ? "bf16" : "f16";
    g_ctx = name;
    Table tab = build(bf16);
    auto enc = [&](float f) { return bf16 ? sas::f32_to_bf16(f) : sas::f32_to_f16(f); };
    auto dec = [&](uint16_t h) { return bf16 ? sas::bf16_to_f32(h) : sas::f16_to_f32(h); };
    // 1. Every non-NaN code round-trips exactly.
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        float f = dec(uint16_t(h));
        if (std::isnan(f)) {
            bad += !std::isnan(dec(enc(f)));
            continue;
        }
        bad += enc(f) != uint16_t(h);
    }
    check(bad == 0, "%s: %d codes do not round-trip", name, bad);
    // 2. Midpoints between neighbours (ties to even), and one f32 ulp either side.
    bad = 0;
    for (size_t i = 0; i + 1 < tab.v.size(); ++i) {
        const float mid = float((tab.v[i] + tab.v[i + 1]) / 2);  // exact in f32
        for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), -mid}) {
            if (enc(f) != reference(tab, f) && bad++ < 5)
                std::printf("   %s(%.9g) = 0x%04x, reference 0x%04x\n", name, double(f), enc(f), reference(tab, f));
        }
    }
    check(bad == 0, "%s: %d midpoint roundings differ from round-to-nearest-even", name, bad);
    // 3. Random f32 across the whole range (subnormals and overflow included).
    Rng r(bf16 ? 11 : 12);
    bad = 0;
    for (int i = 0; i < 400000; ++i) {
        uint32_t u = uint32_t(r.next());
        float f = sas::bits_f32(u);
        if (std::isnan(f)) continue;
        if (!bf16) f = float(double(f) * 1e-30 * (i % 3 == 0 ? 1e26 : 1e30));  // concentrate on f16's range
        if (std::isnan(f)) continue;
        if (enc(f) != reference(tab, f) && bad++ < 5)
            std::printf("   %s(%.9g) = 0x%04x, reference 0x%04x\n", name, double(f), enc(f), reference(tab, f));
    }
    check(bad == 0, "%s: %d random values differ from round-to-nearest-even", name, bad);
    // 4. Specials.
    check(enc(INFINITY) == (bf16 ? 0x7f80 : 0x7c00) && enc(-INFINITY) == (bf16 ? 0xff80 : 0xfc00), "%s: inf", name);
    check(std::isnan(dec(enc(NAN))), "%s: NaN stays NaN", name);
    check(enc(-0.0f) == 0x8000, "%s: -0 keeps its sign", name);
}

// The fused step's bf16 rows in the split layout (sas::cpu::bf16_to_split / split_to_bf16, vectorised) against
// the scalar conversions and simd.h's scalar split16 / unsplit16, bit for bit: every bf16 code, f32 values
// at and around every rounding midpoint, NaNs (quieted the same way), odd lengths (the zero padding, and
// nothing written past n).
void split_rows() {
    g_ctx = "bf16 split layout";
    // Every code, in a row of 65536 (a multiple of 16).
    std::vector<uint16_t> codes(0x10000);
    for (uint32_t h = 0; h < 0x10000u; ++h) codes[h] = uint16_t(h);
    std::vector<float> xs(codes.size()), plain(codes.size());
    sas::cpu::bf16_to_split(codes.data(), int64_t(codes.size()), xs.data());
    sas::cpu::simd::unsplit16(xs.data(), int64_t(codes.size()), plain.data());
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000u; ++h) bad += sas::f32_bits(plain[h]) != (h << 16);
    check(bad == 0, "bf16_to_split: %d of 65536 codes not widened exactly into their column", bad);
    // f32 -> bf16 from the split layout: random bits (NaNs and infinities included), every midpoint between
    // two bf16 codes and one f32 ulp either side.
    Rng r(13);
    std::vector<float> vals;
    for (int i = 0; i < 200000; ++i) vals.push_back(sas::bits_f32(uint32_t(r.next())));
    for (uint32_t h = 0; h < 0xffffu; ++h) {
        const uint32_t mid = (h << 16) | 0x8000u;
        for (uint32_t u : {mid, mid - 1, mid + 1}) vals.push_back(sas::bits_f32(u));
    }
    while (vals.size() % 16) vals.push_back(1.0f);
    std::vector<float> split(vals.size());
    sas::cpu::simd::split16(vals.data(), int64_t(vals.size()), split.data());
    std::vector<uint16_t> got(vals.size());
    sas::cpu::split_to_bf16(split.data(), int64_t(vals.size()), got.data());
    bad = 0;
    for (size_t i = 0; i < vals.size(); ++i)
        if (got[i] != sas::f32_to_bf16(vals[i]) && bad++ < 5)
            std::printf("   split_to_bf16(0x%08x) = 0x%04x, f32_to_bf16 0x%04x\n", sas::f32_bits(vals[i]), got[i],
                        sas::f32_to_bf16(vals[i]));
    check(bad == 0, "split_to_bf16: %d of %zu values rounded otherwise than f32_to_bf16", bad, vals.size());
    // Odd lengths: the padding of the last group is zero, and the way back writes n values, no more.
    for (int64_t n : {1, 7, 8, 15, 17, 31, 33, 2309}) {
        std::vector<uint16_t> x(size_t(n) + 16, 0xbeef);
        for (int64_t i = 0; i < n; ++i) x[size_t(i)] = uint16_t(r.next());
        const int64_t padded = (n + 15) / 16 * 16;
        std::vector<float> row(static_cast<size_t>(padded), 7.0f), want(static_cast<size_t>(padded));
        sas::cpu::bf16_to_split(x.data(), n, row.data());
        std::vector<float> widened(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) widened[size_t(i)] = sas::bf16_to_f32(x[size_t(i)]);
        sas::cpu::simd::split16(widened.data(), n, want.data());
        check(std::memcmp(row.data(), want.data(), row.size() * sizeof(float)) == 0,
              "n = %lld: bf16_to_split differs from split16 (padding zero)", (long long)n);
        std::vector<uint16_t> back(size_t(n) + 16, 0xbeef);
        sas::cpu::split_to_bf16(row.data(), n, back.data());
        bool same = true;
        for (int64_t i = 0; i < n; ++i) same &= back[size_t(i)] == x[size_t(i)] || std::isnan(widened[size_t(i)]);
        bool untouched = true;
        for (size_t i = size_t(n); i < back.size(); ++i) untouched &= back[i] == 0xbeef;
        check(same, "n = %lld: split_to_bf16(bf16_to_split(x)) == x", (long long)n);
        check(untouched, "n = %lld: split_to_bf16 writes nothing past n", (long long)n);
    }
}

// f16 rows (sas::cpu::f16_to_f32_row / f32_to_f16_row, and so every f16 kernel) on both of simd.h's paths,
// F16C and integer widening, against the scalar conversions, bit for bit: every f16 code (NaNs included:
// quieted, payload kept), random f32 bits (NaNs, infinities, subnormals), every midpoint between two f16
// values and one f32 ulp either side, odd lengths (nothing written past n).
void f16_rows() {
    // Which path the process takes: F16C where the build has it and the CPU too, unless SAS_CPU_F16C=0
    // (ctest runs this test a second time with it set).
    g_ctx = "f16 path";
    const char *env = std::getenv("SAS_CPU_F16C");
    const bool off = env && std::strcmp(env, "0") == 0;
#if SAS_HAVE_F16C
    const bool cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    const bool cpu = false;
#endif
    check(sas::cpu::has_f16c() == (cpu && !off), "has_f16c() = %d with SAS_CPU_F16C %s on a CPU %s F16C",
          int(sas::cpu::has_f16c()), env ? env : "unset", cpu ? "with" : "without");
    std::printf("f16 path: %s\n", sas::cpu::has_f16c() ? "F16C" : "integer widening");

    std::vector<uint16_t> codes(0x10000);
    for (uint32_t h = 0; h < 0x10000u; ++h) codes[h] = uint16_t(h);
    Rng r(14);
    std::vector<float> vals;
    for (int i = 0; i < 200000; ++i) vals.push_back(sas::bits_f32(uint32_t(r.next())));
    for (int i = 0; i < 200000; ++i)  // f16's range, subnormals and overflow included
        vals.push_back(float(double(sas::bits_f32(uint32_t(r.next()))) * 1e-30 * (i % 3 == 0 ? 1e26 : 1e30)));
    for (uint32_t h = 0; h < 0x7bffu; ++h) {
        const float a = sas::f16_to_f32(uint16_t(h)), b = sas::f16_to_f32(uint16_t(h + 1));
        const float mid = float((double(a) + double(b)) / 2);  // exact in f32
        for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), -mid}) vals.push_back(f);
    }
    for (bool f16c : {true, false}) {
        sas::cpu::set_f16c(f16c);
        const char *path = sas::cpu::has_f16c() ? "F16C" : "integer widening";
        g_ctx = path;
        std::vector<float> wide(codes.size());
        sas::cpu::f16_to_f32_row(codes.data(), int64_t(codes.size()), wide.data());
        int bad = 0;
        for (uint32_t h = 0; h < 0x10000u; ++h)
            if (sas::f32_bits(wide[h]) != sas::f32_bits(sas::f16_to_f32(uint16_t(h))) && bad++ < 5)
                std::printf("   %s: f16 0x%04x -> 0x%08x, f16_to_f32 0x%08x\n", path, h, sas::f32_bits(wide[h]),
                            sas::f32_bits(sas::f16_to_f32(uint16_t(h))));
        check(bad == 0, "f16_to_f32_row (%s): %d of 65536 codes widened otherwise than f16_to_f32", path, bad);
        std::vector<uint16_t> got(vals.size());
        sas::cpu::f32_to_f16_row(vals.data(), int64_t(vals.size()), got.data());
        bad = 0;
        for (size_t i = 0; i < vals.size(); ++i)
            if (got[i] != sas::f32_to_f16(vals[i]) && bad++ < 5)
                std::printf("   %s: 0x%08x -> 0x%04x, f32_to_f16 0x%04x\n", path, sas::f32_bits(vals[i]), got[i],
                            sas::f32_to_f16(vals[i]));
        check(bad == 0, "f32_to_f16_row (%s): %d of %zu values rounded otherwise than f32_to_f16", path, bad,
              vals.size());
        for (int64_t n : {1, 7, 8, 9, 15, 17, 2309}) {
            std::vector<float> w(size_t(n) + 8, 7.0f);
            std::vector<uint16_t> h(size_t(n) + 8, 0xbeef);
            sas::cpu::f16_to_f32_row(codes.data() + 0x3000, n, w.data());
            sas::cpu::f32_to_f16_row(w.data(), n, h.data());
            bool same = true, untouched = true;
            for (int64_t i = 0; i < n; ++i) same &= h[size_t(i)] == codes[size_t(0x3000 + i)];
            for (size_t i = size_t(n); i < h.size(); ++i) untouched &= h[i] == 0xbeef && w[i] == 7.0f;
            check(same, "n = %lld: f16 -> f32 -> f16 round trip (%s)", (long long)n, path);
            check(untouched, "n = %lld: nothing written past n (%s)", (long long)n, path);
        }
    }
    sas::cpu::set_f16c(true);
    // The NaN rule the vector paths share with F16C: quieted, payload kept, both ways.
    g_ctx = "f16 NaN";
    check(sas::f32_bits(sas::f16_to_f32(0x7c01)) == 0x7fc02000u &&
              sas::f32_bits(sas::f16_to_f32(0xfd55)) == 0xffeaa000u,
          "f16 NaNs widen quieted with their payload");
    check(sas::f32_to_f16(sas::bits_f32(0x7f800001u)) == 0x7e00 &&
              sas::f32_to_f16(sas::bits_f32(0xffc12345u)) == 0xfe09,
          "f32 NaNs narrow quieted with their payload's top bits");
}

}  // namespace

int main() {
    split_rows();
    f16_rows();
    run(true);
    run(false);
    // f16 specifics: 65504 is the largest finite value, 65520 rounds to inf, 2^-24 is the smallest subnormal.
    g_ctx = "f16 specials";
    check(sas::f32_to_f16(65504.0f) == 0x7bff, "65504 -> 0x7bff");
    check(sas::f32_to_f16(65519.996f) == 0x7bff, "65519.996 -> 0x7bff");
    check(sas::f32_to_f16(65520.0f) == 0x7c00, "65520 -> inf");
    check(sas::f32_to_f16(5.9604644775390625e-08f) == 0x0001, "2^-24 -> 0x0001");
    check(sas::f32_to_f16(2.98023223876953125e-08f) == 0x0000, "2^-25 -> 0 (tie to even)");
    check(sas::f32_to_f16(2.9802326e-08f) == 0x0001, "just above 2^-25 -> 0x0001");
    check(sas::f16_to_f32(0x3c00) == 1.0f && sas::bf16_to_f32(0x3f80) == 1.0f, "1.0 decodes");
    // The CUDA kernel variant switches (kernels/src/variants.h; host logic, so checked here on every
    // machine): "1" and "0" force, anything else (or unset) leaves the default, and Variants sets and
    // restores them.
    g_ctx = "variant switches";
    for (const sas::variants::Variant *v : sas::variants::kAll) {
        setenv(v->env, "1", 1);
        check(sas::variants::on(*v), "%s=1 -> on", v->env);
        setenv(v->env, "0", 1);
        check(!sas::variants::on(*v), "%s=0 -> off", v->env);
        for (const char *other : {"", "yes", "10", "true"}) {
            setenv(v->env, other, 1);
            check(sas::variants::on(*v) == v->on_by_default, "%s='%s' -> default", v->env, other);
        }
        unsetenv(v->env);
        check(sas::variants::on(*v) == v->on_by_default, "%s unset -> default", v->env);
    }
    setenv(sas::variants::kTopkStage.env, "keep", 1);
    {
        const Variants on{&sas::variants::kSteerOne};
        check(sas::variants::on(sas::variants::kSteerOne) && !sas::variants::on(sas::variants::kTopkStage) &&
                  !sas::variants::on(sas::variants::kTcGemv),
              "Variants{kSteerOne}: that one on, the others off");
    }
    const char *kept = std::getenv(sas::variants::kTopkStage.env);
    check(kept && std::strcmp(kept, "keep") == 0 && !std::getenv(sas::variants::kSteerOne.env),
          "Variants restores the environment");
    unsetenv(sas::variants::kTopkStage.env);
    return summary("test_convert");
}
