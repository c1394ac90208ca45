// Offsets past 2^32 elements. Gemma 2 27B (d = 4608) with a 1M-wide SAE has W_enc and W_dec of 4.8e9
// entries each, and a caller's tensor may be a view with as large a leading dimension: every index
// product in the kernels must be 64-bit, and an index that wraps at 2^31 or 2^32 reads the wrong entry
// (or outside the buffer) without any other test noticing, since they all run small shapes.
//
// The big buffers are zeros but for the entries a case writes: on the CPU, and on the emulation (whose
// device memory is host memory), anonymous mappings that take physical memory only where written (a
// mapping refused, say under `ulimit -v`, fails the case); on a GPU, real allocations, zeroed (up to 17 GB
// each; a case whose allocation fails is reported as not run, not counted). Two parts:
//  A. the SAE itself that large (d = 4608, m = 2^20, bf16): sas_pack_support, sas_encode_subset and
//     sas_inject at features 0, 3, m/2 + 1, m - 2 and m - 1 against double-precision references, and the
//     dense encoder over all m (CPU and GPU; on the emulation 4.8e9 multiply-adds would take hours);
//  B. leading dimensions of 2^32 + 64 elements: every kernel that takes one, on two rows (the second
//     starts past 2^32), must give exactly what it gives on the same rows packed (ld = the row length),
//     on CUDA with every kernel variant off and with each one on.
#include <sys/mman.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <functional>

#include "test_util.h"

using namespace t;

namespace {

bool emulated() { return std::strstr(sas_build_info(), "emulation") != nullptr; }

int g_not_run = 0;

// A mostly-zero buffer of `bytes` on dev (see the header).
struct Big {
    sas_device dev;
    void *p = nullptr;
    size_t bytes;
    bool mapped = false;
    Big(sas_device d, size_t n) : dev(d), bytes(n) {
        const bool map = d == SAS_DEVICE_CPU || emulated();
        if (map) {
            void *q = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (q != MAP_FAILED) p = q, mapped = true;
        } else if (sas::internal::dev_alloc(d, &p, n) == SAS_OK) {
            if (sas::internal::fill_random(d, SAS_F32, p, int64_t(n / 4), 0, 0.0f, 0.0f) != SAS_OK ||
                sas::internal::dev_sync(d) != SAS_OK) {
                sas::internal::dev_free(d, p);
                p = nullptr;
            }
        } else {
            p = nullptr;
        }
        if (!p && map) {  // address space only: a 64-bit process has it unless limited (ulimit -v)
            check(false, "no %.1f GB anonymous mapping (%s)", double(n) / 1e9, std::strerror(errno));
        } else if (!p) {  // a GPU with less memory
            std::printf("not run: %s on %s: no %.1f GB buffer (%s)\n", g_ctx.c_str(), devn(d), double(n) / 1e9,
                        sas_last_error());
            ++g_not_run;
        }
    }
    Big(const Big &) = delete;
    Big &operator=(const Big &) = delete;
    ~Big() {
        if (p && mapped) munmap(p, bytes);
        if (p && !mapped) sas::internal::dev_free(dev, p);
    }
    explicit operator bool() const { return p != nullptr; }
    char *at(size_t off) const { return static_cast<char *>(p) + off; }
    void put(size_t off, const void *src, size_t n) { sas::internal::to_device(dev, at(off), src, n); }
    void get(size_t off, void *dst, size_t n) const {
        sas::internal::dev_sync(dev);
        sas::internal::to_host(dev, dst, at(off), n);
    }
};

// ---- A. a 4608 x 2^20 SAE --------------------------------------------------------------------------
void big_sae(sas_device dev) {
    const sas_dtype dt = SAS_BF16;
    const int64_t d = 4608, m = int64_t(1) << 20, n = 3;
    const std::vector<int64_t> S{0, 3, m / 2 + 1, m - 2, m - 1};
    const int64_t s = int64_t(S.size());
    g_ctx = std::string("big SAE d=4608 m=2^20 bf16 ") + devn(dev);
    Rng rng(4608);
    Big We(dev, size_t(d * m) * 2), Wd(dev, size_t(m * d) * 2);
    if (!We || !Wd) return;
    // W_enc's columns S and W_dec's rows S, written one entry (column) or one row at a time.
    Arr wenc = randn(dt, s * d, rng, 0.05), wdec = randn(dt, s * d, rng, 0.2);  // [i, k] for feature S[i]
    for (int64_t i = 0; i < s; ++i) {
        for (int64_t k = 0; k < d; ++k) We.put(size_t(k * m + S[size_t(i)]) * 2, wenc.raw.data() + (i * d + k) * 2, 2);
        Wd.put(size_t(S[size_t(i)] * d) * 2, wdec.raw.data() + i * d * 2, size_t(d) * 2);
    }
    Arr b = randn(dt, m, rng, 0.1), thr = uniform(dt, m, rng, 0.0, 0.05), x = randn(dt, n * d, rng);
    Buf bb = upload(dev, b), tb = upload(dev, thr), xb = upload(dev, x), Sb = upload(dev, S);

    // pack_support: copies, so bit for bit.
    Buf WeS(dev, size_t(s * d) * 2), WdS(dev, size_t(s * d) * 2), beS(dev, size_t(s) * 2), thS(dev, size_t(s) * 2);
    if (check_ok(sas_pack_support(dev, nullptr, dt, We.p, bb.p, tb.p, Wd.p, d, m, Sb.as<int64_t>(), s, WeS.p, beS.p,
                                  thS.p, WdS.p),
                 "sas_pack_support")) {
        const Arr ge = download_arr(WeS, dt, s * d), gd = download_arr(WdS, dt, s * d);
        const Arr gb = download_arr(beS, dt, s), gt = download_arr(thS, dt, s);
        check(ge.raw == wenc.raw, "pack_support: Wenc_S differs from W_enc's columns S");
        check(gd.raw == wdec.raw, "pack_support: Wdec_S differs from W_dec's rows S");
        bool bias_ok = true;
        for (int64_t i = 0; i < s; ++i)
            bias_ok &= gb.at(i) == b.at(S[size_t(i)]) && gt.at(i) == thr.at(S[size_t(i)]);
        check(bias_ok, "pack_support: b_enc / threshold at S");
    }

    // The references: pre[r, i] = x[r] . W_enc[:, S[i]] + b[S[i]] in double, and the scale of its terms.
    std::vector<double> pre(size_t(n * s)), scale(size_t(n * s));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < s; ++i) {
            double acc = b.at(S[size_t(i)]), sc = std::fabs(acc);
            for (int64_t k = 0; k < d; ++k) {
                const double term = x.at(r * d + k) * wenc.at(i * d + k);
                acc += term;
                sc += std::fabs(term);
            }
            pre[size_t(r * s + i)] = acc;
            scale[size_t(r * s + i)] = sc;
        }

