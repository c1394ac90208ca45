// The library's host code around its CUDA kernels, read from the emulation's log of runtime calls
// (cuda_emu.h: emu::calls()). What the results cannot show and a GPU run measures only as time:
//  - every launch, memset and pool allocation goes to the caller's stream (the Java binding passes
//    libtorch's current stream; work on another stream would race with the caller's);
//  - no call synchronises the device, the stream or an event, and none copies through the host;
//  - once warm, a call allocates nothing (the session-3 H200 run found each call paying ~45 us for a
//    pool allocation), and decode-sized calls take the number of launches their design says: the fused
//    step one (cooperative, plain with SAS_CUDA_STEER_ONE, a cluster launch with SAS_CUDA_STEER_CLUSTER), the encoder's split-K one or two
//    (SAS_CUDA_SPLITK_ONE), top-k one or two phases;
//  - with SAS_CUDA_PDL every launch of the fused step, on each of its paths, carries programmatic stream
//    serialization, and no other kernel's does; a device that refuses it on a cooperative launch gets
//    the step without it, with the same result.
// Counts of launches are the emulated device's (4 SMs): where a choice depends on the GPU's size, the
// cases are far from the threshold on both the emulation and a 132-SM GPU.
#include <cinttypes>

#include "cuda_emu.h"
#include "test_util.h"

using namespace t;
using emu::Op;

