// sas_inject, sas_pack_support and sas_steer_fused: against double-precision references, the fused
// step against the dense formula over all m features, masks, lambda = 0, every dtype; CUDA vs CPU.
#include <numeric>

#include "../cpu/cpu_kernels.h"
#include "test_util.h"

using namespace t;

namespace {

// |got - want| <= f32 accumulation error of `scale` + the rounding of writing `want` in dt.
bool close(double got, double want, double scale, sas_dtype dt) {
    const double tol = kTolF32 * scale + round_tol(dt) * std::fabs(want) + (dt == SAS_F16 ? 6e-8 : 1e-30);
    return std::fabs(got - want) <= tol;
}

// CUDA vs the CPU twin: each is within f32 accumulation error plus half an ulp of dt (one rounding) of
// the exact value, so the two may differ by the sum of both: up to a whole ulp where they round a value
// near a rounding boundary to neighbours (seen on bf16 at n = 600: 6 of 1.4M entries).
bool close_twin(double got, double cpu, double scale, sas_dtype dt) {
    const double tol = 2 * kTolF32 * scale + 2 * round_tol(dt) * std::fabs(cpu) + (dt == SAS_F16 ? 1.2e-7 : 1e-30);
    return std::fabs(got - cpu) <= tol;
}

// ---- inject ---------------------------------------------------------------------------------------
void test_inject(sas_dtype dt, int64_t n, int64_t d, int64_t m, int32_t nnz, uint64_t seed) {
    CaseClock clock(label("inject n=%lld d=%lld m=%lld %s", (long long)n, (long long)d, (long long)m, dn(dt)));
    Rng rng(seed);
    const int64_t ldx = d + 2;
    Arr x = randn(dt, n * ldx + 1, rng), W = randn(dt, m * d, rng, 0.2);
    std::vector<int64_t> idx(static_cast<size_t>(n * nnz));
    std::vector<float> co(static_cast<size_t>(n * nnz));
    for (size_t i = 0; i < idx.size(); ++i) {
        idx[i] = rng.below(5) == 0 ? -1 - rng.below(3) : rng.below(m);  // padding: any negative index
        co[i] = float(rng.normal());
    }
    if (!idx.empty()) idx[0] = m - 1;
    std::vector<double> scale(static_cast<size_t>(n * ldx), 0.0);
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < d; ++c) {
            double sc = std::fabs(x.at(r * ldx + c));
            for (int32_t j = 0; j < nnz; ++j) {
                const int64_t i = idx[size_t(r * nnz + j)];
                if (i >= 0) sc += std::fabs(double(co[size_t(r * nnz + j)]) * W.at(i * d + c));
            }
            scale[size_t(r * ldx + c)] = sc;
        }
    std::vector<double> want(static_cast<size_t>(n * ldx));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < d; ++c) {
            double acc = x.at(r * ldx + c);
            for (int32_t j = 0; j < nnz; ++j) {
                const int64_t i = idx[size_t(r * nnz + j)];
                if (i >= 0) acc += double(co[size_t(r * nnz + j)]) * W.at(i * d + c);
            }
            want[size_t(r * ldx + c)] = acc;
        }
    Arr cpu;
    for (sas_device dev : devices()) {
        char ctx[200];
        std::snprintf(ctx, sizeof ctx, "inject %s %s n=%lld d=%lld m=%lld nnz=%d", devn(dev), dn(dt), (long long)n,
                      (long long)d, (long long)m, nnz);
        g_ctx = ctx;
        Buf bx = upload(dev, x), bW = upload(dev, W), bi = upload(dev, idx), bc = upload(dev, co);
        if (!check_ok(sas_inject(dev, nullptr, dt, bx.p, ldx, n, d, dt, bW.p, m, nnz, bi.as<int64_t>(), bc.as<float>()),
                      "sas_inject"))
            continue;
        Arr got = download_arr(bx, dt, x.count);
        int bad = 0, pad = 0;
        for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < ldx; ++c) {
                const int64_t e = r * ldx + c;
                if (c >= d) {
                    pad += std::memcmp(&got.raw[size_t(e) * sas::dtype_size(dt)], &x.raw[size_t(e) * sas::dtype_size(dt)],
                                       sas::dtype_size(dt)) != 0;
                    continue;
                }
                if (!close(got.at(e), want[size_t(e)], scale[size_t(e)], dt) && bad++ < 3)
                    std::printf("   r=%lld c=%lld got %.9g want %.9g\n", (long long)r, (long long)c, got.at(e),
                                want[size_t(e)]);
            }
        check(bad == 0, "inject: %d mismatches vs the double reference", bad);
        check(pad == 0, "inject touched %d entries between d and ldx", pad);
        if (dev == SAS_DEVICE_CPU) {
            cpu = got;
        } else {
            int diff = 0;
            for (int64_t e = 0; e < x.count; ++e)
                diff += !close_twin(got.at(e), cpu.at(e), scale[size_t(std::min(e, n * ldx - 1))], dt);
            check(diff == 0, "inject CUDA vs CPU twin: %d differ", diff);
        }
    }
}