    // encode_subset (ReLU: continuous, so f32 rounding cannot flip an output).
    Buf out(dev, size_t(n * s) * 4);
    if (check_ok(sas_encode_subset(dev, nullptr, dt, xb.p, d, n, d, dt, We.p, bb.p, nullptr, m, SAS_ACT_RELU,
                                   Sb.as<int64_t>(), s, out.as<float>(), s),
                 "sas_encode_subset")) {
        const std::vector<float> got = download<float>(out, size_t(n * s));
        int bad = 0;
        for (size_t e = 0; e < got.size(); ++e)
            bad += std::fabs(got[e] - std::max(0.0, pre[e])) > kTolF32 * scale[e] + 1e-30;
        check(bad == 0, "encode_subset: %d of %zu outputs off the reference", bad, got.size());
    }

    // inject: each row adds c . W_dec[S] (and skips a padding index).
    const int32_t nnz = int32_t(s + 1);
    std::vector<int64_t> idx;
    std::vector<float> co;
    for (int64_t r = 0; r < n; ++r) {
        for (int64_t i = 0; i < s; ++i) idx.push_back(S[size_t((i + r) % s)]), co.push_back(float(rng.normal()));
        idx.push_back(-1), co.push_back(1.0f);
    }
    Buf xi = upload(dev, x), ib = upload(dev, idx), cb = upload(dev, co);
    if (check_ok(sas_inject(dev, nullptr, dt, xi.p, d, n, d, dt, Wd.p, m, nnz, ib.as<int64_t>(), cb.as<float>()),
                 "sas_inject")) {
        const Arr got = download_arr(xi, dt, n * d);
        int bad = 0;
        for (int64_t r = 0; r < n; ++r)
            for (int64_t k = 0; k < d; ++k) {
                double want = x.at(r * d + k), sc = std::fabs(want);
                for (int64_t i = 0; i < s; ++i) {
                    const int64_t row = std::find(S.begin(), S.end(), idx[size_t(r * nnz + i)]) - S.begin();
                    want += co[size_t(r * nnz + i)] * wdec.at(row * d + k);
                    sc += std::fabs(co[size_t(r * nnz + i)] * wdec.at(row * d + k));
                }
                bad += std::fabs(got.at(r * d + k) - want) > kTolF32 * sc + round_tol(dt) * std::fabs(want);
            }
        check(bad == 0, "inject: %d of %" PRId64 " entries off the reference", bad, n * d);
    }

