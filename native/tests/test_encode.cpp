// sas_encode_dense / sas_encode_sparse / sas_encode_subset against a double-precision reference, on
// every dtype, activation and odd sizes; sparse vs dense; truncation; CUDA vs the CPU twin.
#include <cstdlib>

#include "../cpu/cpu_kernels.h"
#include "test_util.h"

using namespace t;

namespace {

struct Sae {
    sas_dtype dt;
    int64_t d, m;
    Arr W, b, thr;
};

Sae make_sae(sas_dtype dt, int64_t d, int64_t m, Rng &r) {
    Sae s{dt, d, m, randn(dt, d * m, r, 1.0 / std::sqrt(double(d))), randn(dt, m, r, 0.1),
          uniform(dt, m, r, 0.05, 0.6)};
    return s;
}

struct Ref {
    std::vector<double> pre, scale;  // [n, m]
};

Ref reference(const Arr &x, int64_t ldx, int64_t n, const Sae &s) {
    Ref ref{std::vector<double>(size_t(n * s.m)), std::vector<double>(size_t(n * s.m))};
    std::vector<double> w(size_t(s.d * s.m));
    for (int64_t i = 0; i < s.d * s.m; ++i) w[size_t(i)] = s.W.at(i);
    for (int64_t r = 0; r < n; ++r) {
        double *p = &ref.pre[size_t(r * s.m)], *sc = &ref.scale[size_t(r * s.m)];
        for (int64_t j = 0; j < s.m; ++j) {
            p[j] = s.b.at(j);
            sc[j] = std::fabs(p[j]);
        }
        for (int64_t k = 0; k < s.d; ++k) {
            const double xv = x.at(r * ldx + k);
            const double *wr = &w[size_t(k * s.m)];
            for (int64_t j = 0; j < s.m; ++j) {
                p[j] += xv * wr[j];
                sc[j] += std::fabs(xv * wr[j]);
            }
        }
    }
    return ref;
}

// Checks one dense output row against the reference; returns the number of mismatches.
int check_row(const float *got, const double *pre, const double *scale, const Sae &s, sas_activation act, int32_t k) {
    const int64_t m = s.m;
    double band = 0;
    for (int64_t j = 0; j < m; ++j) band = std::max(band, 2 * kTolF32 * scale[j]);
    double vk = 0, vk1 = -INFINITY;
    if (act == SAS_ACT_TOPK) {
        std::vector<double> sorted(pre, pre + m);
        std::sort(sorted.begin(), sorted.end(), std::greater<double>());
        vk = sorted[size_t(k - 1)];
        if (k < m) vk1 = sorted[size_t(k)];
    }
    int bad = 0, nonzero = 0;
    for (int64_t j = 0; j < m; ++j) {
        const double tol = kTolF32 * scale[j] + 1e-30;
        const double g = got[j];
        nonzero += g != 0.0;
        double expect;
        bool ambiguous = false;
        if (act == SAS_ACT_JUMPRELU) {
            const double th = s.thr.at(j);
            ambiguous = std::fabs(pre[j] - th) <= tol;
            expect = pre[j] > th ? pre[j] : 0.0;
        } else if (act == SAS_ACT_RELU) {
            expect = std::max(pre[j], 0.0);
        } else {
            ambiguous = vk - vk1 <= band && (std::fabs(pre[j] - vk) <= band || std::fabs(pre[j] - vk1) <= band);
            expect = pre[j] >= vk ? std::max(pre[j], 0.0) : 0.0;
        }
        const double relu_pre = act == SAS_ACT_JUMPRELU ? pre[j] : std::max(pre[j], 0.0);
        const bool ok = std::fabs(g - expect) <= tol || (ambiguous && (g == 0.0 || std::fabs(g - relu_pre) <= tol));
        if (!ok && bad++ < 3)
            std::printf("   j=%lld got %.9g expected %.9g (pre %.9g, tol %.3g)\n", (long long)j, g, expect, pre[j], tol);
    }
    if (act == SAS_ACT_TOPK && nonzero > k) {
        std::printf("   %d non-zeros > k = %d\n", nonzero, k);
        ++bad;
    }
    return bad;
}

// sas_encode_subset on s random features of the SAE (any order, one repeat), JumpReLU and ReLU, against
// the reference, into rows of stride s + 2 whose last two columns must stay untouched.
void check_subset(const Sae &sae, const Arr &x, int64_t ldx, int64_t n, const Ref &ref, Rng &rng, int64_t s) {
    const sas_dtype dt = sae.dt;
    const int64_t d = sae.d, m = sae.m;
    const float sentinel = -12345.0f;
    std::vector<int64_t> S(static_cast<size_t>(s));
    for (auto &v : S) v = rng.below(m);
    if (s > 1) S[1] = S[0];
    for (sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_RELU}) {
        for (sas_device dev : devices()) {
            char ctx[256];
            std::snprintf(ctx, sizeof ctx, "encode_subset %s n=%lld d=%lld m=%lld %s %s", devn(dev), (long long)n,
                          (long long)d, (long long)m, dn(dt), sas::act_name(act));
            g_ctx = ctx;
            const int64_t lds = s + 2;
            Buf bx = upload(dev, x), bW = upload(dev, sae.W), bb = upload(dev, sae.b), bt = upload(dev, sae.thr);
            Buf bS = upload(dev, S);
            std::vector<float> init(size_t(n * lds), sentinel);
            Buf bo = upload(dev, init);
            if (!check_ok(sas_encode_subset(dev, nullptr, dt, bx.p, ldx, n, d, dt, bW.p, bb.p, bt.p, m, act,
                                            bS.as<int64_t>(), s, bo.as<float>(), lds),
                          "sas_encode_subset"))
                continue;
            std::vector<float> out = download<float>(bo, size_t(n * lds));
            int bad = 0;
            for (int64_t r = 0; r < n; ++r)
                for (int64_t i = 0; i < lds; ++i) {
                    const float g = out[size_t(r * lds + i)];
                    if (i >= s) {
                        bad += g != sentinel;
                        continue;
                    }
                    const int64_t j = S[size_t(i)];
                    const double pre = ref.pre[size_t(r * m + j)], tol = kTolF32 * ref.scale[size_t(r * m + j)];
                    double expect;
                    bool amb = false;
                    if (act == SAS_ACT_JUMPRELU) {
                        amb = std::fabs(pre - sae.thr.at(j)) <= tol;
                        expect = pre > sae.thr.at(j) ? pre : 0;
                    } else {
                        expect = std::max(pre, 0.0);
                    }
                    if (!(std::fabs(g - expect) <= tol || (amb && (g == 0 || std::fabs(g - pre) <= tol))) && bad++ < 3)
                        std::printf("   r=%lld i=%lld j=%lld got %.9g expected %.9g\n", (long long)r, (long long)i,
                                    (long long)j, g, expect);
                }
            check(bad == 0, "encode_subset: %d mismatches vs the double reference", bad);
        }
    }
}