// ---- the dense decode of the bench baseline (internal): x += c . W_dec over all m ------------------
void test_decode_dense(sas_dtype dt, int64_t n, int64_t d, int64_t m, uint64_t seed) {
    CaseClock clock(label("decode_dense n=%lld d=%lld m=%lld %s", (long long)n, (long long)d, (long long)m, dn(dt)));
    Rng rng(seed);
    const int64_t ldx = d + 1, ldc = m + 2;
    Arr x = randn(dt, n * ldx, rng), W = randn(dt, m * d, rng, 0.2);
    std::vector<float> c(static_cast<size_t>(n * ldc));
    for (auto &v : c) v = rng.below(3) == 0 ? 0.0f : float(rng.normal());
    std::vector<double> want(static_cast<size_t>(n * ldx)), scale(static_cast<size_t>(n * ldx));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t k = 0; k < d; ++k) {
            double a = x.at(r * ldx + k), sc = std::fabs(a);
            for (int64_t j = 0; j < m; ++j) {
                const double t = double(c[size_t(r * ldc + j)]) * W.at(j * d + k);
                a += t;
                sc += std::fabs(t);
            }
            want[size_t(r * ldx + k)] = a;
            scale[size_t(r * ldx + k)] = sc;
        }
    for (sas_device dev : devices()) {
        char ctx[200];
        std::snprintf(ctx, sizeof ctx, "decode_dense %s %s n=%lld d=%lld m=%lld", devn(dev), dn(dt), (long long)n,
                      (long long)d, (long long)m);
        g_ctx = ctx;
        Buf bx = upload(dev, x), bW = upload(dev, W), bc = upload(dev, c);
        if (!check_ok(sas::internal::decode_dense(dev, nullptr, dt, bx.p, ldx, n, d, bW.p, m, bc.as<float>(), ldc),
                      "decode_dense"))
            continue;
        Arr got = download_arr(bx, dt, x.count);
        int bad = 0;
        for (int64_t r = 0; r < n; ++r)
            for (int64_t k = 0; k < ldx; ++k) {
                const int64_t e = r * ldx + k;
                if (k >= d) {
                    bad += got.at(e) != x.at(e);
                    continue;
                }
                if (!close(got.at(e), want[size_t(e)], scale[size_t(e)], dt) && bad++ < 3)
                    std::printf("   r=%lld k=%lld got %.9g want %.9g\n", (long long)r, (long long)k, got.at(e),
                                want[size_t(e)]);
            }
        check(bad == 0, "decode_dense: %d mismatches vs the double reference", bad);
    }
}

// ---- a full SAE and a steering vector --------------------------------------------------------------
struct Sae {
    sas_dtype dt;
    int64_t d, m;
    Arr We, be, th, Wd;
};
Sae make_sae(sas_dtype dt, int64_t d, int64_t m, Rng &r) {
    return Sae{dt, d, m, randn(dt, d * m, r, 1.0 / std::sqrt(double(d))), randn(dt, m, r, 0.1),
               uniform(dt, m, r, 0.05, 0.5), randn(dt, m * d, r, 0.2)};
}

struct Packed {
    Buf We, be, th, Wd;
};

Packed pack(sas_device dev, const Sae &s, const std::vector<int64_t> &S, bool with_thr) {
    const int64_t ns = int64_t(S.size());
    const size_t es = sas::dtype_size(s.dt);
    Packed p{Buf(dev, size_t(ns * s.d) * es), Buf(dev, size_t(ns) * es), Buf(dev, size_t(ns) * es),
             Buf(dev, size_t(ns * s.d) * es)};
    Buf bWe = upload(dev, s.We), bbe = upload(dev, s.be), bth = upload(dev, s.th), bWd = upload(dev, s.Wd);
    Buf bS = upload(dev, S);
    check_ok(sas_pack_support(dev, nullptr, s.dt, bWe.p, bbe.p, with_thr ? bth.p : nullptr, bWd.p, s.d, s.m,
                              bS.as<int64_t>(), ns, p.We.p, p.be.p, with_thr ? p.th.p : nullptr, p.Wd.p),
             "sas_pack_support");
    sas::internal::dev_sync(dev);
    return p;
}

