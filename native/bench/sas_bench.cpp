// sas_bench: llm.c-style microbenchmark of the SparseSteer kernels. For every kernel and variant:
// warm-up, repeated runs, the median time, effective GB/s (bytes that must move at least once / time)
// and % of the peak bandwidth measured by a plain copy on the same device; the fused steering step
// side by side with the dense baseline (encode all m + dense coefficients + decode all m). Two probe rows
// give the floors in the same process: `read_probe` (W_enc read once, nothing else: the least an encoder
// that must read it can take at that size) and, on CUDA, `launch_probe` (one empty kernel: the least any
// one-launch call takes, single and back to back).
//
//   sas_bench [--device cpu|cuda] [--full] [--dtype f32|bf16|f16] [--d 2304,3584] [--m 16384,65536]
//             [--n 1,8,64] [--s 8,64,256] [--kernels encode,sparse,topk,subset,inject,pack,fused]
//             [--reps N] [--min-ms T] [--csv FILE] [--ab] [--cold-mib N]
//
// The fused step is also timed "cold" (time_cold_ms): behind a copy of --cold-mib MiB (default 128, read
// and written: over twice the L2 of any GPU it targets, eight times this CPU's L3) that evicts its operands
// from the caches, as the model's own layers do between two steps of a decode loop; 0 leaves it out.
//
// --kernels also takes topk_act (not in the default list): the encoder with the TopK activation, k = each
// of --s, dense output (row "encode_topk").
//
// CUDA kernel variants (kernels/src/variants.h: each switched by an environment variable, "1" on, "0"
// off, else its default) show in the variant column when on; --ab times every kernel that has one in the
// same process, on the same data: all its variants off, each one on, all on, so a GPU run decides
// between them side by side; and compares each variant's output with the variants-off output (a sample
// of it: the CSV's compared/differ/flips columns, "DIFFER" lines, exit status 3 when any disagrees).
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "internal.h"
#include "sas_kernels.h"
#include "scoped_env.h"
#include "variants.h"

namespace {

using sas::internal::dev_alloc;

struct Opts {
    sas_device dev = SAS_DEVICE_CPU;
    bool full = false;
    bool dtype_set = false;
    sas_dtype dt = SAS_F32;
    std::vector<int64_t> d, m, n, s;
    std::vector<std::string> kernels{"encode", "sparse", "topk", "subset", "inject", "pack", "fused"};
    int reps = 0;         // 0 = adaptive
    double min_ms = 300;  // adaptive: repeat until this much time (at least 3, at most 50 runs)
    std::string csv;
    bool ab = false;  // --ab: each kernel with a CUDA variant, variants off and on
    int64_t cold_mib = 128;  // the cache-evicting copy before each cold call of the fused step (0: none)
};

// The CUDA kernel variants, the kernel each one changes, the row counts it takes and the largest s or k.
constexpr int64_t kAnyN = INT64_MAX;
struct OptIn {
    const sas::variants::Variant *v;
    const char *kernel;
    int64_t n_min, n_max;
    int64_t sk_max = kAnyN;
    bool pairs = false;  // also timed beside each other variant of the kernel (it changes how they launch)
    const char *env() const { return v->env; }
};
const OptIn kOptIns[] = {{&sas::variants::kTcGemv, "encode", 2, 16},
                         {&sas::variants::kTcWide, "encode", 2, 16},
                         {&sas::variants::kGemvXt, "encode", 2, 16},
                         {&sas::variants::kTcGemm, "encode", 17, kAnyN},
                         {&sas::variants::kSplitkOne, "encode", 1, 16},
                         {&sas::variants::kTopkStage, "topk", 0, kAnyN},
                         {&sas::variants::kTopkReg, "topk", 0, kAnyN},
                         {&sas::variants::kTopkHist, "topk", 0, kAnyN},
                         {&sas::variants::kSparseSplit, "sparse", 0, kAnyN},
                         {&sas::variants::kSubsetGemm, "subset", 0, kAnyN},
                         {&sas::variants::kTopkAct, "topk_act", 0, kAnyN},
                         {&sas::variants::kSteerOne, "fused", 0, kAnyN},
                         {&sas::variants::kSteerCluster, "fused", 0, 16, 64},  // bf16/f16 at these d
                         {&sas::variants::kPdl, "fused", 0, kAnyN, kAnyN, true},
                         {&sas::variants::kSteerPrefetch, "fused", 0, kAnyN, kAnyN, true}};

bool applies(const OptIn &oi, const char *kernel, int64_t n, int64_t s_or_k) {
    return std::strcmp(oi.kernel, kernel) == 0 && n >= oi.n_min && n <= oi.n_max && s_or_k <= oi.sk_max;
}
// " +label" for each variant of `kernel` at n rows that the library takes now (the environment, else its
// default; the variants are CUDA kernels, so never on the CPU).
// A variant with an auto rule (kTcGemv, kSteerOne) counts as taken, when unset, where the rule takes it.
// The cluster step, programmatic dependent launch and the transposed FMA encoder count only where they
// run (device, dtype, shape).
std::string opt_label(sas_device dev, const char *kernel, int64_t n, int64_t s_or_k = 0, int64_t d = 0,
                      sas_dtype dt = SAS_BF16) {
    std::string s;
    if (dev != SAS_DEVICE_CUDA) return s;
    for (const OptIn &oi : kOptIns) {
        if (!applies(oi, kernel, n, s_or_k)) continue;
        if (oi.v == &sas::variants::kSteerCluster && !sas::internal::steer_cluster_takes(dt, n, d, s_or_k)) continue;
        int cc = 0;
        if (oi.v == &sas::variants::kPdl && !sas::internal::steer_pdl_ready(dt, &cc)) continue;
        // The transposed FMA encoder runs only where the FMA kernel does: bf16/f16 rows that no tensor-core
        // encoder takes, f32 always.
        if (oi.v == &sas::variants::kGemvXt && dt != SAS_F32 &&
            (sas::variants::taken(sas::variants::kTcGemv, n >= sas::variants::kTcGemvAutoMinN) ||
             sas::variants::on(sas::variants::kTcWide)))
            continue;
        const bool rule = oi.v == &sas::variants::kSteerOne ? s_or_k <= sas::variants::kSteerOneAutoMaxS
                          : oi.v == &sas::variants::kTcGemv  ? n >= sas::variants::kTcGemvAutoMinN
                                                             : false;
        if (sas::variants::taken(*oi.v, rule)) s += std::string(" +") + oi.v->label;
    }
    return s;
}
// The environments to time `kernel` at n rows under: as given (no change); with --ab on CUDA, every
// variant of the kernel off, then each one that takes n alone, then each pairing variant (OptIn::pairs)
// with each other one, then all of those together (when more than two).
using EnvSet = std::vector<std::pair<const char *, bool>>;
std::vector<EnvSet> settings_for(const struct Opts &o, const char *kernel, int64_t n, int64_t s_or_k = 0) {
    if (!o.ab || o.dev != SAS_DEVICE_CUDA) return {EnvSet{}};
    EnvSet off;
    std::vector<const OptIn *> mine;
    for (const OptIn &oi : kOptIns)
        if (std::strcmp(oi.kernel, kernel) == 0) {
            off.push_back({oi.env(), false});
            if (applies(oi, kernel, n, s_or_k)) mine.push_back(&oi);
        }
    std::vector<EnvSet> sets{off};
    for (const OptIn *oi : mine) {
        EnvSet one = off;
        for (auto &e : one) e.second = e.first == oi->env();
        sets.push_back(one);
    }
    for (const OptIn *p : mine)
        for (const OptIn *q : mine)
            if (p->pairs && q != p && !(q->pairs && q < p)) {
                EnvSet two = off;
                for (auto &e : two) e.second = e.first == p->env() || e.first == q->env();
                sets.push_back(two);
            }
    if (mine.size() > 2 || (mine.size() == 2 && !mine[0]->pairs && !mine[1]->pairs)) {
        EnvSet all = off;
        for (auto &e : all)
            for (const OptIn *oi : mine) e.second |= e.first == oi->env();
        sets.push_back(all);
    }
    return sets;
}
// Applies an EnvSet for a scope and restores the previous values after.
struct EnvSetting {
    sas_test::ScopedEnv env;
    explicit EnvSetting(const EnvSet &set) {
        for (const auto &e : set) env.set(e.first, e.second ? "1" : "0");
    }
};

std::vector<int64_t> parse_list(const char *s) {
    std::vector<int64_t> v;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        int64_t mult = 1;
        if (!tok.empty() && (tok.back() == 'k' || tok.back() == 'K')) mult = 1024, tok.pop_back();
        if (!tok.empty() && (tok.back() == 'M')) mult = 1024 * 1024, tok.pop_back();
        v.push_back(std::strtoll(tok.c_str(), nullptr, 10) * mult);
    }
    return v;
}
std::vector<std::string> parse_words(const char *s) {
    std::vector<std::string> v;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ',')) v.push_back(tok);
    return v;
}