// `--part i/k`: only every k-th case from the i-th (1-based), each with the seed it has in a whole run, so
// k processes side by side run exactly the whole test (the emulated one takes some 9 minutes sanitized).
int g_part = 0, g_parts = 1, g_case = 0;

// What a case runs after the encoder's GEMM. kEveryStage: every activation (JumpReLU, ReLU, TopK with k = 1,
// 50 and min(m, 1024)), the dense output and three sparse ones (max_nnz = m, 5, m / 4 + 1). kGemmOnly, for
// the GEMM kernel variants: the GEMM's three epilogues (JumpReLU, ReLU, TopK's pre-activations at one k),
// dense and one sparse output (max_nnz = m). The top-k and compaction kernels after the GEMM are the same
// whichever GEMM ran, and the cases without variants run them at every k and max_nnz; repeated after each
// GEMM variant they took two thirds of the emulated test under the sanitizers (CI), for nothing new.
enum Stages { kEveryStage, kGemmOnly };

// pad: x's row stride is d + pad (-1: d + 3 for several rows, an odd stride).
void test_case(Sizes sz, sas_dtype dt, uint64_t seed, int64_t pad = -1, Stages stages = kEveryStage) {
    if (g_case++ % g_parts != g_part) return;
    // Under ThreadSanitizer: not {64, 2304, 1000} through gemm_tc (its paths: {33, 3584, 136}, {100, 256,
    // 2000}) nor {9, 2304, 16411} with SAS_CUDA_SPARSE_SPLIT (its three chunks: {3, 64, 16411}).
    if (skip_under_tsan(double(sz.n) * double(sz.d) * double(sz.m))) return;
    CaseClock clock(label("encode n=%lld d=%lld m=%lld %s", (long long)sz.n, (long long)sz.d, (long long)sz.m, dn(dt)));
    Rng rng(seed);
    const int64_t n = sz.n, d = sz.d, m = sz.m, ldx = d + (pad >= 0 ? pad : n > 1 ? 3 : 0), ldo = m + 5;
    Sae sae = make_sae(dt, d, m, rng);
    Arr x = randn(dt, std::max<int64_t>(n * ldx, 1), rng);
    Ref ref = reference(x, ldx, n, sae);
    const int32_t kmax = int32_t(std::min<int64_t>(m, 1024));
    struct ActK {
        sas_activation act;
        int32_t k;
    };
    std::vector<ActK> acts{{SAS_ACT_JUMPRELU, 0}, {SAS_ACT_RELU, 0}};
    if (stages == kEveryStage) {
        acts.push_back({SAS_ACT_TOPK, 1});
        acts.push_back({SAS_ACT_TOPK, kmax});
    }
    if (m > 50 || stages == kGemmOnly) acts.push_back({SAS_ACT_TOPK, std::min<int32_t>(kmax, 50)});  // (k <= m)
    std::vector<int32_t> sparse_nnz{int32_t(m)};
    if (stages == kEveryStage) sparse_nnz.insert(sparse_nnz.end(), {int32_t(5), int32_t(m / 4 + 1)});
    const float sentinel = -12345.0f;
    for (const ActK &ak : acts) {
        std::vector<float> dense_cpu;
        for (sas_device dev : devices()) {
            char ctx[256];
            std::snprintf(ctx, sizeof ctx, "encode %s n=%lld d=%lld m=%lld %s %s k=%d", devn(dev), (long long)n,
                          (long long)d, (long long)m, dn(dt), sas::act_name(ak.act), ak.k);
            g_ctx = ctx;
            Buf bx = upload(dev, x), bW = upload(dev, sae.W), bb = upload(dev, sae.b), bt = upload(dev, sae.thr);
            std::vector<float> init(size_t(n * ldo), sentinel);
            Buf bo = upload(dev, init);
            if (!check_ok(sas_encode_dense(dev, nullptr, dt, bx.p, ldx, n, d, dt, bW.p, bb.p, bt.p, m, ak.act, ak.k,
                                           bo.as<float>(), ldo),
                          "sas_encode_dense"))
                continue;
            std::vector<float> out = download<float>(bo, size_t(n * ldo));
            int bad = 0, pad_bad = 0;
            for (int64_t r = 0; r < n; ++r) {
                bad += check_row(&out[size_t(r * ldo)], &ref.pre[size_t(r * m)], &ref.scale[size_t(r * m)], sae,
                                 ak.act, ak.k);
                for (int64_t j = m; j < ldo; ++j) pad_bad += out[size_t(r * ldo + j)] != sentinel;
            }
            check(bad == 0, "dense output: %d mismatches vs the double reference", bad);
            check(pad_bad == 0, "dense output wrote %d padding entries beyond m (ld_out)", pad_bad);
            if (dev == SAS_DEVICE_CPU) {
                dense_cpu = out;
                // f16: simd.h's two paths (F16C, integer widening) give the same bits.
                if (dt == SAS_F16 && ak.act == SAS_ACT_JUMPRELU) {
                    Buf bo2 = upload(dev, init);
                    sas::cpu::set_f16c(false);
                    check_ok(sas_encode_dense(dev, nullptr, dt, bx.p, ldx, n, d, dt, bW.p, bb.p, bt.p, m, ak.act, ak.k,
                                              bo2.as<float>(), ldo),
                             "sas_encode_dense (f16 without F16C)");
                    sas::cpu::set_f16c(true);
                    check(download<float>(bo2, size_t(n * ldo)) == out || !sas::cpu::has_f16c(),
                          "f16 without F16C: other bits than with it");
                }
            } else {  // CUDA vs the CPU twin: the same selection up to ambiguous near-ties, values to f32 rounding
                int diff = 0;
                for (int64_t r = 0; r < n; ++r)
                    for (int64_t j = 0; j < m; ++j) {
                        const double a = out[size_t(r * ldo + j)], c = dense_cpu[size_t(r * ldo + j)];
                        const double tol = 2 * kTolF32 * ref.scale[size_t(r * m + j)] + 1e-30;
                        if (std::fabs(a - c) > tol && a != 0 && c != 0) ++diff;
                    }
                check(diff == 0, "CUDA vs CPU twin: %d values differ beyond f32 rounding", diff);
            }

            // Sparse: the dense non-zeros, ascending, bit-for-bit; then (kEveryStage) truncated to max_nnz = 5
            // and to a quarter of m (beyond the first 8192 features, SAS_CUDA_SPARSE_SPLIT's first chunk, at
            // m = 16411).
            for (int32_t max_nnz : sparse_nnz) {
                std::vector<int64_t> ii(size_t(n * max_nnz), 777);
                std::vector<float> vv(size_t(n * max_nnz), 777.0f);
                std::vector<int32_t> cc(size_t(n), -7);
                Buf bi = upload(dev, ii), bv = upload(dev, vv), bc = upload(dev, cc);
                if (!check_ok(sas_encode_sparse(dev, nullptr, dt, bx.p, ldx, n, d, dt, bW.p, bb.p, bt.p, m, ak.act,
                                                ak.k, max_nnz, bi.as<int64_t>(), bv.as<float>(), bc.as<int32_t>()),
                              "sas_encode_sparse"))
                    continue;
                ii = download<int64_t>(bi, ii.size());
                vv = download<float>(bv, vv.size());
                cc = download<int32_t>(bc, cc.size());
                int sbad = 0;
                for (int64_t r = 0; r < n; ++r) {
                    std::vector<std::pair<int64_t, float>> nz;
                    for (int64_t j = 0; j < m; ++j)
                        if (out[size_t(r * ldo + j)] != 0.0f) nz.push_back({j, out[size_t(r * ldo + j)]});
                    if (cc[size_t(r)] != int32_t(nz.size())) {
                        if (sbad++ < 3)
                            std::printf("   row %lld: count %d, dense has %zu non-zeros\n", (long long)r, cc[size_t(r)],
                                        nz.size());
                        continue;
                    }
                    for (int64_t i = 0; i < max_nnz; ++i) {
                        const int64_t gi = ii[size_t(r * max_nnz + i)];
                        const float gv = vv[size_t(r * max_nnz + i)];
                        const bool ok = size_t(i) < nz.size()
                                            ? (gi == nz[size_t(i)].first && std::memcmp(&gv, &nz[size_t(i)].second, 4) == 0)
                                            : (gi == -1 && gv == 0.0f);
                        if (!ok && sbad++ < 3)
                            std::printf("   row %lld slot %lld: got (%lld, %g)\n", (long long)r, (long long)i,
                                        (long long)gi, gv);
                    }
                }
                check(sbad == 0, "encode_sparse (max_nnz=%d) differs from encode_dense: %d problems", max_nnz, sbad);
            }
        }
    }

    check_subset(sae, x, ldx, n, ref, rng, 37);
}

}  // namespace