void test_pack(sas_dtype dt, int64_t d, int64_t m, uint64_t seed) {
    Rng rng(seed);
    Sae sae = make_sae(dt, d, m, rng);
    std::vector<int64_t> S{m - 1, 0, 5, 5, m / 2};
    for (sas_device dev : devices()) {
        char ctx[200];
        std::snprintf(ctx, sizeof ctx, "pack_support %s %s d=%lld m=%lld", devn(dev), dn(dt), (long long)d,
                      (long long)m);
        g_ctx = ctx;
        for (bool with_thr : {true, false}) {
            Packed p = pack(dev, sae, S, with_thr);
            const int64_t s = int64_t(S.size());
            Arr We = download_arr(p.We, dt, s * d), be = download_arr(p.be, dt, s), th = download_arr(p.th, dt, s),
                Wd = download_arr(p.Wd, dt, s * d);
            int bad = 0;
            for (int64_t i = 0; i < s; ++i) {
                const int64_t j = S[size_t(i)];
                for (int64_t k = 0; k < d; ++k) {
                    bad += We.at(i * d + k) != sae.We.at(k * m + j);
                    bad += Wd.at(i * d + k) != sae.Wd.at(j * d + k);
                }
                bad += be.at(i) != sae.be.at(j);
                if (with_thr) bad += th.at(i) != sae.th.at(j);
            }
            check(bad == 0, "packed operands differ from the gathered SAE rows (%d), thr=%d", bad, int(with_thr));
        }
    }
}

// ---- fused steering --------------------------------------------------------------------------------
struct SteerCase {
    int64_t n, d, m, s;
    float lambda;
    sas_activation act;
    int64_t pad = 1;  // ldx = d + pad: 1 keeps rows off 16-byte alignment (the scalar paths); 0 the vector ones
};