    // The dense encoder over all m: W_enc's other columns are zero, so out[j] = relu(b[j]) exactly there.
    if (dev == SAS_DEVICE_CUDA && emulated()) {
        std::printf("not run: %s: the dense encode (4.8e9 multiply-adds) on the emulation\n", g_ctx.c_str());
        ++g_not_run;
        return;
    }
    Buf dense(dev, size_t(m) * 4);
    if (check_ok(sas_encode_dense(dev, nullptr, dt, xb.p, d, 1, d, dt, We.p, bb.p, nullptr, m, SAS_ACT_RELU, 0,
                                  dense.as<float>(), m),
                 "sas_encode_dense")) {
        const std::vector<float> got = download<float>(dense, size_t(m));
        int bad_s = 0;
        int64_t bad_rest = 0;
        for (int64_t j = 0, i = 0; j < m; ++j) {
            if (i < s && j == S[size_t(i)]) {
                bad_s += std::fabs(got[size_t(j)] - std::max(0.0, pre[size_t(i)])) > kTolF32 * scale[size_t(i)] + 1e-30;
                ++i;
            } else {
                bad_rest += got[size_t(j)] != float(std::max(0.0, b.at(j)));
            }
        }
        check(bad_s == 0, "encode_dense: %d of the %" PRId64 " features S off the reference", bad_s, s);
        check(bad_rest == 0, "encode_dense: %" PRId64 " of the other features differ from relu(b_enc)", bad_rest);
    }
}

// ---- B. leading dimensions past 2^32 -------------------------------------------------------------------
constexpr int64_t kBigLd = (int64_t(1) << 32) + 64;

// rows x cols entries of es bytes, as a big-ld buffer (row r at r * kBigLd) and as a packed one.
struct Rows {
    int64_t rows, cols, es;
    std::vector<unsigned char> host;  // packed
    Rows(int64_t r, int64_t c, int64_t e) : rows(r), cols(c), es(e), host(size_t(r * c * e)) {}
    size_t row_bytes() const { return size_t(cols * es); }
    // Uploads: into big (row r at r * kBigLd) and into a packed buffer.
    Buf fill(Big &big, sas_device dev) const {
        for (int64_t r = 0; r < rows; ++r) big.put(size_t(r * kBigLd * es), host.data() + r * row_bytes(), row_bytes());
        return upload(dev, host.data(), host.size());
    }
    // True when big's rows equal the packed buffer's, byte for byte.
    bool same(const Big &big, const Buf &packed) const {
        std::vector<unsigned char> a(host.size()), b2(host.size());
        for (int64_t r = 0; r < rows; ++r) big.get(size_t(r * kBigLd * es), a.data() + r * row_bytes(), row_bytes());
        sas::internal::dev_sync(packed.dev);
        sas::internal::to_host(packed.dev, b2.data(), packed.p, b2.size());
        return a == b2;
    }
};

Rows random_rows(int64_t rows, int64_t cols, sas_dtype dt, Rng &rng, double scale = 1.0) {
    Rows r(rows, cols, int64_t(sas::dtype_size(dt)));
    const Arr a = randn(dt, rows * cols, rng, scale);
    r.host = a.raw;
    return r;
}