[[noreturn]] void die(const char *what, sas_status st) {
    std::fprintf(stderr, "sas_bench: %s failed: %s: %s\n", what, sas_status_name(st), sas_last_error());
    std::exit(1);
}
void ok(sas_status st, const char *what) {
    if (st != SAS_OK) die(what, st);
}

struct DevMem {
    sas_device dev;
    void *p = nullptr;
    DevMem(sas_device d, size_t bytes) : dev(d) { ok(dev_alloc(d, &p, bytes ? bytes : 1), "allocation"); }
    ~DevMem() { sas::internal::dev_free(dev, p); }
    DevMem(const DevMem &) = delete;
    DevMem &operator=(const DevMem &) = delete;
    template <class T> T *as() const { return static_cast<T *>(p); }
};

// Median time in ms of fn over warm-up + repeated runs.
double time_ms(const Opts &o, const std::function<void()> &fn) {
    fn();  // warm-up (also first-touch of pages / lazy module loading)
    ok(sas::internal::dev_sync(o.dev), "sync");
    std::vector<double> t;
    double total = 0;
    const int max_reps = o.reps > 0 ? o.reps : 50;
    for (int i = 0; i < max_reps; ++i) {
        double ms = 0;
        ok(sas::internal::timer_start(o.dev), "timer");
        fn();
        ok(sas::internal::timer_stop(o.dev, &ms), "timer");
        t.push_back(ms);
        total += ms;
        if (o.reps == 0 && i >= 2 && total >= o.min_ms) break;
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// CUDA only: mean ms per call of R calls issued back to back between two events (R from the median
// time, 3..100), i.e. the cost in a stream where launches overlap the previous call's work, as in a
// decode loop. time_ms above includes one launch latency from an idle stream. Repeating a call on the
// same operands keeps working sets that fit in L2 (packed supports) resident, so it is a best case for
// small working sets; those over the 50-60 MB L2 (every dense W) stream from memory either way.
double time_b2b_ms(const Opts &o, double median_ms, const std::function<void()> &fn) {
    if (o.dev != SAS_DEVICE_CUDA) return 0.0;
    const int reps = int(std::min(100.0, std::max(3.0, o.min_ms / std::max(median_ms, 1e-3))));
    ok(sas::internal::dev_sync(o.dev), "sync");
    double ms = 0;
    ok(sas::internal::timer_start(o.dev), "timer");
    for (int i = 0; i < reps; ++i) fn();
    ok(sas::internal::timer_stop(o.dev, &ms), "timer");
    return ms / reps;
}

// The median per-call cost of fn with its operands evicted from the caches, as in a decode loop: the
// model's layers between two steps stream far more weights than any cache holds (Gemma 2 2B: ~5 GB per
// token), so a steering step finds its packed support in memory. Each rep runs `evict` (a copy larger
// than the last-level cache), then times fn alone. CUDA: evict, the start event, fn and the stop event
// are queued together, so fn's launch is hidden behind the copy and the events time fn on the GPU from
// where the copy ends. CPU: the copy has returned before the timer starts. time_ms and time_b2b_ms, by
// contrast, repeat fn on a small working set that stays in cache.
double time_cold_ms(const Opts &o, const std::function<void()> &evict, const std::function<void()> &fn) {
    fn();
    std::vector<double> t;
    double total = 0;
    const int max_reps = o.reps > 0 ? o.reps : 50;
    for (int i = 0; i < max_reps; ++i) {
        ok(sas::internal::dev_sync(o.dev), "sync");
        evict();
        double ms = 0;
        ok(sas::internal::timer_start(o.dev), "timer");
        fn();
        ok(sas::internal::timer_stop(o.dev, &ms), "timer");
        t.push_back(ms);
        total += ms;
        if (o.reps == 0 && i >= 2 && total >= o.min_ms) break;
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

struct Row {
    std::string kernel, variant;
    int64_t d, m, n, sk;
    double ms, bytes;
    double dense_ms = 0;  // fused rows: the dense baseline
    double b2b_ms = 0, dense_b2b_ms = 0;  // CUDA: back-to-back per-call times (0 elsewhere)
    double cold_ms = 0;  // CUDA, fused rows: time_cold_ms (0 elsewhere)
    // --ab: this setting's output against the variants-off output of the same call on the same data
    // (-1: not compared, as for the variants-off row itself). `differ` counts the elements outside the
    // tolerance (top-k: any difference; encode: f32 summation order, one JumpReLU flip at the threshold
    // is counted apart in `flips`; fused: one rounding of x's dtype).
    int64_t compared = -1, differ = 0, flips = 0;
};

// ---- --ab: does a variant compute what the kernel it replaces computes, at the benchmark's shapes? ----
// The native tests check every variant on small shapes; these shapes (up to 1M features, 512 rows) are
// the ones a GPU run times, so each timed variant is also compared there, on a sample of its output.
constexpr int64_t kSampleMax = int64_t(1) << 22;  // floats downloaded per output (16 MiB)

// The first rows of an [n, m] f32 matrix on the device, up to kSampleMax values, and its last row.
std::vector<float> sample_rows(sas_device dev, const void *p, int64_t n, int64_t m) {
    ok(sas::internal::dev_sync(dev), "sync");
    const int64_t rows = std::max<int64_t>(1, std::min(n, kSampleMax / std::max<int64_t>(m, 1)));
    std::vector<float> v(size_t((rows + (rows < n ? 1 : 0)) * m));
    ok(sas::internal::to_host(dev, v.data(), p, size_t(rows * m) * 4), "download");
    if (rows < n)
        ok(sas::internal::to_host(dev, v.data() + rows * m, static_cast<const float *>(p) + (n - 1) * m, size_t(m) * 4),
           "download");
    return v;
}
std::vector<float> download_as_f32(sas_device dev, sas_dtype dt, const void *p, int64_t count) {
    ok(sas::internal::dev_sync(dev), "sync");
    std::vector<unsigned char> raw(size_t(count) * sas::dtype_size(dt));
    ok(sas::internal::to_host(dev, raw.data(), p, raw.size()), "download");
    std::vector<float> v(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) v[size_t(i)] = sas::load_f32(dt, raw.data(), i);
    return v;
}
// Elements of `got` outside |got - want| <= rel * max(|got|, |want|) + abs; with `jump`, a pair where
// exactly one side is 0 (a JumpReLU output on either side of its threshold) is a flip, not a difference.
void compare(Row &r, const std::vector<float> &want, const std::vector<float> &got, double rel, double abs,
             bool jump) {
    r.compared = int64_t(std::min(want.size(), got.size()));
    r.differ = int64_t(want.size() != got.size());
    for (size_t i = 0; i < size_t(r.compared); ++i) {
        const double a = want[i], b = got[i];
        if (std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b)) + abs) continue;
        if (jump && (a == 0) != (b == 0))
            ++r.flips;
        else
            ++r.differ;
    }
}

std::string fmt_time(double ms) {
    char b[64];
    if (ms < 1)
        std::snprintf(b, sizeof b, "%.1f us", ms * 1e3);
    else if (ms < 1000)
        std::snprintf(b, sizeof b, "%.2f ms", ms);
    else
        std::snprintf(b, sizeof b, "%.2f s", ms / 1e3);
    return b;
}

}  // namespace

int main(int argc, char **argv) {
    Opts o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char * {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "sas_bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--device") {
            std::string v = next();
            o.dev = v == "cuda" ? SAS_DEVICE_CUDA : SAS_DEVICE_CPU;
        } else if (a == "--full") {
            o.full = true;
        } else if (a == "--dtype") {
            std::string v = next();
            o.dtype_set = true;
            o.dt = v == "bf16" ? SAS_BF16 : v == "f16" ? SAS_F16 : SAS_F32;
        } else if (a == "--d") {
            o.d = parse_list(next());
        } else if (a == "--m") {
            o.m = parse_list(next());
        } else if (a == "--n") {
            o.n = parse_list(next());
        } else if (a == "--s") {
            o.s = parse_list(next());
        } else if (a == "--kernels") {
            o.kernels = parse_words(next());
        } else if (a == "--reps") {
            o.reps = std::atoi(next());
        } else if (a == "--min-ms") {
            o.min_ms = std::atof(next());
        } else if (a == "--csv") {
            o.csv = next();
        } else if (a == "--ab") {
            o.ab = true;
        } else if (a == "--cold-mib") {
            o.cold_mib = std::atoll(next());
        } else {
            std::printf("usage: sas_bench [--device cpu|cuda] [--full] [--dtype f32|bf16|f16] [--d LIST] [--m LIST]\n"
                        "                 [--n LIST] [--s LIST] [--kernels encode,sparse,topk,subset,inject,pack,fused]\n"
                        "                 [--reps N] [--min-ms T] [--csv FILE] [--ab] [--cold-mib N]\n"
                        "--ab: time each kernel with CUDA variants (kernels/src/variants.h) with them off, each on, all on\n"
                        "--cold-mib: the fused step also timed behind a cache-evicting copy of N MiB (default 128; 0: not)\n"
                        "defaults (cpu): d=2304 m=16384,65536 n=1,8,64 s=8,64,256 f32\n"
                        "--full (gpu):   d=2304,3584 m=16k,64k,256k,1M n=1,8,64,512 s=8,64,256 (bf16 on cuda)\n");
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    if (o.dev == SAS_DEVICE_CUDA && !sas_cuda_available()) {
        std::fprintf(stderr, "sas_bench: --device cuda but sas_cuda_available() == 0 (built with CUDA: %s)\n",
                     sas::internal::built_with_cuda() ? "yes" : "no");
        return 1;
    }
    if (!o.dtype_set && o.dev == SAS_DEVICE_CUDA) o.dt = SAS_BF16;
    if (o.d.empty()) o.d = o.full ? std::vector<int64_t>{2304, 3584} : std::vector<int64_t>{2304};
    if (o.m.empty())
        o.m = o.full ? std::vector<int64_t>{16384, 65536, 262144, 1048576} : std::vector<int64_t>{16384, 65536};
    if (o.n.empty()) o.n = o.full ? std::vector<int64_t>{1, 8, 64, 512} : std::vector<int64_t>{1, 8, 64};
    if (o.s.empty()) o.s = {8, 64, 256};
    auto want = [&](const char *k) { return std::find(o.kernels.begin(), o.kernels.end(), k) != o.kernels.end(); };

    const sas_device dev = o.dev;
    const sas_dtype dt = o.dt;
    const size_t es = sas::dtype_size(dt);
    const std::string devname = sas::internal::device_name(dev);
    std::printf("# sas_bench on %s, dtype %s\n# %s\n", devname.c_str(), sas::dtype_name(dt), sas_build_info());
    if (dev == SAS_DEVICE_CUDA) {  // a "+cluster" row where the path cannot run would time the other paths
        int cc = 0;
        const bool ready = sas::internal::steer_cluster_ready(dt, &cc);
        std::printf("# SAS_CUDA_STEER_CLUSTER's path: %s (compute capability %d.x)\n", ready ? "ready" : "NOT ready", cc);
        std::printf("# SAS_CUDA_PDL's launches: %s\n", sas::internal::steer_pdl_ready(dt, &cc) ? "ready" : "NOT ready");
    }
    std::printf("\n");

    // Peak: a plain copy (read + write counted) of 256 MiB on the CPU, 1 GiB on a GPU (over 10x the L2,
    // and long enough that the launch is noise: 256 MiB read 13% under PyTorch's copy on an H200).
    double peak_gbs;
    {
        const size_t bytes = size_t(dev == SAS_DEVICE_CUDA ? 1024 : 256) << 20;
        DevMem a(dev, bytes), b(dev, bytes);
        ok(sas::internal::fill_random(dev, SAS_F32, a.p, int64_t(bytes / 4), 1, -1, 1), "fill");
        ok(sas::internal::fill_random(dev, SAS_F32, b.p, int64_t(bytes / 4), 2, -1, 1), "fill");
        double ms = time_ms(o, [&] { ok(sas::internal::copy(dev, b.p, a.p, bytes), "copy"); });
        peak_gbs = 2.0 * double(bytes) / (ms * 1e6);
        std::printf("peak (copy of %zu MiB, read+write): %.1f GB/s in %s\n\n", bytes >> 20, peak_gbs,
                    fmt_time(ms).c_str());
    }

    // The fused step's cold timing (time_cold_ms): a copy of cold_mib MiB, read and written, before each
    // call evicts its operands from L2 (H100: 50 MB, H200: 60 MB) or the CPU's caches (here 32 MiB of L3).
    const size_t cold_bytes = want("fused") ? size_t(std::max<int64_t>(o.cold_mib, 0)) << 20 : 0;
    DevMem cold_src(dev, cold_bytes), cold_dst(dev, cold_bytes);
    auto evict_l2 = [&] { ok(sas::internal::copy(dev, cold_dst.p, cold_src.p, cold_bytes), "copy"); };
    if (cold_bytes) {
        ok(sas::internal::fill_random(dev, SAS_F32, cold_src.p, int64_t(cold_bytes / 4), 3, -1, 1), "fill");
        std::printf("cold calls of the fused step: after a copy of %zu MiB\n\n", cold_bytes >> 20);
    }

    std::vector<Row> rows;
    const float lambda = 4.0f;
    DevMem sink(dev, 4);
    // The floors the targets are judged against, measured in the same process: on CUDA one empty launch
    // (what any one-launch call costs at least, single and back to back), and below, per (d, m), one read
    // of W_enc (what the encoder, which must read W_enc once, costs at least at that size).
    if (dev == SAS_DEVICE_CUDA && (want("encode") || want("fused"))) {
        auto launch = [&] { ok(sas::internal::launch_probe(dev), "launch_probe"); };
        const double ms = time_ms(o, launch);
        rows.push_back({"launch_probe", "empty kernel", 0, 0, 0, 0, ms, 0});
        rows.back().b2b_ms = time_b2b_ms(o, ms, launch);
    }
    for (int64_t d : o.d) {
        for (int64_t m : o.m) {
            // The SAE (Gemma Scope layout) and a steering vector's support.
            DevMem We(dev, size_t(d * m) * es), Wd(dev, size_t(m * d) * es), be(dev, size_t(m) * es),
                th(dev, size_t(m) * es);
            const float a = 1.7320508f / std::sqrt(float(d));
            ok(sas::internal::fill_random(dev, dt, We.p, d * m, 11, -a, a), "fill");
            ok(sas::internal::fill_random(dev, dt, Wd.p, m * d, 12, -0.1f, 0.1f), "fill");
            ok(sas::internal::fill_random(dev, dt, be.p, m, 13, -0.1f, 0.1f), "fill");
            ok(sas::internal::fill_random(dev, dt, th.p, m, 14, 0.2f, 0.6f), "fill");
            const int64_t smax = *std::max_element(o.s.begin(), o.s.end());
            std::vector<int64_t> S_host(size_t(std::min(smax, m)));
            for (size_t i = 0; i < S_host.size(); ++i) S_host[i] = int64_t((i * 2654435761ull) % uint64_t(m));
            std::sort(S_host.begin(), S_host.end());
            S_host.erase(std::unique(S_host.begin(), S_host.end()), S_host.end());
            DevMem S(dev, S_host.size() * 8);
            ok(sas::internal::to_device(dev, S.p, S_host.data(), S_host.size() * 8), "upload");
            std::vector<float> v_host(size_t(m), 0.0f), vS_host(S_host.size());
            for (size_t i = 0; i < S_host.size(); ++i) v_host[size_t(S_host[i])] = vS_host[i] = (i % 2 ? 1.0f : -0.5f);
            DevMem vS(dev, vS_host.size() * 4), vdense(dev, size_t(m) * 4);
            ok(sas::internal::to_device(dev, vS.p, vS_host.data(), vS_host.size() * 4), "upload");
            ok(sas::internal::to_device(dev, vdense.p, v_host.data(), size_t(m) * 4), "upload");

            if (want("encode")) {
                auto read = [&] { ok(sas::internal::read_probe(dev, We.p, size_t(d * m) * es, sink.as<uint32_t>()), "read_probe"); };
                const double ms = time_ms(o, read);
                rows.push_back({"read_probe", "W_enc once", d, m, 0, 0, ms, double(d * m) * double(es)});
                rows.back().b2b_ms = time_b2b_ms(o, ms, read);
            }
            for (int64_t n : o.n) {
                DevMem x(dev, size_t(n * d) * es), x2(dev, size_t(n * d) * es), f(dev, size_t(n * m) * 4),
                    c(dev, size_t(n * m) * 4);
                ok(sas::internal::fill_random(dev, dt, x.p, n * d, 21 + uint64_t(n), -1, 1), "fill");
                ok(sas::internal::fill_random(dev, dt, x2.p, n * d, 31 + uint64_t(n), -1, 1), "fill");
                // x2 as filled: the in-place steps (dense baseline, fused step) start from it each time they are
                // timed, so how often one ran (its adaptive repeat count) does not change the data of the next;
                // --ab: also the start of the agreement checks.
                DevMem x0(dev, size_t(n * d) * es);
                ok(sas::internal::copy(dev, x0.p, x2.p, size_t(n * d) * es), "copy");
                auto reset_x2 = [&] { ok(sas::internal::copy(dev, x2.p, x0.p, size_t(n * d) * es), "copy"); };
                const double wbytes = double(d * m) * double(es);
                const double xbytes = double(n * d) * double(es);
                std::fprintf(stderr, "d=%" PRId64 " m=%" PRId64 " n=%" PRId64 "...\n", d, m, n);

                // f: the JumpReLU codes of x, which the fused rows' dense baseline and the top-k rows use
                // (top-k runs on real codes, mostly exact zeros: alone it would see uninitialised memory).
                if (want("encode") || want("fused") || want("topk")) {
                    auto enc = [&] {
                        ok(sas_encode_dense(dev, nullptr, dt, x.p, d, n, d, dt, We.p, be.p, th.p, m, SAS_ACT_JUMPRELU,
                                            0, f.as<float>(), m),
                           "sas_encode_dense");
                    };
                    if (want("encode")) {
                        std::vector<float> base;  // --ab: the variants-off output
                        for (const auto &set : settings_for(o, "encode", n)) {
                            EnvSetting env(set);
                            double ms = time_ms(o, enc);
                            rows.push_back({"encode_dense", "JumpReLU" + opt_label(dev, "encode", n, 0, d, dt), d, m, n, 0, ms,
                                            wbytes + xbytes + double(n * m) * 4 + 2.0 * double(m) * double(es)});
                            rows.back().b2b_ms = time_b2b_ms(o, ms, enc);
                            if (o.ab && dev == SAS_DEVICE_CUDA) {
                                // f32 sums of d products in another order (tensor cores, split-K): relative 1e-4
                                // of the value plus 1e-5 (the inputs are O(1), the sums O(1)).
                                std::vector<float> got = sample_rows(dev, f.p, n, m);
                                if (base.empty())
                                    base = std::move(got);
                                else
                                    compare(rows.back(), base, got, 1e-4, 1e-5, true);
                            }
                        }
                    } else {
                        enc();  // f for the fused rows' dense baseline and the top-k rows
                    }
                }
                if (want("topk_act")) {  // the TopK activation, dense output
                    DevMem out(dev, size_t(n * m) * 4);
                    for (int64_t k : o.s) {
                        if (k > m || k > 1024) continue;
                        std::vector<float> base;  // --ab: the variants-off output
                        for (const auto &set : settings_for(o, "topk_act", n)) {
                            EnvSetting env(set);
                            auto enc_topk = [&] {
                                ok(sas_encode_dense(dev, nullptr, dt, x.p, d, n, d, dt, We.p, be.p, th.p, m,
                                                    SAS_ACT_TOPK, int32_t(k), out.as<float>(), m),
                                   "sas_encode_dense TopK");
                            };
                            double ms = time_ms(o, enc_topk);
                            rows.push_back({"encode_topk", "TopK" + opt_label(dev, "topk_act", n), d, m, n, k, ms,
                                            wbytes + xbytes + double(n * m) * 4 + double(m) * double(es)});
                            rows.back().b2b_ms = time_b2b_ms(o, ms, enc_topk);
                            if (o.ab && dev == SAS_DEVICE_CUDA) {  // the same selection: equal, bit for bit
                                std::vector<float> got = sample_rows(dev, out.p, n, m);
                                if (base.empty())
                                    base = std::move(got);
                                else
                                    compare(rows.back(), base, got, 0.0, 0.0, false);
                            }
                        }
                    }
                }
                if (want("sparse")) {
                    const int32_t max_nnz = 256;
                    DevMem oi(dev, size_t(n * max_nnz) * 8), ov(dev, size_t(n * max_nnz) * 4), oc(dev, size_t(n) * 4);
                    std::vector<float> base;  // --ab: the variants-off values, indices and counts (as floats)
                    for (const auto &set : settings_for(o, "sparse", n)) {
                        EnvSetting env(set);
                        auto sparse = [&] {
                            ok(sas_encode_sparse(dev, nullptr, dt, x.p, d, n, d, dt, We.p, be.p, th.p, m,
                                                 SAS_ACT_JUMPRELU, 0, max_nnz, oi.as<int64_t>(), ov.as<float>(),
                                                 oc.as<int32_t>()),
                               "sas_encode_sparse");
                        };
                        double ms = time_ms(o, sparse);
                        rows.push_back({"encode_sparse", "JumpReLU max_nnz=256" + opt_label(dev, "sparse", n), d, m, n,
                                        0, ms, wbytes + xbytes + double(n * max_nnz) * 12 + 2.0 * double(m) * double(es)});
                        rows.back().b2b_ms = time_b2b_ms(o, ms, sparse);
                        if (o.ab && dev == SAS_DEVICE_CUDA) {  // the same compaction: equal, bit for bit
                            std::vector<float> got = sample_rows(dev, ov.p, n, max_nnz);
                            std::vector<int64_t> idx(size_t(n * max_nnz));
                            std::vector<int32_t> cnt(static_cast<size_t>(n));
                            ok(sas::internal::to_host(dev, idx.data(), oi.p, idx.size() * 8), "download");
                            ok(sas::internal::to_host(dev, cnt.data(), oc.p, cnt.size() * 4), "download");
                            for (int64_t i : idx) got.push_back(float(i));
                            for (int32_t cv : cnt) got.push_back(float(cv));
                            if (base.empty())
                                base = std::move(got);
                            else
                                compare(rows.back(), base, got, 0.0, 0.0, false);
                        }
                    }
                }
                if (want("topk") && d == o.d.front()) {  // top-k does not depend on d
                    // CPU: each timed call selects from other data, the next of `pool` copies of the codes
                    // (and of v), each row turned by its own offset. Which entries pass the CPU twin's bar is
                    // data, and repeating one row lets the branch predictor learn it: one row of 16k at
                    // k = 256 took 4-6x less time than the same row among 8 others (RESULTS-cpu.md, "Top-k
                    // on data it has not seen"). The copies stay near the cache (8 rows of 16k: 512 KiB).
                    // CUDA: the one copy, as in the GPU runs so far (no branch prediction to train there).
                    const int64_t pool = dev == SAS_DEVICE_CPU ? (8 + n - 1) / n : 1;
                    DevMem fpool(dev, pool > 1 ? size_t(pool * n * m) * 4 : 1), vpool(dev, pool > 1 ? size_t(pool * m) * 4 : 1);
                    if (pool > 1) {
                        std::vector<float> fh(static_cast<size_t>(n * m)), vh(static_cast<size_t>(m)), tmp(static_cast<size_t>(m));
                        ok(sas::internal::to_host(dev, fh.data(), f.p, fh.size() * 4), "download");
                        ok(sas::internal::to_host(dev, vh.data(), vdense.p, vh.size() * 4), "download");
                        for (int64_t p = 0; p < pool; ++p) {
                            const int64_t shift = p * (m / pool + 13) % m;  // copy 0 is the data itself
                            for (int64_t r = 0; r < n; ++r) {
                                std::rotate_copy(fh.begin() + r * m, fh.begin() + r * m + shift, fh.begin() + (r + 1) * m,
                                                 tmp.begin());
                                ok(sas::internal::to_device(dev, fpool.as<char>() + size_t((p * n + r) * m) * 4, tmp.data(),
                                                            size_t(m) * 4),
                                   "upload");
                            }
                            std::rotate_copy(vh.begin(), vh.begin() + shift, vh.end(), tmp.begin());
                            ok(sas::internal::to_device(dev, vpool.as<char>() + size_t(p * m) * 4, tmp.data(), size_t(m) * 4),
                               "upload");
                        }
                    }
                    int64_t next = 0;  // the copy the next call reads
                    auto fnext = [&] { return pool > 1 ? fpool.as<float>() + (next++ % pool) * n * m : f.as<float>(); };
                    auto vnext = [&] { return pool > 1 ? vpool.as<float>() + (next++ % pool) * m : vdense.as<float>(); };
                    for (int64_t k : o.s) {
                        if (k > m || k > 1024) continue;
                        DevMem ov(dev, size_t(n * k) * 4), oi(dev, size_t(n * k) * 8);
                        // --ab: the variants-off values, then indices (as floats: exact below 2^24), per kind;
                        // a variant must select the same, bit for bit.
                        std::vector<float> base, base_abs;
                        auto check_topk = [&](std::vector<float> &expect, int64_t rows_n) {
                            if (!o.ab || dev != SAS_DEVICE_CUDA) return;
                            std::vector<float> got = sample_rows(dev, ov.p, rows_n, k);
                            std::vector<int64_t> idx(size_t(rows_n * k));
                            ok(sas::internal::to_host(dev, idx.data(), oi.p, idx.size() * 8), "download");
                            for (int64_t i : idx) got.push_back(float(i));
                            if (expect.empty())
                                expect = std::move(got);
                            else
                                compare(rows.back(), expect, got, 0, 0, false);
                        };
                        for (const auto &set : settings_for(o, "topk", n)) {
                            EnvSetting env(set);
                            const std::string lab = opt_label(dev, "topk", n);
                            auto topk = [&] {
                                ok(sas_topk_rows(dev, nullptr, SAS_F32, fnext(), m, n, m, int32_t(k), ov.as<float>(),
                                                 oi.as<int64_t>()),
                                   "sas_topk_rows");
                            };
                            double ms = time_ms(o, topk);
                            rows.push_back({"topk_rows", "f32 rows" + lab, 0, m, n, k, ms, double(n * m) * 4 + double(n * k) * 12});
                            rows.back().b2b_ms = time_b2b_ms(o, ms, topk);
                            check_topk(base, n);
                            if (n == o.n.front()) {
                                auto topk_abs = [&] {
                                    ok(sas_topk_abs(dev, nullptr, SAS_F32, vnext(), m, int32_t(k), ov.as<float>(),
                                                    oi.as<int64_t>()),
                                       "sas_topk_abs");
                                };
                                double ms2 = time_ms(o, topk_abs);
                                rows.push_back({"topk_abs", "f32 vector" + lab, 0, m, 1, k, ms2, double(m) * 4 + double(k) * 12});
                                rows.back().b2b_ms = time_b2b_ms(o, ms2, topk_abs);
                                check_topk(base_abs, 1);
                            }
                        }
                    }
                }
                for (int64_t s : o.s) {
                    s = std::min<int64_t>(s, int64_t(S_host.size()));
                    if (want("subset")) {
                        DevMem out(dev, size_t(n * s) * 4);
                        std::vector<float> base;  // --ab: the variants-off output
                        for (const auto &set : settings_for(o, "subset", n)) {
                            EnvSetting env(set);
                            auto subset = [&] {
                                ok(sas_encode_subset(dev, nullptr, dt, x.p, d, n, d, dt, We.p, be.p, th.p, m,
                                                     SAS_ACT_JUMPRELU, S.as<int64_t>(), s, out.as<float>(), s),
                                   "sas_encode_subset");
                            };
                            double ms = time_ms(o, subset);
                            rows.push_back({"encode_subset", "JumpReLU" + opt_label(dev, "subset", n), d, m, n, s, ms,
                                            double(s * d) * double(es) + xbytes + double(n * s) * 4});
                            if (o.ab && dev == SAS_DEVICE_CUDA) {
                                rows.back().b2b_ms = time_b2b_ms(o, ms, subset);
                                // Another summation order (the GEMM's tiles, tensor cores, split K): as the
                                // encoder's A/B above, relative 1e-4 plus 1e-5, threshold flips counted apart.
                                std::vector<float> got = sample_rows(dev, out.p, n, s);
                                if (base.empty())
                                    base = std::move(got);
                                else
                                    compare(rows.back(), base, got, 1e-4, 1e-5, true);
                            }
                        }
                    }
                    if (want("inject")) {
                        std::vector<int64_t> idx(size_t(n * s));
                        std::vector<float> co(size_t(n * s), 0.01f);
                        for (int64_t r = 0; r < n; ++r)
                            for (int64_t j = 0; j < s; ++j) idx[size_t(r * s + j)] = S_host[size_t(j)];
                        DevMem di(dev, idx.size() * 8), dc(dev, co.size() * 4);
                        ok(sas::internal::to_device(dev, di.p, idx.data(), idx.size() * 8), "upload");
                        ok(sas::internal::to_device(dev, dc.p, co.data(), co.size() * 4), "upload");
                        double ms = time_ms(o, [&] {
                            ok(sas_inject(dev, nullptr, dt, x.p, d, n, d, dt, Wd.p, m, int32_t(s), di.as<int64_t>(),
                                          dc.as<float>()),
                               "sas_inject");
                        });
                        rows.push_back({"inject", "nnz=s", d, m, n, s, ms,
                                        double(s * d) * double(es) + 2 * xbytes + double(n * s) * 12});
                    }
                    const bool do_pack = want("pack") && n == o.n.front();
                    if (want("fused") || do_pack) {
                        DevMem pe(dev, size_t(s * d) * es), pb(dev, size_t(s) * es), pt(dev, size_t(s) * es),
                            pd(dev, size_t(s * d) * es);
                        auto pack = [&] {
                            ok(sas_pack_support(dev, nullptr, dt, We.p, be.p, th.p, Wd.p, d, m, S.as<int64_t>(), s,
                                                pe.p, pb.p, pt.p, pd.p),
                               "sas_pack_support");
                        };
                        if (do_pack) {
                            double ms = time_ms(o, pack);
                            rows.push_back({"pack_support", "gather", d, m, 0, s, ms, 4.0 * double(s * d) * double(es)});
                        } else {
                            pack();
                        }
                        if (want("fused")) {
                            auto fused_step = [&] {
                                ok(sas_steer_fused(dev, nullptr, dt, x2.p, d, n, d, dt, pe.p, pb.p, pt.p, pd.p, s,
                                                   SAS_ACT_JUMPRELU, vS.as<float>(), lambda, nullptr),
                                   "sas_steer_fused");
                            };
                            // The dense baseline: encode all m, dense coefficients, decode all m.
                            auto dense_step = [&] {
                                ok(sas_encode_dense(dev, nullptr, dt, x2.p, d, n, d, dt, We.p, be.p, th.p, m,
                                                    SAS_ACT_JUMPRELU, 0, f.as<float>(), m),
                                   "sas_encode_dense");
                                ok(sas::internal::dense_coef(dev, nullptr, f.as<float>(), n, m, vdense.as<float>(),
                                                             lambda, c.as<float>()),
                                   "dense_coef");
                                ok(sas::internal::decode_dense(dev, nullptr, dt, x2.p, d, n, d, Wd.p, m, c.as<float>(), m),
                                   "decode_dense");
                            };
                            reset_x2();
                            double dense = time_ms(o, dense_step);
                            const double dense_b2b = time_b2b_ms(o, dense, dense_step);
                            std::vector<float> base;  // --ab: x after one variants-off step from x0
                            for (const auto &set : settings_for(o, "fused", n, s)) {
                                // A setting with the cluster step (or programmatic dependent launch) on where it
                                // cannot run would time another path under a default's label: left out.
                                bool idle = false;
                                int cc = 0;
                                for (const auto &e : set)
                                    idle |= e.second && ((e.first == sas::variants::kSteerCluster.env &&
                                                          !sas::internal::steer_cluster_takes(dt, n, d, s)) ||
                                                         (e.first == sas::variants::kPdl.env &&
                                                          !sas::internal::steer_pdl_ready(dt, &cc)));
                                if (idle) continue;
                                EnvSetting env(set);
                                reset_x2();
                                const double fused = time_ms(o, fused_step);
                                Row r{"steer_fused", "JumpReLU" + opt_label(dev, "fused", n, s, d, dt), d, m, n, s, fused,
                                      2.0 * double(s * d) * double(es) + 2 * xbytes + double(s) * (4 + 2 * double(es))};
                                r.dense_ms = dense;
                                r.b2b_ms = time_b2b_ms(o, fused, fused_step);
                                r.dense_b2b_ms = dense_b2b;
                                if (cold_bytes) r.cold_ms = time_cold_ms(o, evict_l2, fused_step);
                                if (o.ab && dev == SAS_DEVICE_CUDA) {
                                    // One step from the same x (the timed steps kept adding to it): the sums
                                    // differ in order only, so x may differ by one rounding of its dtype.
                                    reset_x2();
                                    fused_step();
                                    std::vector<float> got = download_as_f32(dev, dt, x2.p, n * d);
                                    const double ulp = dt == SAS_BF16 ? 1.0 / 128 : dt == SAS_F16 ? 1.0 / 1024 : 1e-5;
                                    if (base.empty())
                                        base = std::move(got);
                                    else
                                        compare(r, base, got, ulp, 1e-5, false);
                                }
                                rows.push_back(r);
                            }
                            rows.push_back({"dense enc+dec", "baseline", d, m, n, s, dense,
                                            2 * wbytes + 2 * xbytes + 3.0 * double(n * m) * 4});
                            rows.back().b2b_ms = dense_b2b;
                        }
                    }
                }
            }
        }
    }

    const bool b2b = dev == SAS_DEVICE_CUDA;
    std::printf("| kernel | variant | d | m | n | s/k | median time | GB/s | %% of peak | fused speed-up |%s\n",
                b2b ? " back-to-back |" : "");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|%s\n", b2b ? "---:|" : "");
    for (const Row &r : rows) {
        const double gbs = r.bytes / (r.ms * 1e6);
        char sp[32] = "", bb[48] = "";
        if (r.dense_ms > 0) std::snprintf(sp, sizeof sp, "%.0fx", r.dense_ms / r.ms);
        if (b2b) std::snprintf(bb, sizeof bb, " %s |", r.b2b_ms > 0 ? fmt_time(r.b2b_ms).c_str() : "");
        std::printf("| %s | %s | %s | %" PRId64 " | %s | %s | %s | %.1f | %.0f%% | %s |%s\n", r.kernel.c_str(),
                    r.variant.c_str(), r.d ? std::to_string(r.d).c_str() : "-", r.m,
                    r.n ? std::to_string(r.n).c_str() : "-", r.sk ? std::to_string(r.sk).c_str() : "-",
                    fmt_time(r.ms).c_str(), gbs, 100.0 * gbs / peak_gbs, sp, bb);
    }
    std::printf("\n## Fused steering vs dense encode + decode\n\n");
    if (b2b)
        std::printf("Median single call from an idle stream, back to back (see time_b2b_ms), and cold (operands out of\n"
                    "L2, see time_cold_ms; its speed-up is dense b2b / fused cold: the dense step streams W either way).\n\n"
                    "| variant | d | m | n | s | fused | dense | speed-up | fused b2b | dense b2b | speed-up b2b | fused cold |"
                    " speed-up cold |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    else
        std::printf("Median call; cold: the same behind a copy that evicts the caches (see time_cold_ms; its speed-up is\n"
                    "dense / fused cold: the dense step streams W from memory either way).\n\n"
                    "| variant | d | m | n | s | fused | dense | speed-up | fused cold | speed-up cold |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const Row &r : rows) {
        if (r.dense_ms <= 0) continue;
        std::printf("| %s | %" PRId64 " | %" PRId64 " | %" PRId64 " | %" PRId64 " | %s | %s | %.0fx |", r.variant.c_str(),
                    r.d, r.m, r.n, r.sk, fmt_time(r.ms).c_str(), fmt_time(r.dense_ms).c_str(), r.dense_ms / r.ms);
        if (b2b)
            std::printf(" %s | %s | %.0fx | %s | %s |", fmt_time(r.b2b_ms).c_str(), fmt_time(r.dense_b2b_ms).c_str(),
                        r.dense_b2b_ms / r.b2b_ms, r.cold_ms > 0 ? fmt_time(r.cold_ms).c_str() : "-",
                        r.cold_ms > 0 ? (std::to_string(std::lround(r.dense_b2b_ms / r.cold_ms)) + "x").c_str() : "-");
        else
            std::printf(" %s | %s |", r.cold_ms > 0 ? fmt_time(r.cold_ms).c_str() : "-",
                        r.cold_ms > 0 ? (std::to_string(std::lround(r.dense_ms / r.cold_ms)) + "x").c_str() : "-");
        std::printf("\n");
    }
    // --ab: the variants' agreement with the variants-off outputs (exit status 3 when any differs).
    int64_t disagree = 0;
    for (const Row &r : rows) {
        if (r.compared < 0) continue;
        if (disagree == 0 && (r.differ > 0 || r.flips * 10000 > r.compared))
            std::printf("\n## Variants that disagree with the kernels they replace\n\n");
        if (r.differ > 0 || r.flips * 10000 > r.compared) {
            ++disagree;
            std::printf("DIFFER %s [%s] d=%" PRId64 " m=%" PRId64 " n=%" PRId64 " s/k=%" PRId64 ": %" PRId64
                        " of %" PRId64 " sampled values differ, %" PRId64 " threshold flips\n",
                        r.kernel.c_str(), r.variant.c_str(), r.d, r.m, r.n, r.sk, r.differ, r.compared, r.flips);
        }
    }
    if (o.ab) {
        int64_t checked = 0;
        for (const Row &r : rows) checked += r.compared >= 0;
        std::printf("\n--ab: %" PRId64 " variant rows compared with the variants-off output, %" PRId64 " disagree\n",
                    checked, disagree);
    }
    if (!o.csv.empty()) {
        FILE *fp = std::fopen(o.csv.c_str(), "w");
        if (!fp) {
            std::fprintf(stderr, "sas_bench: cannot write %s\n", o.csv.c_str());
            return 1;
        }
        std::fprintf(fp, "device,dtype,kernel,variant,d,m,n,s_or_k,time_ms,gbps,pct_peak,dense_ms,speedup,b2b_ms,"
                         "dense_b2b_ms,compared,differ,flips,cold_ms\n");
        for (const Row &r : rows) {
            const double gbs = r.bytes / (r.ms * 1e6);
            std::fprintf(fp, "\"%s\",%s,%s,\"%s\",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.6f,%.2f,%.1f,%.6f,%.2f,%.6f,%.6f,"
                             "%" PRId64 ",%" PRId64 ",%" PRId64 ",%.6f\n",
                         devname.c_str(), sas::dtype_name(dt), r.kernel.c_str(), r.variant.c_str(), r.d, r.m, r.n, r.sk,
                         r.ms, gbs, 100.0 * gbs / peak_gbs, r.dense_ms, r.dense_ms > 0 ? r.dense_ms / r.ms : 0.0, r.b2b_ms,
                         r.dense_b2b_ms, r.compared, r.differ, r.flips, r.cold_ms);
        }
        std::fclose(fp);
        std::printf("\nwrote %s\n", o.csv.c_str());
    }
    return disagree > 0 ? 3 : 0;
}