// sas_bench's read probe (the floor the encoder is timed against) must read every byte it is given:
// its sink is the XOR of the bytes' little-endian 32-bit words, on each device, whatever the length
// (16-byte loads, then a tail) and the alignment.
static void test_read_probe() {
    g_ctx = "read probe";
    Rng r(77);
    std::vector<unsigned char> host((size_t(3) << 20) + 64);
    for (auto &b : host) b = (unsigned char)(r.next());
    for (sas_device dev : devices()) {
        Buf src = upload(dev, host.data(), host.size());
        for (size_t off : {size_t(0), size_t(1), size_t(4), size_t(16)})
            for (size_t len : {size_t(0), size_t(1), size_t(15), size_t(16), size_t(33), size_t(4096 + 7),
                               (size_t(1) << 20) + 13, (size_t(3) << 20) + 5}) {
                uint32_t want = 0;
                for (size_t i = 0; i < len; ++i) want ^= uint32_t(host[off + i]) << (8 * (i % 4));
                Buf sink(dev, 4);
                const uint32_t zero = 0;
                sas::internal::to_device(dev, sink.p, &zero, 4);
                if (!check_ok(sas::internal::read_probe(dev, src.as<unsigned char>() + off, len, sink.as<uint32_t>()),
                              "read_probe"))
                    continue;
                const uint32_t got = download<uint32_t>(sink, 1)[0];
                check(got == want, "%s offset %zu length %zu: sink %08x, want %08x", devn(dev), off, len, got, want);
            }
        check_ok(sas::internal::launch_probe(dev), "launch_probe");
    }
}