namespace {

struct Log {
    std::vector<emu::Call> calls;
    int count(Op op) const {
        int c = 0;
        for (const emu::Call &x : calls) c += x.op == op;
        return c;
    }
    std::string str() const {
        std::string s;
        for (const emu::Call &x : calls) s += std::string(s.empty() ? "" : ", ") + emu::op_name(x.op);
        return s.empty() ? "no calls" : s;
    }
};

// Calls fn twice on `stream` (the first may create the stream's cached buffers) and checks the second:
// launches as expected (-1: any number >= 1; `cluster`: cluster launches; `pdl`: of all of them, those
// with programmatic stream serialization), all on `stream`, nothing that allocates or waits.
template <class F>
void expect_calls(const char *what, void *stream, int launches, int coop, F &&fn, int cluster = 0, int pdl = 0) {
    g_ctx = what;
    check_ok(fn(), "first call");
    emu::clear_calls();
    check_ok(fn(), "second call");
    const Log log{emu::calls()};
    const int plain = log.count(Op::Launch), co = log.count(Op::CooperativeLaunch);
    if (launches >= 0)
        check(plain == launches, "%d plain launches, want %d (%s)", plain, launches, log.str().c_str());
    else
        check(plain >= 1, "%d plain launches, want >= 1", plain);
    check(co == coop, "%d cooperative launches, want %d (%s)", co, coop, log.str().c_str());
    const int cl = log.count(Op::ClusterLaunch);
    check(cl == cluster, "%d cluster launches, want %d (%s)", cl, cluster, log.str().c_str());
    int serialized = 0;
    for (const emu::Call &c : log.calls) serialized += c.pdl;
    check(serialized == pdl, "%d launches with programmatic stream serialization, want %d (%s)", serialized, pdl,
          log.str().c_str());
    for (Op op : {Op::Malloc, Op::Free, Op::PoolAlloc, Op::PoolFree, Op::Memset, Op::MemsetAsync, Op::Memcpy,
                  Op::DeviceSync, Op::EventSync})
        check(log.count(op) == 0, "once warm, no %s per call (%s)", emu::op_name(op), log.str().c_str());
    int elsewhere = 0;
    for (const emu::Call &c : log.calls) elsewhere += c.stream != stream;
    check(elsewhere == 0, "%d of %zu calls on another stream than the caller's %p", elsewhere, log.calls.size(),
          stream);
}

void run(void *stream, const char *sname) {
    const sas_device C = SAS_DEVICE_CUDA;
    const sas_dtype B = SAS_BF16;
    Rng rng(7);
    const int64_t d = 2304, m = 12000, d_small = 256;  // d_small: the batched cases, to keep the emulation quick
    // Weights in bf16; x rows of d; a support of 64 features.
    const Buf x = upload(C, randn(B, 300 * d, rng)), We = upload(C, randn(B, d * m, rng, 0.02)),
              be = upload(C, randn(B, m, rng, 0.1)), th = upload(C, uniform(B, m, rng, 0.0, 0.2)),
              Wd = upload(C, randn(B, m * d, rng, 0.02));
    const int64_t s = 64;
    std::vector<int64_t> S_host(static_cast<size_t>(s));
    for (int64_t j = 0; j < s; ++j) S_host[size_t(j)] = j * 311 % m;
    const Buf S = upload(C, S_host.data(), S_host.size() * 8);
    std::vector<int64_t> idx8_host;  // inject's [8, s] indices: the support on every row
    for (int r = 0; r < 8; ++r) idx8_host.insert(idx8_host.end(), S_host.begin(), S_host.end());
    const Buf idx8 = upload(C, idx8_host.data(), idx8_host.size() * 8);
    Buf xs(C, size_t(300 * d) * 2), pe(C, size_t(s * d) * 2), pb(C, size_t(s) * 2), pt(C, size_t(s) * 2),
        pd(C, size_t(s * d) * 2), v(C, size_t(s) * 4), out(C, size_t(300) * size_t(m) * 4),
        ov(C, size_t(300) * 1024 * 4), oi(C, size_t(300) * 1024 * 8), oc(C, 300 * 4), co(C, size_t(300 * s) * 4);
    check_ok(sas::internal::to_device(C, xs.p, x.p, size_t(300 * d) * 2), "copy x");
    std::vector<float> v_host(static_cast<size_t>(s), 0.5f), c_host(size_t(300 * s), 0.01f);
    check_ok(sas::internal::to_device(C, v.p, v_host.data(), v_host.size() * 4), "upload v");
    check_ok(sas::internal::to_device(C, co.p, c_host.data(), c_host.size() * 4), "upload coeffs");
    // The fused step on the packed support, for n rows of xs.
    auto fused = [&](int64_t rows) {
        return [&, rows] {
            return sas_steer_fused(C, stream, B, xs.p, d, rows, d, B, pe.p, pb.p, pt.p, pd.p, s, SAS_ACT_JUMPRELU,
                                   v.as<float>(), 4.0f, nullptr);
        };
    };
    std::string tag;
    auto name = [&](const char *what) { return (tag = std::string(what) + " [" + sname + "]").c_str(); };

    {
        const Variants off;
        // n = 1 over 64 columns: one column block, so K is split across blocks (split-K: kernel + reduce).
        expect_calls(name("encode_dense n=1 m=64 (split-K, reduce launch)"), stream, 2, 0, [&] {
            return sas_encode_dense(C, stream, B, x.p, d, 1, d, B, We.p, be.p, th.p, 64, SAS_ACT_JUMPRELU, 0,
                                    out.as<float>(), 64);
        });
        expect_calls(name("encode_dense n=1 m=12000"), stream, -1, 0, [&] {
            return sas_encode_dense(C, stream, B, x.p, d, 1, d, B, We.p, be.p, th.p, m, SAS_ACT_JUMPRELU, 0,
                                    out.as<float>(), m);
        });
        expect_calls(name("encode_dense n=40 TopK"), stream, -1, 0, [&] {
            return sas_encode_dense(C, stream, B, x.p, d, 40, d_small, B, We.p, be.p, nullptr, m, SAS_ACT_TOPK, 32,
                                    out.as<float>(), m);
        });
        expect_calls(name("encode_sparse n=8"), stream, -1, 0, [&] {
            return sas_encode_sparse(C, stream, B, x.p, d, 8, d, B, We.p, be.p, th.p, m, SAS_ACT_JUMPRELU, 0, 256,
                                     oi.as<int64_t>(), ov.as<float>(), oc.as<int32_t>());
        });
        expect_calls(name("encode_subset n=8 s=64"), stream, 1, 0, [&] {
            return sas_encode_subset(C, stream, B, x.p, d, 8, d, B, We.p, be.p, th.p, m, SAS_ACT_JUMPRELU,
                                     S.as<int64_t>(), s, out.as<float>(), s);
        });
        // Rows over 8192 entries take two phases (chunks, then a merge); shorter rows one.
        expect_calls(name("topk_rows n=3 m=12000 k=64"), stream, 2, 0, [&] {
            return sas_topk_rows(C, stream, B, We.p, m, 3, m, 64, ov.as<float>(), oi.as<int64_t>());
        });
        expect_calls(name("topk_rows n=3 m=2304 k=64"), stream, 1, 0, [&] {
            return sas_topk_rows(C, stream, B, x.p, d, 3, d, 64, ov.as<float>(), oi.as<int64_t>());
        });
        expect_calls(name("topk_abs m=12000 k=64"), stream, 2, 0, [&] {
            return sas_topk_abs(C, stream, B, be.p, m, 64, ov.as<float>(), oi.as<int64_t>());
        });
        expect_calls(name("inject n=8 nnz=64"), stream, 1, 0, [&] {
            return sas_inject(C, stream, B, xs.p, d, 8, d, B, Wd.p, m, int32_t(s), idx8.as<int64_t>(), co.as<float>());
        });
        expect_calls(name("pack_support s=64"), stream, 1, 0, [&] {
            return sas_pack_support(C, stream, B, We.p, be.p, th.p, Wd.p, d, m, S.as<int64_t>(), s, pe.p, pb.p, pt.p,
                                    pd.p);
        });
        // The decode step: one cooperative launch (coefficients, grid-wide barrier, update).
        expect_calls(name("steer_fused n=1 s=64"), stream, 0, 1, fused(1));
        // A big batch: two plain launches, no grid-wide barrier.
        expect_calls(name("steer_fused n=300 s=64"), stream, 2, 0, fused(300));
    }
    {
        const Variants on{&sas::variants::kSplitkOne};
        expect_calls(name("encode_dense n=1 m=64, SAS_CUDA_SPLITK_ONE (one launch)"), stream, 1, 0, [&] {
            return sas_encode_dense(C, stream, B, x.p, d, 1, d, B, We.p, be.p, th.p, 64, SAS_ACT_JUMPRELU, 0,
                                    out.as<float>(), 64);
        });
    }
    {
        const Variants on{&sas::variants::kTcGemv, &sas::variants::kSplitkOne};
        expect_calls(name("encode_dense n=8 m=64, SAS_CUDA_TC_GEMV + SPLITK_ONE (one launch)"), stream, 1, 0, [&] {
            return sas_encode_dense(C, stream, B, x.p, d, 8, d, B, We.p, be.p, th.p, 64, SAS_ACT_JUMPRELU, 0,
                                    out.as<float>(), 64);
        });
    }
    {
        const Variants on{&sas::variants::kTcGemm};
        expect_calls(name("encode_dense n=64, SAS_CUDA_TC_GEMM"), stream, -1, 0, [&] {
            return sas_encode_dense(C, stream, B, x.p, d, 64, d_small, B, We.p, be.p, th.p, 2048, SAS_ACT_JUMPRELU, 0,
                                    out.as<float>(), 2048);
        });
    }
    {
        const Variants on{&sas::variants::kTopkStage};
        expect_calls(name("topk_rows n=3 m=12000 k=64, SAS_CUDA_TOPK_STAGE"), stream, 2, 0, [&] {
            return sas_topk_rows(C, stream, B, We.p, m, 3, m, 64, ov.as<float>(), oi.as<int64_t>());
        });
    }
    {
        // Histogram, threshold, filter, select, then the default's two kernels for the rows left to them.
        const Variants on{&sas::variants::kTopkHist};
        expect_calls(name("topk_rows n=3 m=12000 k=64, SAS_CUDA_TOPK_HIST"), stream, 6, 0, [&] {
            return sas_topk_rows(C, stream, B, We.p, m, 3, m, 64, ov.as<float>(), oi.as<int64_t>());
        });
        expect_calls(name("topk_rows n=3 m=2304 k=64, SAS_CUDA_TOPK_HIST (one chunk: the default)"), stream, 1, 0, [&] {
            return sas_topk_rows(C, stream, B, x.p, d, 3, d, 64, ov.as<float>(), oi.as<int64_t>());
        });
    }
    {
        const Variants on{&sas::variants::kSparseSplit};
        expect_calls(name("encode_sparse n=8, SAS_CUDA_SPARSE_SPLIT"), stream, -1, 0, [&] {
            return sas_encode_sparse(C, stream, B, x.p, d, 8, d, B, We.p, be.p, th.p, m, SAS_ACT_JUMPRELU, 0, 256,
                                     oi.as<int64_t>(), ov.as<float>(), oc.as<int32_t>());
        });
    }
    {
        const Variants on{&sas::variants::kTopkAct};
        expect_calls(name("encode_dense TopK n=8 k=64, SAS_CUDA_TOPK_ACT"), stream, -1, 0, [&] {
            return sas_encode_dense(C, stream, B, x.p, d, 8, d, B, We.p, be.p, th.p, m, SAS_ACT_TOPK, 64,
                                    out.as<float>(), m);
        });
        expect_calls(name("encode_sparse TopK n=8 k=64, SAS_CUDA_TOPK_ACT"), stream, -1, 0, [&] {
            return sas_encode_sparse(C, stream, B, x.p, d, 8, d, B, We.p, be.p, th.p, m, SAS_ACT_TOPK, 64, 256,
                                     oi.as<int64_t>(), ov.as<float>(), oc.as<int32_t>());
        });
    }
    {
        const Variants on{&sas::variants::kTopkReg};
        expect_calls(name("topk_rows n=3 m=12000 k=64, SAS_CUDA_TOPK_REG"), stream, 2, 0, [&] {
            return sas_topk_rows(C, stream, B, We.p, m, 3, m, 64, ov.as<float>(), oi.as<int64_t>());
        });
        expect_calls(name("topk_rows n=3 m=4000 k=64, SAS_CUDA_TOPK_REG (one phase)"), stream, 1, 0, [&] {
            return sas_topk_rows(C, stream, B, We.p, 4000, 3, 4000, 64, ov.as<float>(), oi.as<int64_t>());
        });
    }
    {
        const Variants on{&sas::variants::kSteerOne};
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_STEER_ONE (one plain launch)"), stream, 1, 0, fused(1));
        expect_calls(name("steer_fused n=8 s=64, SAS_CUDA_STEER_ONE"), stream, 1, 0, fused(8));
    }
    {
        // One cluster launch per step, no workspace; beyond its 16 rows, the other paths.
        const Variants on{&sas::variants::kSteerCluster};
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_STEER_CLUSTER (one cluster launch)"), stream, 0, 0, fused(1), 1);
        expect_calls(name("steer_fused n=16 s=64, SAS_CUDA_STEER_CLUSTER"), stream, 0, 0, fused(16), 1);
        expect_calls(name("steer_fused n=17 s=64, SAS_CUDA_STEER_CLUSTER (two plain launches)"), stream, 2, 0, fused(17));
    }
    {
        const Variants on{&sas::variants::kSteerCluster, &sas::variants::kSteerOne};  // the cluster path first
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_STEER_CLUSTER and SAS_CUDA_STEER_ONE"), stream, 0, 0, fused(1), 1);
    }
    {
        // Programmatic dependent launch: every launch of the step on every path, and nothing else.
        const Variants on{&sas::variants::kPdl};
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_PDL (cooperative)"), stream, 0, 1, fused(1), 0, 1);
        expect_calls(name("steer_fused n=300 s=64, SAS_CUDA_PDL (two launches)"), stream, 2, 0, fused(300), 0, 2);
        expect_calls(name("pack_support s=64, SAS_CUDA_PDL (not the step's)"), stream, 1, 0, [&] {
            return sas_pack_support(C, stream, B, We.p, be.p, th.p, Wd.p, d, m, S.as<int64_t>(), s, pe.p, pb.p, pt.p,
                                    pd.p);
        });
    }
    {
        const Variants on{&sas::variants::kPdl, &sas::variants::kSteerOne};
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_PDL and SAS_CUDA_STEER_ONE"), stream, 1, 0, fused(1), 0, 1);
    }
    {
        const Variants on{&sas::variants::kPdl, &sas::variants::kSteerCluster};
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_PDL and SAS_CUDA_STEER_CLUSTER"), stream, 0, 0, fused(1), 1, 1);
    }
    {
        // Prefetching changes no launch: the step stays one cooperative (or plain) launch.
        const Variants on{&sas::variants::kSteerPrefetch};
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_STEER_PREFETCH"), stream, 0, 1, fused(1));
        const Variants one{&sas::variants::kSteerPrefetch, &sas::variants::kSteerOne};
        expect_calls(name("steer_fused n=1 s=64, SAS_CUDA_STEER_PREFETCH and SAS_CUDA_STEER_ONE"), stream, 1, 0, fused(1));
    }
    {
        // ... but asks L2 for W_dec lines, and only with the variant on: the cooperative kernel at least one
        // column block's (one line per support row), the one-launch kernel every line of W_dec_S (8 groups
        // of 8 rows of 4608 bytes: 8 x 288 lines).
        g_ctx = name("steer_fused n=1 s=64: prefetches");
        auto issued = [&](std::initializer_list<const sas::variants::Variant *> on) {
            const Variants set{on};
            const uint64_t before = emu::prefetches();
            check_ok(fused(1)(), "sas_steer_fused");
            return emu::prefetches() - before;
        };
        const uint64_t off = issued({}), coop = issued({&sas::variants::kSteerPrefetch}),
                       one_off = issued({&sas::variants::kSteerOne}),
                       one = issued({&sas::variants::kSteerPrefetch, &sas::variants::kSteerOne});
        check(off == 0 && one_off == 0, "%" PRIu64 " and %" PRIu64 " prefetches with the variant off, want 0", off, one_off);
        check(coop >= uint64_t(s), "cooperative kernel: %" PRIu64 " prefetches, want >= %" PRId64, coop, s);
        check(one == 8 * 288, "one-launch kernel: %" PRIu64 " prefetches, want %d", one, 8 * 288);
    }
}

// A device that refuses a cooperative launch with programmatic stream serialization (the CUDA
// documentation does not say whether the two combine; CUDA_EMU_REFUSE_COOP_PDL makes the emulation refuse
// it): the step launches its cooperative kernel without the attribute from then on, and gets the same x.
// Last in the process: the library remembers the refusal.
void coop_pdl_refused(void *stream) {
    const sas_device C = SAS_DEVICE_CUDA;
    const sas_dtype B = SAS_BF16;
    Rng rng(11);
    const int64_t d = 256, s = 16;
    const Buf x = upload(C, randn(B, d, rng)), pe = upload(C, randn(B, s * d, rng, 0.05)),
              pb = upload(C, randn(B, s, rng, 0.1)), pt = upload(C, uniform(B, s, rng, 0.0, 0.2)),
              pd = upload(C, randn(B, s * d, rng, 0.05));
    std::vector<float> v_host(static_cast<size_t>(s), 2.0f);
    Buf v(C, size_t(s) * 4), x1(C, size_t(d) * 2), x2(C, size_t(d) * 2);
    check_ok(sas::internal::to_device(C, v.p, v_host.data(), v_host.size() * 4), "upload v");
    auto step = [&](Buf &xs) {
        return [&] {
            return sas_steer_fused(C, stream, B, xs.p, d, 1, d, B, pe.p, pb.p, pt.p, pd.p, s, SAS_ACT_JUMPRELU,
                                   v.as<float>(), 4.0f, nullptr);
        };
    };
    check_ok(sas::internal::to_device(C, x1.p, x.p, size_t(d) * 2), "copy x");
    check_ok(sas::internal::to_device(C, x2.p, x.p, size_t(d) * 2), "copy x");
    {
        const Variants off;
        g_ctx = "coop + PDL refused: reference step";
        check_ok(step(x1)(), "step without PDL");
    }
    sas_test::ScopedEnv refuse;
    refuse.set("CUDA_EMU_REFUSE_COOP_PDL", "1");
    const Variants on{&sas::variants::kPdl};
    g_ctx = "coop + PDL refused";
    check_ok(step(x2)(), "first step (refused, then without the attribute)");
    expect_calls("steer_fused n=1 s=16, SAS_CUDA_PDL, cooperative + PDL refused", stream, 0, 1, step(x2), 0, 0);
    // One step from x again, to compare with the reference's one step.
    check_ok(sas::internal::to_device(C, x2.p, x.p, size_t(d) * 2), "copy x");
    check_ok(step(x2)(), "step after the refusal");
    const Arr a = download_arr(x1, B, d), b = download_arr(x2, B, d);
    int differ = 0;
    for (int64_t k = 0; k < d; ++k) differ += a.at(k) != b.at(k);
    g_ctx = "coop + PDL refused";
    check(differ == 0, "the step without the attribute after the refusal differs from the reference in %d of %d values",
          differ, int(d));
}

}  // namespace

int main() {
    if (!sas_cuda_available()) {
        std::printf("test_calls: needs the CUDA emulation (or a GPU)\n");
        return 1;
    }
    // A caller's stream (the emulation runs everything in order, so any handle names one), and the
    // legacy default stream.
    run(reinterpret_cast<void *>(uintptr_t(0x5a5a00)), "caller's stream");
    run(nullptr, "default stream");
    coop_pdl_refused(reinterpret_cast<void *>(uintptr_t(0x5a5a00)));
    return summary("test_calls");
}
