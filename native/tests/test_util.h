// Minimal test harness for the native tests: counters, checks, random data in every dtype, device
// buffers (via the library's internal helpers) and a loop over the devices that are available.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "internal.h"
#include "sas_kernels.h"
#include "scoped_env.h"
#include "variants.h"

namespace t {

inline int g_pass = 0, g_fail = 0, g_cuda_skipped = 0;
inline std::string g_ctx;

inline void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
inline void check(bool ok, const char *fmt, ...) {
    if (ok) {
        ++g_pass;
        return;
    }
    ++g_fail;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::printf("FAIL [%s] %s\n", g_ctx.c_str(), buf);
}

// Checks a status; on failure prints the library message.
inline bool check_ok(sas_status st, const char *what) {
    check(st == SAS_OK, "%s returned %s: %s", what, sas_status_name(st), sas_last_error());
    return st == SAS_OK;
}

// Under ThreadSanitizer (CI's third build of the tests) every access of the emulated kernels and the
// tests' double-precision references costs some 100x, and the few biggest cases took half of its 40
// minutes; a race shows at any size that takes the same path, and a smaller case of each such path stays
// (the callers say which). So cases whose dense reference is over kTsanMaxWork multiply-adds are left to
// the other two builds there, counted in the summary; every other build runs them all.
inline constexpr double kTsanMaxWork = double(int64_t(1) << 26);
inline int g_tsan_skipped = 0;
inline bool skip_under_tsan(double work) {
#if defined(__SANITIZE_THREAD__)
    if (work > kTsanMaxWork) {
        ++g_tsan_skipped;
        return true;
    }
#else
    (void)work;
#endif
    return false;
}

inline int summary(const char *name) {
    if (g_tsan_skipped > 0)
        std::printf("%s: %d cases over %.0f multiply-adds left to the builds without ThreadSanitizer\n", name,
                    g_tsan_skipped, kTsanMaxWork);
    if (g_cuda_skipped > 0)
        std::printf("%s: CUDA not available (sas_cuda_available() == 0): %d CUDA cases not run (not counted)\n", name,
                    g_cuda_skipped);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}

inline const char *dn(sas_dtype dt) { return sas::dtype_name(dt); }
inline const char *devn(sas_device d) { return d == SAS_DEVICE_CPU ? "cpu" : "cuda"; }

// The devices to run: CPU always, CUDA when available (otherwise the CUDA case is counted as skipped).
inline std::vector<sas_device> devices() {
    std::vector<sas_device> v{SAS_DEVICE_CPU};
    if (sas_cuda_available())
        v.push_back(SAS_DEVICE_CUDA);
    else
        ++g_cuda_skipped;
    return v;
}

// ---- random numbers ----------------------------------------------------------------------------
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
    double normal() {
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
    int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }
};

// ---- host arrays in a dtype ----------------------------------------------------------------------
struct Arr {
    sas_dtype dt = SAS_F32;
    int64_t count = 0;
    std::vector<unsigned char> raw;
    Arr() = default;
    Arr(sas_dtype dtype, int64_t n) : dt(dtype), count(n), raw(size_t(n) * sas::dtype_size(dtype)) {}
    size_t bytes() const { return raw.size(); }
    void *data() { return raw.data(); }
    const void *data() const { return raw.data(); }
    double at(int64_t i) const { return double(sas::load_f32(dt, raw.data(), i)); }
    void set(int64_t i, double v) { sas::store_f32(dt, raw.data(), i, float(v)); }
};

inline Arr randn(sas_dtype dt, int64_t n, Rng &r, double scale = 1.0, double mean = 0.0) {
    Arr a(dt, n);
    for (int64_t i = 0; i < n; ++i) a.set(i, mean + scale * r.normal());
    return a;
}
inline Arr uniform(sas_dtype dt, int64_t n, Rng &r, double lo, double hi) {
    Arr a(dt, n);
    for (int64_t i = 0; i < n; ++i) a.set(i, lo + (hi - lo) * r.uniform());
    return a;
}

