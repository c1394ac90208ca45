// A small shared thread pool (std::thread, no OpenMP). parallel_for stays on the calling thread when
// the work is small (n = 1 decode steps never pay a wake-up), when called from inside a pool task, when
// another thread is already using the pool, or when the workers sleep and waking them has cost more than
// a quarter of what the job takes alone (both measured on earlier jobs), unless the job follows the
// previous one kept on its caller within a worker's spin (back-to-back calls: one wake-up keeps them
// spinning). Workers spin for 50 us after a job before they sleep, and the caller for up to 200 us for
// the workers' last chunks: waking a sleeping thread took tens of microseconds on a VM, more than half of
// a few-row steering step. Which thread runs a chunk never changes a result.
#pragma once

#include <cstdint>
#include <functional>

namespace sas {

// Worker count: SAS_NUM_THREADS if set (>= 1), else std::thread::hardware_concurrency().
int num_threads();

// Work below this many "cost units" (~ multiply-adds or bytes touched) runs serially.
constexpr int64_t kSerialCost = int64_t(1) << 18;

// Calls fn(begin, end) on disjoint ranges covering [0, n). cost_per_item estimates the work of one
// item; each chunk gets at least kSerialCost / 4 of work. Ranges are processed in any order, so fn
// must write disjoint outputs; results never depend on the split (no reductions across chunks).
void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)> &fn);

}  // namespace sas