void test_fused(sas_dtype dt, SteerCase c, uint64_t seed) {
    // Under ThreadSanitizer: not n = 600 at d = 2304 (CUDA's two launches: {300, 256, 200, 16} and {300, 64,
    // 200, 16} take them there too).
    if (skip_under_tsan(double(c.n) * double(c.d) * double(c.m))) return;
    CaseClock clock(label("fused n=%lld d=%lld m=%lld s=%lld %s", (long long)c.n, (long long)c.d, (long long)c.m, (long long)c.s, dn(dt)));
    Rng rng(seed);
    const int64_t n = c.n, d = c.d, m = c.m, s = c.s, ldx = d + c.pad;
    Sae sae = make_sae(dt, d, m, rng);
    Arr x = randn(dt, n * ldx, rng, 2.0);
    // S: distinct features in random order; v_S with both signs.
    std::vector<int64_t> all(static_cast<size_t>(m));
    std::iota(all.begin(), all.end(), 0);
    for (int64_t i = 0; i < s; ++i) std::swap(all[size_t(i)], all[size_t(i + rng.below(m - i))]);
    std::vector<int64_t> S(all.begin(), all.begin() + s);
    std::vector<float> vS(static_cast<size_t>(s));
    for (auto &v : vS) v = float(3.0 * rng.normal());

    // Dense pre-activations over ALL m features (double).
    std::vector<double> pre(static_cast<size_t>(n * m)), psc(static_cast<size_t>(n * m));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < m; ++j) {
            double a = sae.be.at(j), sc = std::fabs(a);
            for (int64_t k = 0; k < d; ++k) {
                const double t = x.at(r * ldx + k) * sae.We.at(k * m + j);
                a += t;
                sc += std::fabs(t);
            }
            pre[size_t(r * m + j)] = a;
            psc[size_t(r * m + j)] = sc;
        }
    // Keep JumpReLU decisions on S unambiguous: move a threshold that sits within rounding of a pre.
    if (c.act == SAS_ACT_JUMPRELU)
        for (int64_t i = 0; i < s; ++i) {
            const int64_t j = S[size_t(i)];
            for (int64_t r = 0; r < n; ++r)
                if (std::fabs(pre[size_t(r * m + j)] - sae.th.at(j)) <= 1e-4 * (1 + psc[size_t(r * m + j)]))
                    sae.th.set(j, sae.th.at(j) + 0.01);
        }
    // The dense formula: v over all m (zero off S), f = act(pre), c = relu(f + lambda v) - f, x + c . W_dec.
    std::vector<double> v(static_cast<size_t>(m), 0.0);
    for (int64_t i = 0; i < s; ++i) v[size_t(S[size_t(i)])] = vS[size_t(i)];
    std::vector<double> want(static_cast<size_t>(n * ldx)), scale(static_cast<size_t>(n * ldx));
    for (int64_t r = 0; r < n; ++r) {
        std::vector<double> cc(static_cast<size_t>(m)), csc(static_cast<size_t>(m));
        for (int64_t j = 0; j < m; ++j) {
            const double p = pre[size_t(r * m + j)];
            const double f = c.act == SAS_ACT_JUMPRELU ? (p > sae.th.at(j) ? p : 0.0) : std::max(p, 0.0);
            cc[size_t(j)] = std::max(f + double(c.lambda) * v[size_t(j)], 0.0) - f;
            csc[size_t(j)] = std::fabs(cc[size_t(j)]) + psc[size_t(r * m + j)] * (v[size_t(j)] != 0.0 ? 1.0 : 0.0);
        }
        for (int64_t k = 0; k < d; ++k) {
            double a = x.at(r * ldx + k), sc = std::fabs(a);
            for (int64_t j = 0; j < m; ++j) {
                if (cc[size_t(j)] == 0.0 && v[size_t(j)] == 0.0) continue;
                a += cc[size_t(j)] * sae.Wd.at(j * d + k);
                sc += csc[size_t(j)] * std::fabs(sae.Wd.at(j * d + k));
            }
            want[size_t(r * ldx + k)] = a;
            scale[size_t(r * ldx + k)] = sc;
        }
    }
    // Masks: all rows (NULL), every other row, none.
    std::vector<uint8_t> alt(static_cast<size_t>(n)), none(static_cast<size_t>(n), 0);
    for (int64_t r = 0; r < n; ++r) alt[size_t(r)] = uint8_t(r % 2 == 0 ? 1 : 0);
    Arr cpu_all;
    for (sas_device dev : devices()) {
        char ctx[200];
        std::snprintf(ctx, sizeof ctx, "steer_fused %s %s %s n=%lld d=%lld ldx=%lld m=%lld s=%lld lambda=%g", devn(dev),
                      dn(dt), sas::act_name(c.act), (long long)n, (long long)d, (long long)ldx, (long long)m,
                      (long long)s, double(c.lambda));
        g_ctx = ctx;
        Packed p = pack(dev, sae, S, true);
        Buf bv = upload(dev, vS);
        for (int mask_kind = 0; mask_kind < 3; ++mask_kind) {
            Buf bx = upload(dev, x);
            const std::vector<uint8_t> *mk = mask_kind == 1 ? &alt : mask_kind == 2 ? &none : nullptr;
            Buf bm = mk ? upload(dev, *mk) : Buf(dev, 1);
            if (!check_ok(sas_steer_fused(dev, nullptr, dt, bx.p, ldx, n, d, dt, p.We.p, p.be.p, p.th.p, p.Wd.p, s,
                                          c.act, bv.as<float>(), c.lambda, mk ? bm.as<uint8_t>() : nullptr),
                          "sas_steer_fused"))
                continue;
            Arr got = download_arr(bx, dt, x.count);
            int bad = 0, untouched_bad = 0;
            for (int64_t r = 0; r < n; ++r) {
                const bool steered = mk == nullptr || (*mk)[size_t(r)] != 0;
                for (int64_t k = 0; k < ldx; ++k) {
                    const int64_t e = r * ldx + k;
                    const size_t es = sas::dtype_size(dt);
                    const bool same = std::memcmp(&got.raw[size_t(e) * es], &x.raw[size_t(e) * es], es) == 0;
                    if (!steered || k >= d) {
                        untouched_bad += !same;
                        continue;
                    }
                    if (c.lambda == 0.0f) {  // c = relu(f) - f = 0 exactly: unchanged
                        bad += !same && !close(got.at(e), x.at(e), scale[size_t(e)], dt);
                        continue;
                    }
                    if (!close(got.at(e), want[size_t(e)], scale[size_t(e)], dt) && bad++ < 3)
                        std::printf("   r=%lld k=%lld got %.9g want %.9g (x %.9g)\n", (long long)r, (long long)k,
                                    got.at(e), want[size_t(e)], x.at(e));
                }
            }
            check(bad == 0, "mask %d: %d mismatches vs the dense formula over all m", mask_kind, bad);
            check(untouched_bad == 0, "mask %d: %d entries of unsteered rows / padding changed (must be bit-for-bit)",
                  mask_kind, untouched_bad);
            if (mask_kind == 0) {
                if (dev == SAS_DEVICE_CPU) {
                    cpu_all = got;
                    // f16: simd.h's two paths (F16C, integer widening) give the same bits.
                    if (dt == SAS_F16) {
                        Buf bx2 = upload(dev, x);
                        sas::cpu::set_f16c(false);
                        check_ok(sas_steer_fused(dev, nullptr, dt, bx2.p, ldx, n, d, dt, p.We.p, p.be.p, p.th.p, p.Wd.p,
                                                 s, c.act, bv.as<float>(), c.lambda, nullptr),
                                 "sas_steer_fused (f16 without F16C)");
                        sas::cpu::set_f16c(true);
                        check(download_arr(bx2, dt, x.count).raw == got.raw,
                              "f16 without F16C: other bits than with it");
                    }
                } else {
                    int diff = 0;
                    for (int64_t e = 0; e < x.count; ++e)
                        diff += !close_twin(got.at(e), cpu_all.at(e), scale[size_t(std::min(e, n * ldx - 1))], dt);
                    check(diff == 0, "steer_fused CUDA vs CPU twin: %d differ", diff);
                }
            }
        }
        // The library's own dense path (encode_dense over all m, then a decode of c over all m via inject)
        // agrees with the fused step too (f32 only, mask NULL).
        if (dt == SAS_F32 && c.lambda != 0.0f) {
            Buf bx = upload(dev, x), bWe = upload(dev, sae.We), bbe = upload(dev, sae.be), bth = upload(dev, sae.th);
            Buf bWd = upload(dev, sae.Wd);
            Buf bf(dev, size_t(n * m) * 4);
            check_ok(sas_encode_dense(dev, nullptr, dt, bx.p, ldx, n, d, dt, bWe.p, bbe.p, bth.p, m, c.act, 0,
                                      bf.as<float>(), m),
                     "sas_encode_dense");
            auto f = download<float>(bf, size_t(n * m));
            std::vector<int64_t> idx(static_cast<size_t>(n * m));
            std::vector<float> coef(static_cast<size_t>(n * m));
            for (int64_t r = 0; r < n; ++r)
                for (int64_t j = 0; j < m; ++j) {
                    const float fj = f[size_t(r * m + j)];
                    const float g = fj + c.lambda * float(v[size_t(j)]);
                    idx[size_t(r * m + j)] = j;
                    coef[size_t(r * m + j)] = (g > 0 ? g : 0.0f) - fj;
                }
            Buf bi = upload(dev, idx), bc = upload(dev, coef);
            check_ok(sas_inject(dev, nullptr, dt, bx.p, ldx, n, d, dt, bWd.p, m, int32_t(m), bi.as<int64_t>(),
                                bc.as<float>()),
                     "sas_inject (dense decode)");
            Arr dense = download_arr(bx, dt, x.count);
            int bad = 0;
            for (int64_t r = 0; r < n; ++r)
                for (int64_t k = 0; k < d; ++k) {
                    const int64_t e = r * ldx + k;
                    bad += !close(dense.at(e), want[size_t(e)], scale[size_t(e)], dt);
                }
            check(bad == 0, "library dense encode+decode vs the dense formula: %d mismatches", bad);
        }
    }
}

