#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace sas {

namespace {

thread_local bool t_in_pool = false;

class Pool {
public:
    explicit Pool(int workers) {
        threads_.reserve(size_t(workers));
        for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
    }
    ~Pool() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto &t : threads_) t.join();
    }
    int workers() const { return int(threads_.size()); }

    // Runs chunks [0, nchunks) of job on the workers and the caller; returns when all are done.
    void run(int64_t nchunks, const std::function<void(int64_t)> &job) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            job_ = &job;
            nchunks_ = nchunks;
            next_.store(0);
            pending_ = nchunks;
            ++generation_;
            published_.store(generation_, std::memory_order_release);
        }
        cv_.notify_all();  // no system call when every worker is still spinning (below)
        work();
        // The workers' last chunks are usually short: spin for them before sleeping on the condition
        // variable. The lock below is taken either way, so the caller sees the workers' writes.
        spin_until([this] { return pending_.load(std::memory_order_acquire) == 0 && active_.load() == 0; },
                   kCallerSpin);
        std::unique_lock<std::mutex> lk(mu_);
        // Wait for the chunks and for every worker that joined to leave work(): no worker can carry a
        // stale job or chunk counter into the next generation.
        done_cv_.wait(lk, [this] { return pending_ == 0 && active_ == 0; });
        job_ = nullptr;
    }

    std::mutex busy;  // held by the thread currently using the pool

private:
    void work() {
        int64_t done = 0;
        for (;;) {
            int64_t c = next_.fetch_add(1);
            if (c >= nchunks_) break;
            (*job_)(c);
            ++done;
        }
        if (done > 0) {
            std::lock_guard<std::mutex> lk(mu_);
            pending_ -= done;
            if (pending_ == 0) done_cv_.notify_all();
        }
    }
    void loop() {
        t_in_pool = true;
        uint64_t seen = 0;
        for (;;) {
            // A worker that just finished spins a little before it sleeps: a call often follows at once
            // (the fused step's second phase, the next block of rows, a caller's loop), and waking a
            // sleeping thread took tens of microseconds on a VM (more than a decode-sized job's half).
            spin_until([&] { return published_.load(std::memory_order_acquire) != seen; }, kWorkerSpin);
            {
                std::unique_lock<std::mutex> lk(mu_);
                cv_.wait(lk, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
                if (stop_) return;
                seen = generation_;
                ++active_;
            }
            work();
            std::lock_guard<std::mutex> lk(mu_);
            if (--active_ == 0 && pending_ == 0) done_cv_.notify_all();
        }
    }

    // Spins until done() or `limit` has passed; done() is read without the lock, so the caller of
    // spin_until takes the lock afterwards and checks again.
    template <class Pred> static void spin_until(Pred done, std::chrono::microseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        for (int i = 1; !done(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (i % 64 == 0 && std::chrono::steady_clock::now() >= end) return;
        }
    }
    static constexpr std::chrono::microseconds kWorkerSpin{50}, kCallerSpin{200};

    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_, done_cv_;
    const std::function<void(int64_t)> *job_ = nullptr;
    int64_t nchunks_ = 0;
    std::atomic<int64_t> next_{0};
    // pending_ and active_ change under mu_ only; atomic so that the caller can spin on them.
    std::atomic<int64_t> pending_{0};
    std::atomic<int> active_{0};
    uint64_t generation_ = 0;
    std::atomic<uint64_t> published_{0};  // generation_, for the workers' spin
    bool stop_ = false;
};

int compute_threads() {
    if (const char *env = std::getenv("SAS_NUM_THREADS")) {
        int v = std::atoi(env);
        if (v >= 1) return std::min(v, 256);
    }
    unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : int(std::min(hc, 256u));
}

Pool *pool() {
    static Pool p(num_threads() - 1);  // the caller is the extra worker
    return &p;
}

}  // namespace

int num_threads() {
    static const int n = compute_threads();
    return n;
}

void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)> &fn) {
    if (n <= 0) return;
    const int nt = num_threads();
    const int64_t cost = std::max<int64_t>(cost_per_item, 1);
    const bool small = n == 1 || (cost >= kSerialCost ? false : n * cost < kSerialCost);
    if (nt <= 1 || small || t_in_pool) {
        fn(0, n);
        return;
    }
    Pool *p = pool();
    std::unique_lock<std::mutex> lk(p->busy, std::try_to_lock);
    if (!lk.owns_lock()) {  // another thread is using the pool: do it here
        fn(0, n);
        return;
    }
    // Chunks: at least kSerialCost/4 of work each, at most 4 per thread, never more than n.
    int64_t min_items = std::max<int64_t>(1, (kSerialCost / 4) / cost);
    int64_t nchunks = std::min<int64_t>({n, int64_t(nt) * 4, (n + min_items - 1) / min_items});
    if (nchunks <= 1) {
        fn(0, n);
        return;
    }
    const int64_t base = n / nchunks, rem = n % nchunks;
    // Exceptions (std::bad_alloc) must not escape a worker: keep the first, rethrow on the caller.
    std::mutex err_mu;
    std::exception_ptr err;
    std::function<void(int64_t)> job = [&](int64_t c) {
        int64_t b = c * base + std::min(c, rem);
        int64_t e = b + base + (c < rem ? 1 : 0);
        try {
            fn(b, e);
        } catch (...) {
            std::lock_guard<std::mutex> g(err_mu);
            if (!err) err = std::current_exception();
        }
    };
    struct Flag {  // the caller acts as a pool thread while it helps
        bool old = t_in_pool;
        Flag() { t_in_pool = true; }
        ~Flag() { t_in_pool = old; }
    } flag;
    p->run(nchunks, job);
    if (err) std::rethrow_exception(err);
}

}  // namespace sas
