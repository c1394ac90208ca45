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
// Marks the calling thread as running pool work for its lifetime: parallel_for calls inside stay serial.
struct InPool {
    bool old = t_in_pool;
    InPool() { t_in_pool = true; }
    ~InPool() { t_in_pool = old; }
};

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
    // chunk_cost: the work of one chunk in cost units, for the estimates below.
    void run(int64_t nchunks, int64_t chunk_cost, const std::function<void(int64_t)> &job) {
        using clock = std::chrono::steady_clock;
        const bool waking = asleep_.load(std::memory_order_relaxed) > 0;
        const auto t0 = clock::now();
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
        const auto t1 = clock::now();
        const int64_t mine = work();
        const auto t2 = clock::now();
        // The workers' last chunks are usually short: spin for them before sleeping on the condition
        // variable. The lock below is taken either way, so the caller sees the workers' writes.
        spin_until([this] { return pending_.load(std::memory_order_acquire) == 0 && active_.load() == 0; },
                   kCallerSpin);
        std::unique_lock<std::mutex> lk(mu_);
        // Wait for the chunks and for every worker that joined to leave work(): no worker can carry a
        // stale job or chunk counter into the next generation.
        done_cv_.wait(lk, [this] { return pending_ == 0 && active_ == 0; });
        job_ = nullptr;
        lk.unlock();
        const auto t3 = clock::now();
        if (mine > 0) note(unit_ps_, ns(t1, t2) * 1000 / std::max<int64_t>(1, mine * chunk_cost));
        // What waking sleeping workers cost the caller: the notification, and, when they did none of the
        // chunks (they woke too late), the wait for them to leave.
        if (waking) note(wake_ns_, ns(t0, t1) + (mine == nchunks ? ns(t2, t3) : 0));
    }

    // Whether a job of `cost` units should stay on the caller: some worker sleeps, the last job kept on a
    // caller ended longer ago than a worker spins (so this is not the next of back-to-back calls, where one
    // wake-up keeps the workers spinning for the rest), and waking has cost the caller more than a quarter
    // of what the job takes alone (both measured on earlier jobs; before any measurement, no). On a VM here
    // a wake-up cost the caller ~60 us (the notification, and late joiners when they found nothing left),
    // and an 8-row fused step called after other work took 106 us alone, 160-240 us with the worker woken
    // (RESULTS-cpu.md, "bf16 fused step").
    bool better_alone(int64_t cost) const {
        if (asleep_.load(std::memory_order_relaxed) == 0) return false;
        const int64_t wake = wake_ns_.load(std::memory_order_relaxed), unit = unit_ps_.load(std::memory_order_relaxed);
        if (wake == 0 || unit == 0 || double(cost) * double(unit) / 1000.0 >= 4.0 * double(wake)) return false;
        const int64_t since = now_ns() - last_alone_end_.load(std::memory_order_relaxed);
        return since >= std::chrono::nanoseconds(kWorkerSpin).count();
    }
    void ended_alone() { last_alone_end_.store(now_ns(), std::memory_order_relaxed); }

    std::mutex busy;  // held by the thread currently using the pool

private:
    static int64_t now_ns() {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    template <class T> static int64_t ns(T a, T b) {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
    }
    // Exponential moving average (weight 1/4), kept by the caller holding `busy`.
    static void note(std::atomic<int64_t> &avg, int64_t v) {
        const int64_t old = avg.load(std::memory_order_relaxed);
        avg.store(old == 0 ? v : old + (v - old) / 4, std::memory_order_relaxed);
    }

    // Runs chunks until none is left; returns how many this thread ran.
    int64_t work() {
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
        return done;
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
                asleep_.fetch_add(1, std::memory_order_relaxed);
                cv_.wait(lk, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
                asleep_.fetch_sub(1, std::memory_order_relaxed);
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
    std::atomic<int> asleep_{0};         // workers past their spin (waiting on cv_, or about to)
    std::atomic<int64_t> wake_ns_{0};    // average cost of waking them, to the caller
    std::atomic<int64_t> unit_ps_{0};    // average time of one cost unit on the caller (picoseconds)
    std::atomic<int64_t> last_alone_end_{0};  // now_ns() when the last job kept on its caller ended
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
    if (p->better_alone(n * cost)) {
        lk.unlock();
        {
            const InPool nested_stay_here;
            fn(0, n);
        }
        p->ended_alone();
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
    const InPool caller_helps;  // the caller acts as a pool thread while it helps
    p->run(nchunks, (n / nchunks) * cost, job);
    if (err) std::rethrow_exception(err);
}

}  // namespace sas