// ---- device buffers ------------------------------------------------------------------------------
struct Buf {
    sas_device dev = SAS_DEVICE_CPU;
    void *p = nullptr;
    size_t bytes = 0;
    Buf() = default;
    Buf(sas_device d, size_t n) : dev(d), bytes(n) {
        if (sas::internal::dev_alloc(d, &p, n ? n : 1) != SAS_OK) {
            std::printf("FATAL: allocation of %zu bytes on %s failed: %s\n", n, devn(d), sas_last_error());
            std::exit(2);
        }
    }
    Buf(const Buf &) = delete;
    Buf &operator=(const Buf &) = delete;
    Buf(Buf &&o) noexcept : dev(o.dev), p(o.p), bytes(o.bytes) { o.p = nullptr; }
    Buf &operator=(Buf &&o) noexcept {
        std::swap(dev, o.dev);
        std::swap(p, o.p);
        std::swap(bytes, o.bytes);
        return *this;
    }
    ~Buf() {
        if (p) sas::internal::dev_free(dev, p);
    }
    template <class T> T *as() const { return static_cast<T *>(p); }
};

inline Buf upload(sas_device dev, const void *src, size_t bytes) {
    Buf b(dev, bytes);
    if (bytes) sas::internal::to_device(dev, b.p, src, bytes);
    return b;
}
inline Buf upload(sas_device dev, const Arr &a) { return upload(dev, a.data(), a.bytes()); }
template <class T> Buf upload(sas_device dev, const std::vector<T> &v) {
    return upload(dev, v.data(), v.size() * sizeof(T));
}
template <class T> std::vector<T> download(const Buf &b, size_t count) {
    sas::internal::dev_sync(b.dev);
    std::vector<T> v(count);
    if (count) sas::internal::to_host(b.dev, v.data(), b.p, count * sizeof(T));
    return v;
}
inline Arr download_arr(const Buf &b, sas_dtype dt, int64_t count) {
    sas::internal::dev_sync(b.dev);
    Arr a(dt, count);
    if (count) sas::internal::to_host(b.dev, a.data(), b.p, a.bytes());
    return a;
}

// Relative tolerance of a value accumulated in f32 from exact inputs.
constexpr double kTolF32 = 1e-5;
// Rounding of an output written back in dtype (half an ulp, relative).
inline double round_tol(sas_dtype dt) { return dt == SAS_BF16 ? 1.0 / 256 : dt == SAS_F16 ? 1.0 / 2048 : 0.0; }

struct Sizes {
    int64_t n, d, m;
};

// The CUDA kernel variants (kernels/src/variants.h) for one scope: the listed ones set to "1", every
// other to "0", whatever the defaults say, so each check names the kernels it runs and both sides of
// every switch stay tested when a default changes. The environment is restored at the end of the scope.
class Variants {
  public:
    explicit Variants(std::initializer_list<const sas::variants::Variant *> on = {}) {
        for (const sas::variants::Variant *v : sas::variants::kAll) {
            bool listed = false;
            for (const sas::variants::Variant *o : on) listed |= o == v;
            env_.set(v->env, listed ? "1" : "0");
        }
    }

  private:
    sas_test::ScopedEnv env_;
};

// printf into a std::string (a case's label).
inline std::string label(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string label(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

// SAS_TEST_TIMES=1: each case timed by a CaseClock prints its wall time, its label and the kernel variants
// switched on, for finding where a (sanitized, emulated) run spends its time. Off, it costs one getenv.
class CaseClock {
  public:
    explicit CaseClock(std::string label) : label_(std::move(label)) {
        static const bool on = [] {
            const char *e = std::getenv("SAS_TEST_TIMES");
            return e && *e && std::strcmp(e, "0") != 0;
        }();
        on_ = on;
        if (on_) t0_ = std::chrono::steady_clock::now();
    }
    CaseClock(const CaseClock &) = delete;
    CaseClock &operator=(const CaseClock &) = delete;
    ~CaseClock() {
        if (!on_) return;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
        std::string vs;
        for (const sas::variants::Variant *v : sas::variants::kAll) {
            const char *e = std::getenv(v->env);
            if (e && std::strcmp(e, "1") == 0) vs += std::string(vs.empty() ? "" : ",") + v->label;
        }
        std::printf("case-time %9.3f s  %s  [%s]\n", s, label_.c_str(), vs.c_str());
        std::fflush(stdout);
    }

  private:
    std::string label_;
    bool on_ = false;
    std::chrono::steady_clock::time_point t0_;
};

}  // namespace t