void big_ld(sas_device dev, const char *variant) {
    const sas_dtype dt = SAS_BF16;
    const int64_t n = 2;
    Rng rng(42);
    auto ctx = [&](const char *what) { g_ctx = std::string(what) + " ld=2^32+64 " + devn(dev) + " " + variant; };

    {  // top-k over rows of 20000 f32 (several chunks on CUDA)
        ctx("topk_rows");
        const int64_t m = 20000;
        const int32_t k = 64;
        const Rows x = random_rows(n, m, SAS_F32, rng);
        Big xb(dev, size_t((kBigLd + m) * 4));
        if (xb) {
            const Buf xp = x.fill(xb, dev);
            Buf v1(dev, size_t(n * k) * 4), i1(dev, size_t(n * k) * 8), v2(dev, size_t(n * k) * 4), i2(dev, size_t(n * k) * 8);
            if (check_ok(sas_topk_rows(dev, nullptr, SAS_F32, xb.p, kBigLd, n, m, k, v1.as<float>(), i1.as<int64_t>()),
                         "sas_topk_rows (ld 2^32+64)") &&
                check_ok(sas_topk_rows(dev, nullptr, SAS_F32, xp.p, m, n, m, k, v2.as<float>(), i2.as<int64_t>()),
                         "sas_topk_rows (packed)"))
                check(download<float>(v1, size_t(n * k)) == download<float>(v2, size_t(n * k)) &&
                          download<int64_t>(i1, size_t(n * k)) == download<int64_t>(i2, size_t(n * k)),
                      "top-k of the rows at ld 2^32+64 differs from the packed rows'");
        }
    }
    const int64_t d = 256, m = 4096;
    const Arr W = randn(dt, d * m, rng, 0.1), b = randn(dt, m, rng, 0.1), thr = uniform(dt, m, rng, 0.0, 0.3);
    const Buf Wb = upload(dev, W), bb = upload(dev, b), tb = upload(dev, thr);
    for (const sas_activation act : {SAS_ACT_JUMPRELU, SAS_ACT_TOPK}) {  // dense encode: x and out at ld 2^32+64
        ctx(act == SAS_ACT_TOPK ? "encode_dense TopK" : "encode_dense JumpReLU");
        const Rows x = random_rows(n, d, dt, rng);
        Big xb(dev, size_t((kBigLd + d) * 2));
        Big ob(dev, size_t((kBigLd + m) * 4));
        if (!xb || !ob) continue;
        const Buf xp = x.fill(xb, dev);
        Buf op(dev, size_t(n * m) * 4);
        const Rows o(n, m, 4);
        if (check_ok(sas_encode_dense(dev, nullptr, dt, xb.p, kBigLd, n, d, dt, Wb.p, bb.p, tb.p, m, act, 32,
                                      reinterpret_cast<float *>(ob.p), kBigLd),
                     "sas_encode_dense (ld 2^32+64)") &&
            check_ok(sas_encode_dense(dev, nullptr, dt, xp.p, d, n, d, dt, Wb.p, bb.p, tb.p, m, act, 32, op.as<float>(), m),
                     "sas_encode_dense (packed)"))
            check(o.same(ob, op), "codes of the rows at ld 2^32+64 differ from the packed rows'");
    }
    {  // sparse encode: x at ld 2^32+64
        ctx("encode_sparse");
        const Rows x = random_rows(n, d, dt, rng);
        Big xb(dev, size_t((kBigLd + d) * 2));
        if (xb) {
            const Buf xp = x.fill(xb, dev);
            const int32_t nnz = 512;
            Buf i1(dev, size_t(n * nnz) * 8), v1(dev, size_t(n * nnz) * 4), c1(dev, size_t(n) * 4);
            Buf i2(dev, size_t(n * nnz) * 8), v2(dev, size_t(n * nnz) * 4), c2(dev, size_t(n) * 4);
            if (check_ok(sas_encode_sparse(dev, nullptr, dt, xb.p, kBigLd, n, d, dt, Wb.p, bb.p, tb.p, m, SAS_ACT_JUMPRELU,
                                           0, nnz, i1.as<int64_t>(), v1.as<float>(), c1.as<int32_t>()),
                         "sas_encode_sparse (ld 2^32+64)") &&
                check_ok(sas_encode_sparse(dev, nullptr, dt, xp.p, d, n, d, dt, Wb.p, bb.p, tb.p, m, SAS_ACT_JUMPRELU, 0,
                                           nnz, i2.as<int64_t>(), v2.as<float>(), c2.as<int32_t>()),
                         "sas_encode_sparse (packed)"))
                check(download<int64_t>(i1, size_t(n * nnz)) == download<int64_t>(i2, size_t(n * nnz)) &&
                          download<float>(v1, size_t(n * nnz)) == download<float>(v2, size_t(n * nnz)) &&
                          download<int32_t>(c1, size_t(n)) == download<int32_t>(c2, size_t(n)),
                      "sparse codes of the rows at ld 2^32+64 differ from the packed rows'");
        }
    }
    {  // subset encode: x and out at ld 2^32+64
        ctx("encode_subset");
        const int64_t s = 64;
        std::vector<int64_t> S;
        for (int64_t i = 0; i < s; ++i) S.push_back(rng.below(m));
        const Buf Sb = upload(dev, S);
        const Rows x = random_rows(n, d, dt, rng);
        Big xb(dev, size_t((kBigLd + d) * 2)), ob(dev, size_t((kBigLd + s) * 4));
        if (xb && ob) {
            const Buf xp = x.fill(xb, dev);
            Buf op(dev, size_t(n * s) * 4);
            if (check_ok(sas_encode_subset(dev, nullptr, dt, xb.p, kBigLd, n, d, dt, Wb.p, bb.p, tb.p, m, SAS_ACT_JUMPRELU,
                                           Sb.as<int64_t>(), s, reinterpret_cast<float *>(ob.p), kBigLd),
                         "sas_encode_subset (ld 2^32+64)") &&
                check_ok(sas_encode_subset(dev, nullptr, dt, xp.p, d, n, d, dt, Wb.p, bb.p, tb.p, m, SAS_ACT_JUMPRELU,
                                           Sb.as<int64_t>(), s, op.as<float>(), s),
                         "sas_encode_subset (packed)"))
                check(Rows(n, s, 4).same(ob, op), "subset codes of the rows at ld 2^32+64 differ from the packed rows'");
        }
    }
    {  // inject: x at ld 2^32+64
        ctx("inject");
        const int32_t nnz = 16;
        std::vector<int64_t> idx;
        std::vector<float> co;
        for (int64_t i = 0; i < n * nnz; ++i) idx.push_back(rng.below(m)), co.push_back(float(rng.normal()));
        const Buf ib = upload(dev, idx), cb = upload(dev, co);
        const Arr Wd = randn(dt, m * d, rng, 0.1);
        const Buf Wdb = upload(dev, Wd);
        const Rows x = random_rows(n, d, dt, rng);
        Big xb(dev, size_t((kBigLd + d) * 2));
        if (xb) {
            const Buf xp = x.fill(xb, dev);
            if (check_ok(sas_inject(dev, nullptr, dt, xb.p, kBigLd, n, d, dt, Wdb.p, m, nnz, ib.as<int64_t>(), cb.as<float>()),
                         "sas_inject (ld 2^32+64)") &&
                check_ok(sas_inject(dev, nullptr, dt, xp.p, d, n, d, dt, Wdb.p, m, nnz, ib.as<int64_t>(), cb.as<float>()),
                         "sas_inject (packed)"))
                check(x.same(xb, xp), "injected rows at ld 2^32+64 differ from the packed rows'");
        }
    }
    for (const int64_t s : {8, 64}) {  // the fused step: x at ld 2^32+64, every decode path's shape
        ctx(s == 8 ? "steer_fused s=8" : "steer_fused s=64");
        const int64_t dd = 2304;
        const Arr We = randn(dt, s * dd, rng, 0.05), Wd = randn(dt, s * dd, rng, 0.2), be = randn(dt, s, rng, 0.1),
                  th = uniform(dt, s, rng, 0.0, 0.1);
        std::vector<float> v(static_cast<size_t>(s));
        for (float &e : v) e = float(rng.normal());
        const Buf Web = upload(dev, We), Wdb = upload(dev, Wd), beb = upload(dev, be), thb = upload(dev, th), vb = upload(dev, v);
        const Rows x = random_rows(n, dd, dt, rng);
        Big xb(dev, size_t((kBigLd + dd) * 2));
        if (xb) {
            const Buf xp = x.fill(xb, dev);
            if (check_ok(sas_steer_fused(dev, nullptr, dt, xb.p, kBigLd, n, dd, dt, Web.p, beb.p, thb.p, Wdb.p, s,
                                         SAS_ACT_JUMPRELU, vb.as<float>(), 4.0f, nullptr),
                         "sas_steer_fused (ld 2^32+64)") &&
                check_ok(sas_steer_fused(dev, nullptr, dt, xp.p, dd, n, dd, dt, Web.p, beb.p, thb.p, Wdb.p, s,
                                         SAS_ACT_JUMPRELU, vb.as<float>(), 4.0f, nullptr),
                         "sas_steer_fused (packed)"))
                check(x.same(xb, xp), "steered rows at ld 2^32+64 differ from the packed rows'");
        }
    }
}

}  // namespace

int main() {
    if (sizeof(void *) < 8) {
        std::printf("not run: a 32-bit address space\n");
        return 0;
    }
    for (const sas_device dev : devices()) {
        const Variants base;  // every CUDA kernel variant off
        big_sae(dev);
        big_ld(dev, "variants off");
        if (dev != SAS_DEVICE_CUDA) continue;
        for (const sas::variants::Variant *v : sas::variants::kAll) {
            const Variants on{v};
            big_ld(dev, v->env);
        }
    }
    if (g_not_run) std::printf("%d cases not run (not counted)\n", g_not_run);
    return summary("test_large");
}