// The CPU twin steers a row to the same bits whatever batch it comes in: alone (the n = 1 path, phases
// on the pool), or in batches of 2, 3, 5, 8 and 13 rows (blocks of up to 8 rows; dot products 3 rows and
// updates 4 rows at a time, the rest 2 or 1), so a token's steering does not depend on how many tokens
// share its call.
void test_fused_batch_invariance(sas_dtype dt, int64_t d, int64_t s, uint64_t seed) {
    Rng rng(seed);
    const int64_t m = 700, n = 13, ldx = d + 1;
    const size_t es = sas::dtype_size(dt);
    Sae sae = make_sae(dt, d, m, rng);
    Arr x = randn(dt, n * ldx, rng, 2.0);
    std::vector<int64_t> S;
    for (int64_t i = 0; i < s; ++i) S.push_back((i * 37 + 5) % m);
    std::vector<float> vS(static_cast<size_t>(s));
    for (auto &v : vS) v = float(3.0 * rng.normal());
    char ctx[160];
    std::snprintf(ctx, sizeof ctx, "steer_fused batch invariance cpu %s d=%lld s=%lld", dn(dt), (long long)d,
                  (long long)s);
    g_ctx = ctx;
    Packed p = pack(SAS_DEVICE_CPU, sae, S, true);
    Buf bv = upload(SAS_DEVICE_CPU, vS);
    // rows [r0, r0 + b) of x steered as one call; the result's bytes
    auto steer = [&](int64_t r0, int64_t b) {
        Arr part(dt, b * ldx);
        std::memcpy(part.data(), &x.raw[size_t(r0 * ldx) * es], part.bytes());
        Buf bx = upload(SAS_DEVICE_CPU, part);
        check_ok(sas_steer_fused(SAS_DEVICE_CPU, nullptr, dt, bx.p, ldx, b, d, dt, p.We.p, p.be.p, p.th.p, p.Wd.p, s,
                                 SAS_ACT_JUMPRELU, bv.as<float>(), 3.0f, nullptr),
                 "sas_steer_fused");
        return download_arr(bx, dt, b * ldx);
    };
    std::vector<Arr> alone;
    int changed = 0;
    for (int64_t r = 0; r < n; ++r) {
        alone.push_back(steer(r, 1));
        changed += std::memcmp(alone.back().data(), &x.raw[size_t(r * ldx) * es], size_t(d) * es) != 0;
    }
    check(changed == n, "every row is steered (%d of %lld changed)", changed, (long long)n);
    for (int64_t b : {2, 3, 5, 8, 13}) {
        int bad = 0;
        for (int64_t r0 = 0; r0 + b <= n; r0 += b) {
            Arr got = steer(r0, b);
            for (int64_t r = 0; r < b; ++r)
                bad += std::memcmp(&got.raw[size_t(r * ldx) * es], alone[size_t(r0 + r)].data(), size_t(ldx) * es) != 0;
        }
        check(bad == 0, "batch of %lld: %d rows differ from the row steered alone", (long long)b, bad);
    }
}

}  // namespace