// The CPU twin's rows do not depend on the batch they come in: one row, and up to 8 rows where W_enc is
// wide enough for tiles of >= 1024 columns, stream W_enc in place; more rows go through packed blocks of
// it (kernels/cpu/encode.cpp, gemm_bias_act), both adding a column's products one k at a time in k order
// with the same expression, tails included. So each row of a batch of 13 (packed), of its first 8 and
// first 3 (streamed, 8 and 3 rows per pass, at this m) and alone (streamed) comes out with the same bits,
// at d = 67 (the streamed path's last k not in a group of 8), m = 8192 x workers + 3 (tiles not in whole
// 8-column vectors) and m = 2003 (tiles of 256: packed from 2 rows on).
static void test_cpu_batch_invariance() {
    Rng rng(91);
    const int64_t n = 13, d = 67;
    for (const int64_t m : {int64_t(8192) * sas::internal::cpu_threads() + 3, int64_t(2003)}) {
        for (sas_dtype dt : {SAS_F32, SAS_BF16})
            for (sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_RELU}) {
                char ctx[128];
                std::snprintf(ctx, sizeof ctx, "cpu batch invariance m=%lld %s %s", (long long)m, dn(dt), sas::act_name(act));
                g_ctx = ctx;
                const sas_device C = SAS_DEVICE_CPU;
                Sae sae = make_sae(dt, d, m, rng);
                Arr x = randn(dt, n * d, rng);
                Buf bx = upload(C, x), bW = upload(C, sae.W), bb = upload(C, sae.b), bt = upload(C, sae.thr);
                auto encode = [&](int64_t r0, int64_t rows) {
                    Buf bo(C, size_t(rows * m) * 4);
                    const size_t es = sas::dtype_size(dt);
                    check_ok(sas_encode_dense(C, nullptr, dt, static_cast<char *>(bx.p) + size_t(r0 * d) * es, d, rows, d,
                                              dt, bW.p, bb.p, bt.p, m, act, 0, bo.as<float>(), m),
                             "sas_encode_dense");
                    return download<float>(bo, size_t(rows * m));
                };
                const std::vector<float> all = encode(0, n), eight = encode(0, 8), three = encode(0, 3);
                int differ = 0;
                for (int64_t r = 0; r < n; ++r) {
                    const std::vector<float> alone = encode(r, 1);
                    const float *row = &all[size_t(r * m)];
                    differ += std::memcmp(row, alone.data(), size_t(m) * 4) != 0;
                    if (r < 8) differ += std::memcmp(&eight[size_t(r * m)], alone.data(), size_t(m) * 4) != 0;
                    if (r < 3) differ += std::memcmp(&three[size_t(r * m)], alone.data(), size_t(m) * 4) != 0;
                }
                check(differ == 0, "%d rows differ from the same row encoded alone", differ);
            }
    }
}