int main() {
    const Variants base;  // every CUDA kernel variant off (below: the single-launch step on)
    uint64_t seed = 1000;
    for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) {
        test_inject(dt, 1, 64, 1000, 7, seed++);
        test_inject(dt, 3, 2304, 1000, 33, seed++);
        test_inject(dt, 17, 3584, 1000, 5, seed++);
        test_inject(dt, 2, 64, 16411, 1000, seed++);
        test_decode_dense(dt, 1, 64, 1000, seed++);
        test_decode_dense(dt, 3, 2304, 333, seed++);
        test_decode_dense(dt, 20, 64, 1000, seed++);
        test_decode_dense(dt, 5, 67, 1000, seed++);  // d not a multiple of the vector width
        // m over the CPU twin's chunk of 4096 W_dec rows: chunks summed in order, a partial last chunk
        test_decode_dense(dt, 2, 67, 9000, seed++);
        test_decode_dense(dt, 12, 40, 4097, seed++);
        test_pack(dt, 64, 1000, seed++);
        test_pack(dt, 2304, 333, seed++);
        test_fused_batch_invariance(dt, 2304, 64, seed++);
        test_fused_batch_invariance(dt, 67, 21, seed++);  // d and s tails
        for (sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_RELU}) {
            test_fused(dt, {1, 64, 1000, 8, 4.0f, act}, seed++);
            test_fused(dt, {3, 2304, 1000, 64, -2.5f, act}, seed++);
            test_fused(dt, {17, 64, 1000, 64, 1.5f, act}, seed++);
            test_fused(dt, {1, 3584, 333, 17, 8.0f, act}, seed++);
            test_fused(dt, {3, 64, 1000, 8, 0.0f, act}, seed++);  // lambda = 0
            test_fused(dt, {2, 64, 1000, 1000, 2.0f, act}, seed++); // S = all features
            test_fused(dt, {4, 67, 500, 13, 3.0f, act}, seed++);    // odd d: the scalar (unvectorised) path
            // Enough rows x column groups for CUDA's two-launch path (the cooperative launch covers small steps).
            test_fused(dt, {600, 2304, 200, 16, 2.0f, act}, seed++);
            // Rows at 16-byte boundaries (ldx = d): the CUDA kernels' 16-byte vector loads.
            test_fused(dt, {1, 2304, 1000, 64, 2.0f, act, 0}, seed++);
            test_fused(dt, {3, 64, 1000, 8, 2.0f, act, 0}, seed++);
            test_fused(dt, {300, 256, 200, 16, 2.0f, act, 0}, seed++);
        }
    }
    // The single-launch step (variant SAS_CUDA_STEER_ONE, kernels/cuda/steer.cu), on a GPU only: the same
    // checks with it switched on, at the edges of its grouping (one group: s <= 8, and up to 16 groups
    // of <= 32 features: s = 512), of the sizes it takes (n <= 64, s <= 512; n = 65 and s = 513 go to the
    // other paths), odd d (scalar loads), d = 68 (vector sums, scalar bf16 loads) and lambda = 0. Every
    // case calls it three times on one stream (three masks), so its per-row arrival counters must be
    // back at zero after each call.
    if (sas_cuda_available()) {
        const Variants on{&sas::variants::kSteerOne};
        for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16})
            for (sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_RELU}) {
                test_fused(dt, {1, 2304, 1000, 1, 4.0f, act}, seed++);
                test_fused(dt, {1, 2304, 1000, 8, 4.0f, act}, seed++);
                test_fused(dt, {1, 3584, 1000, 9, -3.0f, act}, seed++);
                test_fused(dt, {8, 2304, 1000, 64, 2.0f, act}, seed++);
                test_fused(dt, {3, 64, 1000, 256, 1.5f, act}, seed++);
                test_fused(dt, {2, 64, 1000, 512, 2.0f, act}, seed++);
                test_fused(dt, {2, 64, 1000, 513, 2.0f, act}, seed++);
                test_fused(dt, {64, 64, 200, 40, 2.0f, act}, seed++);
                test_fused(dt, {65, 64, 200, 40, 2.0f, act}, seed++);
                test_fused(dt, {5, 67, 500, 70, 3.0f, act}, seed++);
                test_fused(dt, {3, 68, 500, 20, 3.0f, act}, seed++);  // d % 4 == 0, d % 8 != 0
                test_fused(dt, {3, 64, 1000, 64, 0.0f, act}, seed++);
                test_fused(dt, {1, 2304, 1000, 8, 4.0f, act, 0}, seed++);  // rows aligned: the vector loads
                test_fused(dt, {8, 2304, 1000, 64, 2.0f, act, 0}, seed++);
                test_fused(dt, {3, 68, 500, 20, 3.0f, act, 0}, seed++);
            }
        // The cluster step (variant SAS_CUDA_STEER_CLUSTER, kernels/cuda/steer_cluster.cuh; sm_90 and newer, the
        // other paths elsewhere): the same checks with it on, at the edges of what it takes: s = 1, 8, 64
        // (f32 at d = 2304 takes s <= 56: s = 64 goes to the other paths, s = 40 not), d = 2304, 3584 and 4608
        // (bf16: 36, 56 and 72 vectors per block), n = 16 (its limit) and 17, d = 64 (one vector per block),
        // d = 72 (blocks with no vector: 9 vectors over 8 blocks), s = 65 and lambda = 0 (x unchanged), all
        // with rows at 16-byte boundaries; odd d and unaligned rows (not taken). Also with
        // SAS_CUDA_STEER_ONE on: the cluster path first.
        const Variants cl{&sas::variants::kSteerCluster};
        // Where the device has clusters (sm_90 and newer), the path must be ready, or every case below would
        // pass on the other paths and say nothing about it.
        for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) {
            int cc = 0;
            const bool ready = sas::internal::steer_cluster_ready(dt, &cc);
            g_ctx = "steer_cluster_ready";
            check(ready == (cc >= 9), "%s: cluster path ready = %d on a device of compute capability %d.x", dn(dt),
                  int(ready), cc);
        }
        for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16})
            for (sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_RELU}) {
                test_fused(dt, {1, 2304, 1000, 1, 4.0f, act, 0}, seed++);
                test_fused(dt, {1, 2304, 1000, 8, 4.0f, act, 0}, seed++);
                test_fused(dt, {1, 2304, 1000, 64, -2.5f, act, 0}, seed++);
                test_fused(dt, {2, 2304, 1000, 40, 2.0f, act, 0}, seed++);
                test_fused(dt, {1, 3584, 1000, 64, 1.5f, act, 0}, seed++);
                test_fused(dt, {16, 64, 1000, 64, 2.0f, act, 0}, seed++);
                test_fused(dt, {17, 64, 1000, 64, 2.0f, act, 0}, seed++);
                test_fused(dt, {3, 72, 500, 20, 3.0f, act, 0}, seed++);
                test_fused(dt, {2, 64, 1000, 65, 2.0f, act, 0}, seed++);
                test_fused(dt, {3, 64, 1000, 64, 0.0f, act, 0}, seed++);
                test_fused(dt, {4, 67, 500, 13, 3.0f, act}, seed++);   // odd d: not taken
                test_fused(dt, {2, 2304, 1000, 8, 3.0f, act}, seed++); // rows off alignment: not taken
            }
        for (sas_dtype dt : {SAS_BF16, SAS_F16}) test_fused(dt, {2, 4608, 500, 56, 2.0f, SAS_ACT_JUMPRELU, 0}, seed++);
        const Variants both{&sas::variants::kSteerCluster, &sas::variants::kSteerOne};
        test_fused(SAS_BF16, {1, 2304, 1000, 8, 4.0f, SAS_ACT_JUMPRELU, 0}, seed++);
    }
    // Programmatic dependent launch (variant SAS_CUDA_PDL, kernels/cuda/steer.cu; sm_90 and newer): the
    // fused checks with it on, on every path of the step: the cooperative launch (decode sizes, vector
    // and scalar loads), the two launches (a big batch), and with SAS_CUDA_STEER_ONE and
    // SAS_CUDA_STEER_CLUSTER. Each case takes three steps back to back on one stream (three masks, one
    // with no row steered), so on a GPU each step's kernels overlap the previous step's.
    if (sas_cuda_available()) {
        for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) {
            int cc = 0;
            const bool ready = sas::internal::steer_pdl_ready(dt, &cc);
            g_ctx = "steer_pdl_ready";
            check(ready == (cc >= 9), "%s: PDL launches ready = %d on a device of compute capability %d.x", dn(dt),
                  int(ready), cc);
        }
        for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16})
            for (sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_RELU}) {
                {
                    const Variants pdl{&sas::variants::kPdl};
                    test_fused(dt, {1, 2304, 1000, 64, 2.0f, act, 0}, seed++);
                    test_fused(dt, {3, 67, 500, 13, 3.0f, act}, seed++);  // odd d: scalar loads
                    test_fused(dt, {3, 64, 1000, 8, 0.0f, act}, seed++);  // lambda = 0
                }
                {
                    const Variants pdl_one{&sas::variants::kPdl, &sas::variants::kSteerOne};
                    test_fused(dt, {1, 2304, 1000, 8, 4.0f, act, 0}, seed++);
                    test_fused(dt, {8, 2304, 1000, 64, 2.0f, act, 0}, seed++);  // partial sums over 8 groups
                }
                {
                    const Variants pdl_cluster{&sas::variants::kPdl, &sas::variants::kSteerCluster};
                    test_fused(dt, {1, 2304, 1000, 40, 2.0f, act, 0}, seed++);
                    test_fused(dt, {16, 64, 1000, 64, 2.0f, act, 0}, seed++);
                }
            }
        const Variants pdl{&sas::variants::kPdl};
        test_fused(SAS_BF16, {600, 2304, 200, 16, 2.0f, SAS_ACT_JUMPRELU}, seed++);  // the two-launch path
    }
    // Early requests (variant SAS_CUDA_STEER_PREFETCH, kernels/cuda/steer.cu): the fused checks with it on,
    // on the cooperative kernel (decode sizes; vector and scalar loads; more phase-2 items than blocks on
    // a small grid at n = 40), the two launches (early scalars only), with SAS_CUDA_STEER_ONE (one chunk:
    // s = 8; several, whose later W_enc rows it prefetches: s = 256, F = 16; the most: s = 512) and with
    // SAS_CUDA_PDL. Every prefetch must point into the packed operands (the emulation reads each one's
    // byte, under AddressSanitizer in CI), and x must match the dense formula as without it.
    if (sas_cuda_available()) {
        for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16})
            for (sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_RELU}) {
                {
                    const Variants pf{&sas::variants::kSteerPrefetch};
                    test_fused(dt, {1, 2304, 1000, 64, 2.0f, act, 0}, seed++);
                    test_fused(dt, {40, 136, 1000, 24, 2.0f, act, 0}, seed++);
                    test_fused(dt, {3, 67, 500, 13, 3.0f, act}, seed++);  // odd d: scalar loads
                    test_fused(dt, {3, 64, 1000, 8, 0.0f, act}, seed++);  // lambda = 0
                    test_fused(dt, {300, 64, 200, 16, 2.0f, act}, seed++);  // the two-launch path
                }
                {
                    const Variants pf_one{&sas::variants::kSteerPrefetch, &sas::variants::kSteerOne};
                    test_fused(dt, {1, 2304, 1000, 8, 4.0f, act, 0}, seed++);
                    test_fused(dt, {2, 2304, 1000, 256, 2.0f, act, 0}, seed++);
                    test_fused(dt, {2, 64, 1000, 512, 2.0f, act}, seed++);
                    test_fused(dt, {5, 67, 500, 70, 3.0f, act}, seed++);
                }
            }
        const Variants pf_pdl{&sas::variants::kSteerPrefetch, &sas::variants::kPdl};
        test_fused(SAS_BF16, {1, 2304, 1000, 64, 2.0f, SAS_ACT_JUMPRELU, 0}, seed++);
    }
    return summary("test_steer");
}