// Only the subset encoder, at s features (for its variant: the GEMM path's row and column shapes).
void test_subset_case(Sizes sz, sas_dtype dt, uint64_t seed, int64_t s) {
    if (g_case++ % g_parts != g_part) return;
    if (skip_under_tsan(double(sz.n) * double(sz.d) * double(sz.m))) return;
    CaseClock clock(label("subset n=%lld d=%lld m=%lld s=%lld %s", (long long)sz.n, (long long)sz.d, (long long)sz.m, (long long)s, dn(dt)));
    Rng rng(seed);
    const int64_t ldx = sz.d + (sz.n > 1 ? 3 : 0);
    Sae sae = make_sae(dt, sz.d, sz.m, rng);
    Arr x = randn(dt, std::max<int64_t>(sz.n * ldx, 1), rng);
    check_subset(sae, x, ldx, sz.n, reference(x, ldx, sz.n, sae), rng, s);
}

int main(int argc, char **argv) {
    if (argc == 3 && std::strcmp(argv[1], "--part") == 0 && std::sscanf(argv[2], "%d/%d", &g_part, &g_parts) == 2 &&
        g_parts >= 1 && g_part >= 1 && g_part <= g_parts) {
        --g_part;
    } else if (argc != 1) {
        std::printf("usage: %s [--part i/k]\n", argv[0]);
        return 2;
    }
    if (g_part == 0) {
        test_read_probe();
        test_cpu_batch_invariance();
    }
    const Variants base;  // every CUDA kernel variant off: the kernels they would replace (below: each on)
    const Sizes cases[] = {{1, 64, 1000}, {3, 64, 16411}, {17, 64, 1000}, {1, 2304, 1000}, {3, 3584, 1000},
                           {17, 2304, 333}, {9, 64, 16411}, {5, 256, 2000}, {0, 64, 1000},
                           {3, 67, 1000}, {8, 67, 2000}, {6, 131, 16411}};
    uint64_t seed = 1;
    for (const Sizes &c : cases)
        for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) test_case(c, dt, seed++);
    for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) test_case({20, 2304, 333}, dt, seed++, 8);  // stride d + 8
    // The subset encoder's CPU twin gathers W_enc's columns in blocks of at most 4 MiB and computes tasks of 24
    // rows: at d = 16384, 130 features are 3 blocks in f32 and 2 in bf16 / f16, and 26 rows are 2 row blocks
    // (too many multiply-adds for ThreadSanitizer, which runs the same threads on smaller cases).
    for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) test_subset_case({26, 16384, 170}, dt, 9000 + dt, 130);
    // The tensor-core variants (kernels/cuda/gemv_tc.cuh for 2..16 rows, gemm_tc.cuh for more) and the
    // one-launch split-K reduction (splitk.cuh), on a GPU (or the CPU emulation of native/emu) only: the
    // same checks (CPU twin and reference) with them switched on. gemv_tc (needs x rows in whole, aligned
    // 16-byte vectors, hence pad 8): n = 2, 8, 9, 16, m not a multiple of its 64-column blocks, d = 200
    // and 328 (a last round of 128 k only partly filled), d = 2304 with split K, and an odd stride it must
    // decline for the FMA kernel. gemm_tc (needs row strides and sizes in
    // whole 16-byte chunks, hence pad 8): n = 17, 64, 100 (row tiles of 64, partly filled), m not a
    // multiple of its 128-column tiles, d = 2304 and 200 (K not a multiple of its 32-k steps), and shapes
    // it must decline (odd stride, m % 8 != 0) for the FMA kernels. The GEMM variants' cases run the GEMM's
    // stages only (kGemmOnly); the top-k and sparse-compaction variants' cases run every stage.
    if (sas_cuda_available()) {
        using namespace sas::variants;
        const Sizes tc_cases[] = {{2, 64, 1000}, {3, 3584, 1000}, {8, 2304, 2000}, {9, 64, 16411},
                                  {16, 256, 2000}, {5, 200, 1000}, {16, 328, 1000}, {7, 2304, 8}};
        const Sizes tcg_cases[] = {{17, 64, 1000}, {64, 2304, 1000}, {100, 256, 2000}, {40, 200, 1000}, {33, 3584, 136}};
        // Twice: with the split-K reduction as its own launch, and in one launch (SAS_CUDA_SPLITK_ONE,
        // for the n <= 16 kernels).
        for (bool splitk_one : {false, true}) {
            const Variants on = splitk_one ? Variants{&kTcGemv, &kTcGemm, &kSplitkOne} : Variants{&kTcGemv, &kTcGemm};
            for (const Sizes &c : tc_cases)
                for (sas_dtype dt : {SAS_BF16, SAS_F16}) test_case(c, dt, seed++, 8, kGemmOnly);
            for (sas_dtype dt : {SAS_BF16, SAS_F16}) test_case({8, 64, 1000}, dt, seed++, 3, kGemmOnly);  // odd stride: FMA kernel
        }
        {
            // The wide layout (SAS_CUDA_TC_WIDE: 4 column tiles per warp, rounds of 64 k): the same cases;
            // m = 8, 1000 and 2000 leave its 256-column blocks partly filled (m = 8: lanes past the end).
            const Variants on{&kTcWide};
            for (const Sizes &c : tc_cases)
                for (sas_dtype dt : {SAS_BF16, SAS_F16}) test_case(c, dt, seed++, 8, kGemmOnly);
        }
        {
            const Variants on{&kTcGemv, &kTcGemm};
            for (const Sizes &c : tcg_cases)
                for (sas_dtype dt : {SAS_BF16, SAS_F16}) test_case(c, dt, seed++, 8, kGemmOnly);
            for (sas_dtype dt : {SAS_BF16, SAS_F16}) {
                test_case({20, 64, 1000}, dt, seed++, -1, kGemmOnly);  // odd stride: the tiled FMA kernel
                test_case({20, 64, 1001}, dt, seed++, 8, kGemmOnly);  // m % 8 != 0: the tiled FMA kernel
            }
        }
        {
            // Sparse compaction split over blocks of 8192 features (SAS_CUDA_SPARSE_SPLIT): one partial
            // chunk, three chunks (the last of 27 features), 9 rows; dense output and the CPU twin as above.
            const Variants on{&kSparseSplit};
            const Sizes split_cases[] = {{1, 64, 1000}, {3, 64, 16411}, {9, 2304, 16411}, {0, 64, 1000}};
            for (const Sizes &c : split_cases)
                for (sas_dtype dt : {SAS_F32, SAS_BF16}) test_case(c, dt, seed++);
        }
        // The TopK activation through the chunked top-k (SAS_CUDA_TOPK_ACT), alone and with its keys in
        // registers (SAS_CUDA_TOPK_REG): rows of one chunk and of several (m = 16411), k = 1, 50, 1024.
        for (bool reg : {false, true}) {
            const Variants on = reg ? Variants{&kTopkAct, &kTopkReg} : Variants{&kTopkAct};
            for (const Sizes &c : {Sizes{1, 64, 1000}, Sizes{3, 64, 16411}, Sizes{17, 64, 1000}, Sizes{0, 64, 1000}})
                for (sas_dtype dt : {SAS_F32, SAS_BF16}) test_case(c, dt, seed++);
        }
        {
            // The FMA encoder with x staged as [k][row] (SAS_CUDA_GEMV_XT): every row bucket it takes (2, 4,
            // 8, 16: n = 2, 3, 4, 5, 8, 9, 16), split K (d = 2304, 3584), m not a multiple of its column
            // blocks, rows off 16-byte alignment, and with the one-launch split-K reduction.
            const Variants on{&kGemvXt};
            const Sizes xt_cases[] = {{2, 64, 1000}, {3, 3584, 1000}, {4, 2304, 333}, {5, 256, 2000},
                                      {8, 2304, 2000}, {9, 64, 16411}, {16, 328, 1000}};
            for (const Sizes &c : xt_cases)
                for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) test_case(c, dt, seed++, -1, kGemmOnly);
            const Variants with_splitk_one{&kGemvXt, &kSplitkOne};
            for (sas_dtype dt : {SAS_F32, SAS_BF16}) test_case({8, 2304, 1000}, dt, seed++, -1, kGemmOnly);
        }
        {
            // The subset encoder as a gather and the dense encoders' GEMM (SAS_CUDA_SUBSET_GEMM): one row
            // (FMA GEMV), 9 and 16 rows (tensor-core GEMV where s is a multiple of 8), 17 and 100 rows
            // (tensor-core GEMM: row tiles partly filled; s = 37 and 5: the FMA GEMM), split K at d = 2304,
            // s = 1; with SAS_CUDA_TC_GEMM off too (the tiled FMA GEMM for many rows).
            const Variants on{&kSubsetGemm, &kTcGemv, &kTcGemm};
            const struct {
                Sizes sz;
                int64_t s;
            } subset_cases[] = {{{1, 2304, 1000}, 64}, {{9, 64, 1000}, 8},   {{16, 328, 2000}, 64},
                                {{17, 64, 1000}, 37},  {{100, 256, 333}, 64}, {{64, 2304, 300}, 5},
                                {{3, 67, 1000}, 1}};
            for (const auto &c : subset_cases)
                for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) test_subset_case(c.sz, dt, seed++, c.s);
            const Variants fma{&kSubsetGemm};
            for (sas_dtype dt : {SAS_BF16, SAS_F16}) test_subset_case({40, 200, 1000}, dt, seed++, 64);
        }
        // The split-K reduction in one launch with the f32 FMA kernels: every row count up to 16,
        // m from 8 (one column block) to 16411, one and several calls per stream (the counters reset).
        const Variants on{&kSplitkOne};
        const Sizes sk_cases[] = {{1, 2304, 1000}, {3, 3584, 1000}, {16, 64, 16411}, {1, 64, 8}, {9, 2304, 333}};
        for (const Sizes &c : sk_cases)
            for (sas_dtype dt : {SAS_F32, SAS_BF16, SAS_F16}) test_case(c, dt, seed++, -1, kGemmOnly);
    }
    return summary("test_encode");
}
