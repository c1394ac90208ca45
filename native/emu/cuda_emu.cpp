// The CPU side of cuda_emu.h: a block's threads as fibers, barriers, the warp exchange, the emulated PTX
// instructions and the runtime API subset. Fibers switch with a few instructions on x86-64 (saving the
// callee-saved registers and the stack pointer); elsewhere with ucontext, whose switches make a system
// call each (the native tests then take minutes instead of seconds).
#include "cuda_emu.h"

#include <ucontext.h>

// Under AddressSanitizer (-DSAS_SANITIZE=ON) the fibers tell it which stack runs (else it would take a
// fiber's frames for a corrupt stack), and the bytes of a block's shared memory that the launch did not
// ask for are unaddressable, so a kernel that indexes past its shared arrays stops there, as
// compute-sanitizer's memcheck would stop it on a GPU. Device memory is the process heap here, so reads
// past a cudaMalloc'd buffer are caught by the sanitizer's own redzones.
#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#if defined(EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

// Under ThreadSanitizer (-DSAS_SANITIZE=thread; this file is built uninstrumented, EMU_TSAN set by CMake,
// while the kernels, the CPU twins and the tests are instrumented) each emulated warp runs as a fiber of
// the sanitizer's, and the emulation tells it which accesses are ordered: a barrier is a release by each
// thread that arrives and an acquire by each that leaves, for __syncthreads, the grid-wide sync and the
// cluster barrier alike; a launch's start orders the host's writes before every thread, its end every
// thread before the host. Nothing else is: switching fibers carries no order, so two warps of a block (or
// two blocks) that touch the same shared or global memory between two barriers, one of them writing, are
// a data race, which the sanitizer reports with both lines and the test fails, whether or not the
// interleaving this run happened to take gave a wrong value: compute-sanitizer's racecheck, for every
// test and every variant, on every CI run (native/emu/README.md, "ThreadSanitizer").
#if defined(EMU_TSAN)
#include <sanitizer/tsan_interface.h>
extern "C" void __tsan_read2(void *addr);  // the instrumentation's own entry: a 2-byte read here
#endif

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

namespace emu {

ThreadPos g_pos;
dim3 g_block_idx, g_block_dim, g_grid_dim;
uint64_t g_prefetches = 0;

#if defined(__x86_64__)
// void emu_switch(void **save_sp, void *load_sp): pushes the callee-saved registers, stores the stack
// pointer in *save_sp, switches to load_sp and pops that fiber's registers; `ret` resumes it.
asm(R"(
    .text
    .p2align 4
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");
extern "C" void emu_switch(void **save_sp, void *load_sp) __asm__("emu_switch");
#endif

namespace {

cudaError_t g_last = cudaSuccess;
std::mutex g_calls_mu;
std::vector<Call> g_calls;
}  // namespace

void log_call(Op op, const void *stream, bool pdl = false);  // below, with the rest of the call log

namespace {

[[noreturn]] void die(const char *msg) {
    std::fprintf(stderr, "cuda_emu: %s (block %u,%u,%u thread %u,%u,%u)\n", msg, g_block_idx.x, g_block_idx.y,
                 g_block_idx.z, g_pos.tid.x, g_pos.tid.y, g_pos.tid.z);
    std::abort();
}

constexpr int kSms = 4;                      // the emulated device's "SMs": small grids, still several blocks
constexpr int kThreadsPerSm = 2048;          // as sm_80..sm_90
// Shared memory per block, static and dynamic together: a GPU refuses more unless the kernel opts in with
// cudaFuncAttributeMaxDynamicSharedMemorySize, which ours do not.
constexpr size_t kSharedBytes = 48 * 1024;
#if defined(EMU_ASAN)
constexpr size_t kStack = 256 * 1024;        // the sanitizer's redzones around every local array
#else
constexpr size_t kStack = 64 * 1024;         // per thread; kernels keep a few hundred bytes of locals
#endif
constexpr unsigned char kPoison = 0xff;      // fresh shared memory: NaN floats, all-ones integers

struct Fiber {
#if defined(__x86_64__)
    void *sp = nullptr;
#else
    ucontext_t ctx;
#endif
    std::unique_ptr<char[]> stack;
    void *asan_fake_stack = nullptr;  // AddressSanitizer's state of this fiber's stack while it is switched out
    void *tsan = nullptr;             // ThreadSanitizer's fiber running this thread: its warp's
    ThreadPos pos;
    bool done = false;
    bool waited = false;  // has executed griddepcontrol.wait
    // Waiting at a barrier: runnable again once *wait != wait_gen (the scheduler does not resume it before).
    const unsigned *wait = nullptr;
    unsigned wait_gen = 0;
};

// The barriers a thread can wait at, for the happens-before bookkeeping below (hb_arrive, hb_leave).
enum Barrier { kBlockBarrier, kGridBarrier, kClusterBarrier, kBarriers };

struct Warp {
    int alive = 0, arrived = 0;
    unsigned gen = 0;
    uint64_t slots[2][32] = {};
    void *tsan = nullptr;  // ThreadSanitizer's fiber for the warp's threads (from tsan_fiber())
    // Per barrier and generation parity: its lanes that have arrived and not yet been released into the
    // barrier's sync object, and whether the warp has still to acquire the completed generation's.
    int hb_arrived[kBarriers][2] = {};
    bool hb_due[kBarriers][2] = {};
    bool hb_started = false;  // a lane has acquired the block's start
};

// A resident block: its threads (fibers with their own stacks), barrier state and shared memory.
struct Block {
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    int nthreads = 0, alive = 0, arrived = 0;
    unsigned gen = 0;
    int acc[2] = {0, 0}, result[2] = {0, 0};
    int grid_arrived = 0;  // threads waiting at the grid-wide sync (cooperative launches)
    int cluster_arrived = 0;  // threads that arrived at the cluster barrier's current generation
    int slot = 0;          // its index in Launch::slots (a cluster's blocks hold consecutive slots, rank order)
    int lag = -1;          // the lagging warp (or lane, in a one-warp block)
    bool active = false;
    size_t poisoned = 0;   // smem_static[0, poisoned) has been poisoned since the block started
    // ThreadSanitizer's sync objects: the barrier's generations (by parity); the block's start (the
    // scheduler's setup before its threads); the slot's retired threads before the next block's (they
    // reuse its shared memory and stacks, as a block reuses an SM's on a GPU).
    char bar_sync[2] = {}, start_sync = 0, retire_sync = 0;
    dim3 idx;
    alignas(128) unsigned char smem_static[kSharedBytes];
    alignas(128) unsigned char smem_dynamic[kSharedBytes];
};

// The launch being run. Some of its blocks are resident at once (what kSms SMs of 2048 threads
// hold; every block, for a cooperative launch), their threads interleaved at sync points; a finished
// block's slot takes the next block of the launch.
struct Launch {
    std::vector<std::unique_ptr<Block>> slots;
    const std::function<void()> *body = nullptr;
    bool cooperative = false;
    bool pdl = false;                      // launched with programmatic stream serialization
    unsigned grid_gen = 0;                 // generation of the grid-wide sync
    unsigned cluster = 1;                  // blocks per cluster (1: not a cluster launch)
    std::vector<unsigned> cluster_gen;     // per group of `cluster` slots: generation of its cluster barrier
    std::vector<std::pair<const void *, size_t>> static_layout;  // __shared__ variable -> offset
    size_t static_used = 0;
    size_t dyn_bytes = 0;
    // ThreadSanitizer's sync objects: the grid-wide sync's generations, each cluster barrier's, the
    // launch's end (every thread before the host).
    char grid_sync[2] = {}, end_sync = 0;
    std::vector<std::array<char, 2>> cluster_sync;
};

Launch g_launch;
Block *g_cur = nullptr;  // the block of the running thread
int g_cur_thread = -1;   // its index in the block (-1: no kernel thread is running)
#if defined(__x86_64__)
void *g_sched_sp = nullptr;
#else
ucontext_t g_sched;
#endif

uint64_t g_rng = 0x2545F4914F6CDD1Dull;
uint64_t next_random() {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

// CUDA_EMU_SCHEDULE=ordered: one block at a time, its threads in index order, none lagging.
bool ordered_schedule() {
    static const bool ordered = [] {
        const char *v = std::getenv("CUDA_EMU_SCHEDULE");
        return v && std::strcmp(v, "ordered") == 0;
    }();
    return ordered;
}

Fiber &running_fiber() { return g_cur->fibers[size_t(g_cur_thread)]; }

// Happens-before for ThreadSanitizer (no-ops otherwise): release the running thread's accesses so far into
// sync object o; acquire those released into o.
#if defined(EMU_TSAN)
void hb_release(const void *o) { __tsan_release(const_cast<void *>(o)); }
void hb_acquire(const void *o) { __tsan_acquire(const_cast<void *>(o)); }
void *g_sched_tsan = nullptr;  // the host thread's own fiber, which runs the scheduler
// One fiber per warp, not per thread: the sanitizer's vector clocks grow with its fibers, and each
// acquire walks one (with a fiber per thread, test_calls had not finished after 10 minutes; 3 per warp).
// The lanes of a warp are then one thread to it (races between them are left to the emulation's shuffled
// lane order and the tests' values); between warps, and between blocks, it sees every race. Fibers are
// costly to create (~0.5 ms) and limited in number (8128), so a finished block's go back to a pool and run
// the next block's warps. A fiber's accesses are ordered among themselves, so a warp is ordered after the
// one whose fiber it took (of a block that ran before it): fewer races between blocks are seen than could
// happen, none that cannot.
std::vector<void *> g_tsan_pool;
void *tsan_fiber() {
    if (g_tsan_pool.empty()) return __tsan_create_fiber(0);
    void *f = g_tsan_pool.back();
    g_tsan_pool.pop_back();
    return f;
}
#else
void hb_release(const void *) {}
void hb_acquire(const void *) {}
#endif

// A warp's lanes share one fiber of the sanitizer's, whose every release carries all of the fiber's
// accesses so far and whose every acquire holds for its later ones: so the warp releases into a barrier
// once, when its last lane arrives (or exits while the others wait), and acquires once, when its first
// lane leaves. One lane at a time instead took 45% of a sanitized run in __tsan_release/acquire, 32
// lanes x every barrier, for no more order.
void hb_arrive(Warp &w, Barrier b, unsigned gen, const void *sync) {
    int &arrived = w.hb_arrived[b][gen & 1];
    if (++arrived == w.alive) {
        hb_release(sync);
        arrived = 0;
    }
}
void hb_leave(Warp &w, Barrier b, unsigned gen, const void *sync) {
    bool &due = w.hb_due[b][gen & 1];
    if (due) {
        hb_acquire(sync);
        due = false;
    }
}
void hb_completed(Block &B, Barrier b, unsigned gen) {
    for (Warp &w : B.warps) w.hb_due[b][gen & 1] = true;
}

// Fills shared memory with kPoison. Under ThreadSanitizer not through memset, which it intercepts and
// would count as a write by the running thread (the scheduler, or the first thread to reach a variable)
// racing with every other thread's access.
void fill_poison(unsigned char *p, size_t n) {
#if defined(EMU_TSAN)
    volatile unsigned char *v = p;
    for (size_t i = 0; i < n; ++i) v[i] = kPoison;
#else
    std::memset(p, kPoison, n);
#endif
}

// Switching between fibers. The scheduler (run_launch) starts each round of the schedule with its first
// thread; a thread that stops (at a sync point, or for good) hands over to the round's next one itself, and
// only the round's last hands back to the scheduler: one switch per thread run instead of two, and none of
// the scheduler's frames in between (a round's order is decided before it starts, so who decides changes
// nothing in it).
// Under AddressSanitizer each switch is announced (start) and confirmed on the other side (finish); the
// scheduler's stack is learnt from its first switch into a fiber. A fiber that has finished switches out
// for good (no state kept), so its stack can start the next thread. Under ThreadSanitizer the running
// warp's fiber of the sanitizer's changes with the warp (a warp's lanes share one).
#if defined(EMU_ASAN)
const void *g_sched_stack = nullptr;
size_t g_sched_stack_size = 0;
bool g_from_sched = false;  // the switch being finished came from the scheduler
void asan_entered_fiber(Fiber &f) {
    const bool from_sched = g_from_sched;
    g_from_sched = false;
    __sanitizer_finish_switch_fiber(f.asan_fake_stack, from_sched ? &g_sched_stack : nullptr,
                                    from_sched ? &g_sched_stack_size : nullptr);
}
#else
void asan_entered_fiber(Fiber &) {}
#endif

// The running thread's place taken by thread t of block B (globals first: they are the running thread's).
void enter(Block &B, int t) {
    g_cur = &B;
    g_cur_thread = t;
    g_pos = B.fibers[size_t(t)].pos;
    g_block_idx = B.idx;
}

// The round's next thread to run (block, thread index), or {nullptr, -1} at the round's end. Returned by
// value: a thread that finishes leaves switch_from's frame on its stack, and under AddressSanitizer a local
// whose address is taken has redzones, which would then stand where the next thread's frames go.
struct Next {
    Block *block;
    int thread;
};
Next next_in_round();  // below, with the scheduler

// From the running fiber f to the round's next thread, or to the scheduler at the round's end; returns when
// f is resumed (never, once finished).
void switch_from(Fiber &f, bool finished) {
    const Next nx = next_in_round();
    if (nx.block == nullptr) {
#if defined(EMU_TSAN)
        __tsan_switch_to_fiber(g_sched_tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(EMU_ASAN)
        __sanitizer_start_switch_fiber(finished ? nullptr : &f.asan_fake_stack, g_sched_stack, g_sched_stack_size);
#endif
#if defined(__x86_64__)
        emu_switch(&f.sp, g_sched_sp);
#else
        swapcontext(&f.ctx, &g_sched);
#endif
    } else {
        Fiber &to = nx.block->fibers[size_t(nx.thread)];
        if (&to == &f) return;  // runnable again already (a thread that stops is waiting or done: not so far)
        enter(*nx.block, nx.thread);
#if defined(EMU_TSAN)
        if (to.tsan != f.tsan) __tsan_switch_to_fiber(to.tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(EMU_ASAN)
        __sanitizer_start_switch_fiber(finished ? nullptr : &f.asan_fake_stack, to.stack.get(), kStack);
#endif
#if defined(__x86_64__)
        emu_switch(&f.sp, to.sp);
#else
        swapcontext(&f.ctx, &to.ctx);
#endif
    }
    (void)finished;
    asan_entered_fiber(f);
}

// From the scheduler to thread t of block B; returns when a thread ends the round.
void to_fiber(Block &B, int t) {
    Fiber &f = B.fibers[size_t(t)];
    enter(B, t);
#if defined(EMU_TSAN)
    __tsan_switch_to_fiber(f.tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(EMU_ASAN)
    void *sched_fake_stack = nullptr;
    g_from_sched = true;
    __sanitizer_start_switch_fiber(&sched_fake_stack, f.stack.get(), kStack);
#endif
#if defined(__x86_64__)
    emu_switch(&g_sched_sp, f.sp);
#else
    swapcontext(&g_sched, &f.ctx);
#endif
#if defined(EMU_ASAN)
    __sanitizer_finish_switch_fiber(sched_fake_stack, nullptr, nullptr);
#endif
}

void yield() {
    Block *b = g_cur;
    const int t = g_cur_thread;
    switch_from(b->fibers[size_t(t)], /*finished=*/false);
    enter(*b, t);  // back on this fiber
}

// Parks the running thread until *gen moves on from `was` (a barrier's generation).
void wait_for(const unsigned *gen, unsigned was) {
    Fiber &f = running_fiber();
    f.wait = gen;
    f.wait_gen = was;
    while (*gen == was) yield();
    f.wait = nullptr;
}

void complete_block_barrier(Block &B) {
    const unsigned gen = B.gen;
    hb_completed(B, kBlockBarrier, gen);
    B.result[gen & 1] = B.acc[gen & 1];
    B.acc[(gen + 1) & 1] = 0;
    B.arrived = 0;
    ++B.gen;
}

void complete_warp(Warp &w) {
    w.arrived = 0;
    ++w.gen;
}

void fiber_main() {
    asan_entered_fiber(running_fiber());  // its first entry: nothing to restore
    {
        Warp &w = g_cur->warps[size_t(running_fiber().pos.warp)];
        if (!w.hb_started) {  // the warp's first lane to run
            w.hb_started = true;
            hb_acquire(&g_cur->start_sync);
            hb_acquire(&g_cur->retire_sync);
        }
    }
    (*g_launch.body)();
    Block &B = *g_cur;
    Fiber &f = running_fiber();
    Warp &w = B.warps[size_t(f.pos.warp)];
    --w.alive;
    // Its accesses before a barrier the warp's other lanes wait at (an exited thread does not hold it back),
    // and, with the warp's last lane, before every later barrier of the block, the next block in its slot
    // and the host.
    for (int b = 0; b < kBarriers; ++b)
        for (int p = 0; p < 2; ++p)
            if (w.hb_arrived[b][p] > 0 && w.hb_arrived[b][p] == w.alive) {
                hb_release(b == kBlockBarrier  ? static_cast<const void *>(&B.bar_sync[p])
                           : b == kGridBarrier ? static_cast<const void *>(&g_launch.grid_sync[p])
                                               : static_cast<const void *>(
                                                     &g_launch.cluster_sync[size_t(B.slot) / g_launch.cluster][size_t(p)]));
                w.hb_arrived[b][p] = 0;
            }
    if (w.alive == 0) {
        hb_release(&B.bar_sync[0]);
        hb_release(&B.bar_sync[1]);
        hb_release(&B.retire_sync);
        hb_release(&g_launch.end_sync);
    }
    if (g_launch.pdl && !f.waited)
        die("a thread of a launch with programmatic stream serialization exited without griddepcontrol.wait "
            "(the kernel could complete before the one it overlaps)");
    f.done = true;
    --B.alive;
    // An exited thread no longer holds back a barrier that the others are waiting at.
    if (B.arrived > 0 && B.arrived == B.alive) complete_block_barrier(B);
    if (w.arrived > 0 && w.arrived == w.alive) complete_warp(w);
    switch_from(f, /*finished=*/true);
    die("a finished fiber was resumed");
}

// A fiber's first frame: its stack holds six zero registers for emu_switch to pop and then this
// function's address for its `ret`, placed so that the function starts with the stack alignment of a
// normal call.
void start_fiber(Fiber &f) {
    // A thread that finished left the frames it stopped in on the stack (fiber_main's and switch_from's), and
    // under AddressSanitizer the redzones around their locals, which would stand where the new thread's
    // frames go: cleared from where that thread last stopped (its saved stack pointer) to the top.
#if defined(EMU_ASAN) && defined(__x86_64__)
    if (f.sp != nullptr) {
        char *top = f.stack.get() + kStack, *low = static_cast<char *>(f.sp) - 256;
        ASAN_UNPOISON_MEMORY_REGION(low, size_t(top - low));
    }
#elif defined(EMU_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(f.stack.get(), kStack);  // (where it stopped is ucontext's: all of it)
#endif
#if defined(__x86_64__)
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack.get()) + kStack) & ~uintptr_t(15);
    void **sp = reinterpret_cast<void **>(top - 16);
    sp[0] = reinterpret_cast<void *>(&fiber_main);
    sp[1] = nullptr;
    sp -= 6;
    for (int i = 0; i < 6; ++i) sp[i] = nullptr;
    f.sp = sp;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.get();
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
#endif
}

}  // namespace

uint64_t *warp_exchange(uint64_t v) {
    if (g_cur_thread < 0) die("a warp-wide intrinsic outside a kernel");
    Warp &w = g_cur->warps[size_t(g_pos.warp)];
    const unsigned gen = w.gen;
    w.slots[gen & 1][g_pos.lane] = v;  // (one fiber of ThreadSanitizer's for the warp: nothing to order)
    if (++w.arrived == w.alive)
        complete_warp(w);
    else
        wait_for(&w.gen, gen);
    return w.slots[gen & 1];
}

int block_barrier(int pred) {
    if (g_cur_thread < 0) die("__syncthreads outside a kernel");
    Block &B = *g_cur;
    const unsigned gen = B.gen;
    Warp &w = B.warps[size_t(g_pos.warp)];
    B.acc[gen & 1] += pred;
    hb_arrive(w, kBlockBarrier, gen, &B.bar_sync[gen & 1]);
    if (++B.arrived == B.alive)
        complete_block_barrier(B);
    else
        wait_for(&B.gen, gen);
    hb_leave(w, kBlockBarrier, gen, &B.bar_sync[gen & 1]);
    return B.result[gen & 1];
}

void grid_barrier() {
    if (g_cur_thread < 0 || !g_launch.cooperative) die("a grid-wide sync outside a cooperative launch");
    const unsigned gen = g_launch.grid_gen;
    Block &B = *g_cur;
    Warp &w = B.warps[size_t(g_pos.warp)];
    ++B.grid_arrived;
    hb_arrive(w, kGridBarrier, gen, &g_launch.grid_sync[gen & 1]);
    // Released by the scheduler once every thread of every block waits here.
    wait_for(&g_launch.grid_gen, gen);
    hb_leave(w, kGridBarrier, gen, &g_launch.grid_sync[gen & 1]);
}

void griddep_wait() {
    if (g_cur_thread < 0) die("griddepcontrol.wait outside a kernel");
    running_fiber().waited = true;
}

void griddep_launch_dependents() {
    if (g_cur_thread < 0) die("griddepcontrol.launch_dependents outside a kernel");
    if (!running_fiber().waited)
        die("griddepcontrol.launch_dependents before griddepcontrol.wait (the next kernel could run beside "
            "the one before this)");
}

unsigned cluster_size() { return g_launch.cluster; }

unsigned cluster_arrive() {
    if (g_cur_thread < 0 || g_launch.cluster < 2) die("a cluster barrier outside a cluster launch");
    ++g_cur->cluster_arrived;
    const size_t g = size_t(g_cur->slot) / g_launch.cluster;
    const unsigned gen = g_launch.cluster_gen[g];
    hb_arrive(g_cur->warps[size_t(g_pos.warp)], kClusterBarrier, gen, &g_launch.cluster_sync[g][gen & 1]);
    return gen;
}

void cluster_wait(unsigned gen) {
    if (g_cur_thread < 0 || g_launch.cluster < 2) die("a cluster barrier outside a cluster launch");
    // Released by the scheduler once every thread of the cluster has arrived (at once if it already was).
    const size_t g = size_t(g_cur->slot) / g_launch.cluster;
    wait_for(&g_launch.cluster_gen[g], gen);
    hb_leave(g_cur->warps[size_t(g_pos.warp)], kClusterBarrier, gen, &g_launch.cluster_sync[g][gen & 1]);
}

// Block B's static shared memory up to `end` made fresh: addressable (under AddressSanitizer, which fences
// the rest off) and poisoned.
void fresh_static(Block &B, size_t end) {
    if (end <= B.poisoned) return;
    ASAN_UNPOISON_MEMORY_REGION(B.smem_static + B.poisoned, end - B.poisoned);
    fill_poison(B.smem_static + B.poisoned, end - B.poisoned);
    B.poisoned = end;
}

void *map_shared_rank(const void *p, unsigned rank) {
    if (g_cur_thread < 0 || g_launch.cluster < 2) die("map_shared_rank outside a cluster launch");
    if (rank >= g_launch.cluster) die("map_shared_rank: rank outside the cluster");
    Block &B = *g_cur;
    Block &R = *g_launch.slots[size_t(B.slot) / g_launch.cluster * g_launch.cluster + rank];
    if (!R.active) die("map_shared_rank: that block of the cluster has exited");
    // Variables that block has yet to reach hold garbage there too: poison them now (and not again when it
    // reaches them, which would erase what this block may write there), so that reading a partner's
    // shared memory before it was written reads NaN / all-ones, as in a block's own.
    fresh_static(R, g_launch.static_used);
    const unsigned char *q = static_cast<const unsigned char *>(p);
    if (q >= B.smem_static && q < B.smem_static + kSharedBytes) return R.smem_static + (q - B.smem_static);
    if (q >= B.smem_dynamic && q < B.smem_dynamic + kSharedBytes) return R.smem_dynamic + (q - B.smem_dynamic);
    die("map_shared_rank of an address outside the block's shared memory");
}

// The running block's copy of one `__shared__` variable (cu2cpp turns each declaration into a call with
// the address of a tag unique to the declaration and the kernel's instantiation). The launch lays the
// variables out in the order the threads first reach them; every block has its own memory.
void *shared_variable(const void *tag, size_t bytes, size_t align) {
    if (g_cur_thread < 0) die("a __shared__ variable outside a kernel");
    size_t offset = SIZE_MAX;
    for (const auto &e : g_launch.static_layout)
        if (e.first == tag) offset = e.second;
    if (offset == SIZE_MAX) {
        offset = (g_launch.static_used + align - 1) / align * align;
        if (offset + bytes + g_launch.dyn_bytes > kSharedBytes)
            die("static __shared__ variables and the launch's dynamic shared memory over 48 KB together (a "
                "GPU refuses the launch unless the kernel opts in with cudaFuncAttributeMaxDynamicSharedMemorySize)");
        g_launch.static_layout.push_back({tag, offset});
        g_launch.static_used = offset + bytes;
    }
    Block &B = *g_cur;
    fresh_static(B, offset + bytes);  // first use in this block: fresh (poisoned) memory, as on a GPU
    return B.smem_static + offset;
}

unsigned char *dynamic_shared() {
    if (g_cur_thread < 0) die("extern __shared__ memory outside a kernel");
    return g_cur->smem_dynamic;
}

namespace {

// A CUDA-valid launch shape (else the last error is set, as a refused launch would).
bool valid_config(const Cfg &cfg) {
    const dim3 g = cfg.grid, b = cfg.block;
    const uint64_t threads = uint64_t(b.x) * b.y * b.z;
    if (threads == 0 || threads > 1024 || b.z > 64 || g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 ||
        g.z > 65535 || cfg.smem > kSharedBytes) {
        g_last = cudaErrorInvalidConfiguration;
        return false;
    }
    if (threads % 32 != 0) die("block sizes that are not whole warps are not emulated");
    return true;
}

// The launch's blocks in a shuffled order (a fixed seed per launch, so runs repeat): a GPU promises no
// order, and a kernel that needs one (say, that the last block to arrive is the one with the highest
// index) should fail here rather than on a GPU.
std::vector<uint64_t> shuffled(uint64_t nblocks) {
    static uint64_t launches = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull * ++launches;
    auto next = [&rng] {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
    };
    std::vector<uint64_t> order(static_cast<size_t>(nblocks), 0);
    for (uint64_t i = 0; i < nblocks; ++i) order[size_t(i)] = i;
    for (uint64_t i = nblocks; i > 1; --i) std::swap(order[size_t(i - 1)], order[size_t(next() % i)]);
    return order;
}

// Block `blk` of the launch into a resident slot: fresh fibers at the kernel's start, poisoned shared memory.
void start_block(Block &B, uint64_t blk, const Cfg &cfg) {
    const dim3 g = cfg.grid, b = cfg.block;
    const size_t nthreads = size_t(b.x) * b.y * b.z;
    if (B.fibers.size() < nthreads) B.fibers.resize(nthreads);
    for (size_t i = 0; i < nthreads; ++i)
        if (!B.fibers[i].stack) B.fibers[i].stack.reset(new char[kStack]);
    B.warps.assign(nthreads / 32, Warp{});
    for (Warp &w : B.warps) w.alive = 32;
    B.idx = dim3(unsigned(blk % g.x), unsigned((blk / g.x) % g.y), unsigned(blk / (uint64_t(g.x) * g.y)));
    B.nthreads = int(nthreads);
    B.alive = int(nthreads);
    B.arrived = 0;
    B.acc[0] = B.acc[1] = 0;
    B.grid_arrived = 0;
    B.cluster_arrived = 0;
    B.lag = ordered_schedule() ? -1 : int(next_random() % (B.warps.size() > 1 ? B.warps.size() : 32));
    B.active = true;
    B.poisoned = 0;  // static variables are poisoned at their first use (shared_variable)
    ASAN_POISON_MEMORY_REGION(B.smem_static, kSharedBytes);
    ASAN_POISON_MEMORY_REGION(B.smem_dynamic, kSharedBytes);
    ASAN_UNPOISON_MEMORY_REGION(B.smem_dynamic, g_launch.dyn_bytes);
    fill_poison(B.smem_dynamic, g_launch.dyn_bytes);
    for (size_t i = 0; i < nthreads; ++i) {
        Fiber &f = B.fibers[i];
        f.done = false;
        f.waited = false;
        f.pos.tid = dim3(unsigned(i % b.x), unsigned((i / b.x) % b.y), unsigned(i / (size_t(b.x) * b.y)));
        f.pos.lane = int(i % 32);
        f.pos.warp = int(i / 32);
        start_fiber(f);
#if defined(EMU_TSAN)
        Warp &w = B.warps[size_t(f.pos.warp)];
        if (!w.tsan) w.tsan = tsan_fiber();
        f.tsan = w.tsan;
#endif
    }
    hb_release(&B.start_sync);  // the setup above (and the launch's arguments) before the block's threads
}

bool lags(const Block &B, int t) { return B.warps.size() > 1 ? t / 32 == B.lag : t == B.lag; }
bool parked(const Block &B) { return B.grid_arrived > 0 && B.grid_arrived == B.alive; }
bool runnable(const Fiber &f) { return !f.done && !(f.wait && *f.wait == f.wait_gen); }

// A round of the schedule (run_launch): its threads in their shuffled order, first all but the laggards,
// then the laggards of blocks where nothing else ran; after a thread that completes a __syncthreads, the
// threads that waited there (but the lagging warp), shuffled, before the rest of the round. Walked by
// next_in_round, from the scheduler for the first thread and from each thread that stops for the next.
struct Round {
    std::vector<std::pair<uint32_t, uint32_t>> order;  // (slot, thread)
    size_t pos = 0;
    bool laggards = false;
    std::vector<char> block_ran;   // per slot: a thread of the block that does not lag is in the round
    std::vector<char> group_busy;  // per cluster: a block of it that does not lag has a thread in the round
    const std::vector<size_t> *lag_slot = nullptr;  // per cluster: its lagging block's slot
    size_t cluster = 1;
    std::vector<int> woken;  // threads released by the last thread's __syncthreads, yet to run
    size_t woken_pos = 0;
    Block *woken_block = nullptr;
    Block *last = nullptr;   // the block of the last thread taken from `order`, and its barrier generation then
    unsigned last_gen = 0;
};
Round g_round;

Next next_in_round() {
    Round &R = g_round;
    if (R.last != nullptr) {
        // It completed a __syncthreads: the threads that waited there (but the lagging warp) go on now, before
        // the rest of the round, so a block reads what it just synchronised on while other blocks' threads of
        // this round have yet to run (a block publishing results before all its threads wrote them is then
        // caught).
        Block &L = *std::exchange(R.last, nullptr);
        if (L.gen != R.last_gen && !ordered_schedule()) {
            R.woken.clear();
            for (int u = 0; u < L.nthreads; ++u)
                if (L.fibers[size_t(u)].wait == &L.gen && !lags(L, u) && runnable(L.fibers[size_t(u)]))
                    R.woken.push_back(u);
            for (size_t i = R.woken.size(); i > 1; --i) std::swap(R.woken[i - 1], R.woken[size_t(next_random() % i)]);
            R.woken_pos = 0;
            R.woken_block = &L;
        }
    }
    while (R.woken_pos < R.woken.size()) {
        const int u = R.woken[R.woken_pos++];
        if (runnable(R.woken_block->fibers[size_t(u)])) return {R.woken_block, u};
    }
    for (;;) {
        while (R.pos < R.order.size()) {
            const auto st = R.order[R.pos++];
            Block &S = *g_launch.slots[st.first];
            if (lags(S, int(st.second)) != R.laggards || (R.laggards && R.block_ran[st.first])) continue;
            // The lagging block of a cluster, while another of its blocks can run.
            if (R.cluster > 1 && st.first == (*R.lag_slot)[st.first / R.cluster] && R.group_busy[st.first / R.cluster])
                continue;
            if (!runnable(S.fibers[st.second])) continue;  // made to wait by a thread that ran earlier in this round
            R.last = &S;
            R.last_gen = S.gen;
            return {&S, int(st.second)};
        }
        if (R.laggards) return {nullptr, -1};
        R.laggards = true;
        R.pos = 0;
    }
}

// Runs the resident blocks' threads until every block of the launch has finished. A thread runs from one
// sync point to the next; one waiting at a barrier is not resumed until the barrier completes. Each round
// visits the runnable threads of all resident blocks in a new shuffled order, so code between sync points
// runs in a different interleaving of threads and blocks every time. In each block one warp (one lane, in
// a one-warp block), chosen at random, lags: it runs only in rounds where no other thread of its block
// can, so the rest of the block runs ahead as far as the barriers let it. A thread that reads what another
// writes without a barrier in between, or a block that overwrites shared memory a slow warp has yet to
// read, then gets or leaves wrong values, which the tests' comparisons catch. A round in which no thread
// can run, while some have not finished, is a deadlock (unless they all wait at a grid-wide sync).
//
// A cluster launch starts and refills slots a whole cluster at a time (`pending` then lists clusters): its
// blocks hold consecutive slots in rank order, and its barrier is released once every thread of its
// blocks has arrived; a block that exits while the others of its cluster wait there is a deadlock.
void run_launch(const Cfg &cfg, const std::vector<uint64_t> &pending, size_t nslots) {
    const size_t C = g_launch.cluster, ngroups = nslots / C;
    size_t next_block = 0, finished = 0;
    // In a cluster launch one block of each cluster, chosen at random, lags as a warp of each block does:
    // it runs only in rounds where no other block of its cluster can, so the others run ahead as far as
    // the cluster barrier lets them (one that leaves while the laggard still reads its shared memory, a
    // missing wait at the barrier, is then caught: map_shared_rank stops the run).
    std::vector<size_t> lag_slot(ngroups, SIZE_MAX);
    auto start_unit = [&](size_t group, uint64_t unit) {  // a block, or a cluster's blocks in rank order
        if (C == 1) return start_block(*g_launch.slots[group], unit, cfg);
        const uint64_t per_row = cfg.grid.x / C, x0 = (unit % per_row) * C, rest = unit / per_row;
        for (size_t k = 0; k < C; ++k) start_block(*g_launch.slots[group * C + k], x0 + k + uint64_t(cfg.grid.x) * rest, cfg);
        lag_slot[group] = ordered_schedule() ? SIZE_MAX : group * C + size_t(next_random() % C);
    };
    for (size_t s = 0; s < nslots; ++s) g_launch.slots[s]->active = false;
    for (size_t g = 0; g < ngroups; ++g)
        if (next_block < pending.size()) start_unit(g, pending[next_block++]);
    Round &R = g_round;
    R.block_ran.assign(nslots, 0);
    R.group_busy.assign(ngroups, 0);
    R.lag_slot = &lag_slot;
    R.cluster = C;
    for (;;) {
        bool any_active = false, all_parked = true;
        for (size_t s = 0; s < nslots; ++s) {
            Block &B = *g_launch.slots[s];
            if (B.active && B.alive == 0) {  // finished
                B.active = false;
                ++finished;
#if defined(EMU_TSAN)
                for (Warp &w : B.warps) g_tsan_pool.push_back(std::exchange(w.tsan, nullptr));
#endif
            }
        }
        for (size_t g = 0; g < ngroups; ++g) {  // a free group of slots takes the next block (cluster) of the launch
            bool free = true;
            for (size_t k = 0; k < C; ++k) free &= !g_launch.slots[g * C + k]->active;
            if (free && next_block < pending.size()) start_unit(g, pending[next_block++]);
        }
        for (size_t s = 0; s < nslots; ++s) {
            const Block &B = *g_launch.slots[s];
            if (B.active) {
                any_active = true;
                all_parked &= parked(B);
            }
        }
        if (!any_active) return;
        if (C > 1) {  // release each cluster barrier that every thread of its cluster has reached
            for (size_t g = 0; g < ngroups; ++g) {
                int arrived = 0, alive = 0;
                bool exited = false;
                for (size_t k = 0; k < C; ++k) {
                    const Block &B = *g_launch.slots[g * C + k];
                    if (!B.active) {
                        exited = true;
                        continue;
                    }
                    arrived += B.cluster_arrived;
                    alive += B.alive;
                }
                if (arrived == 0 || arrived < alive) continue;
                if (exited) {
                    g_block_idx = g_launch.slots[g * C]->idx;
                    g_pos = ThreadPos{};
                    die("deadlock: a block of a cluster exited while the others wait at the cluster barrier");
                }
                for (size_t k = 0; k < C; ++k) {
                    g_launch.slots[g * C + k]->cluster_arrived = 0;
                    hb_completed(*g_launch.slots[g * C + k], kClusterBarrier, g_launch.cluster_gen[g]);
                }
                ++g_launch.cluster_gen[g];
            }
        }
        if (g_launch.cooperative && all_parked) {
            // Every block of a cooperative launch is resident; one that has finished can never arrive.
            if (finished > 0) {
                for (size_t s = 0; s < nslots; ++s)
                    if (!g_launch.slots[s]->active) g_block_idx = g_launch.slots[s]->idx;
                g_pos = ThreadPos{};
                die("deadlock: a block finished without reaching the grid-wide sync that the others wait at");
            }
            for (size_t s = 0; s < nslots; ++s) {
                g_launch.slots[s]->grid_arrived = 0;
                hb_completed(*g_launch.slots[s], kGridBarrier, g_launch.grid_gen);
            }
            ++g_launch.grid_gen;  // every thread of every block has arrived: release them all
            continue;
        }
        R.order.clear();
        for (size_t s = 0; s < nslots; ++s) {
            const Block &B = *g_launch.slots[s];
            if (!B.active) continue;
            for (int t = 0; t < B.nthreads; ++t)
                if (runnable(B.fibers[size_t(t)])) R.order.push_back({uint32_t(s), uint32_t(t)});
        }
        if (R.order.empty()) die("deadlock: threads wait at barriers that cannot complete");
        if (!ordered_schedule())
            for (size_t i = R.order.size(); i > 1; --i) std::swap(R.order[i - 1], R.order[size_t(next_random() % i)]);
        std::fill(R.block_ran.begin(), R.block_ran.end(), 0);
        for (const auto &st : R.order)
            if (!lags(*g_launch.slots[st.first], int(st.second))) R.block_ran[st.first] = 1;
        std::fill(R.group_busy.begin(), R.group_busy.end(), 0);
        if (C > 1)
            for (const auto &st : R.order)
                if (st.first != lag_slot[st.first / C]) R.group_busy[st.first / C] = 1;
        R.pos = 0;
        R.laggards = false;
        R.woken.clear();
        R.woken_pos = 0;
        R.last = nullptr;
        const Next first = next_in_round();
        if (first.block != nullptr) to_fiber(*first.block, first.thread);  // the round's threads hand over to each other, the last back
        g_cur_thread = -1;
    }
}

void run(const Cfg &cfg, const std::function<void()> &body, uint64_t resident) {
    const uint64_t nblocks = uint64_t(cfg.grid.x) * cfg.grid.y * cfg.grid.z;
    g_grid_dim = cfg.grid;
    g_block_dim = cfg.block;
    g_launch.body = &body;
    g_launch.static_layout.clear();
    g_launch.static_used = 0;
    g_launch.dyn_bytes = cfg.smem;
    g_launch.grid_gen = 0;
    g_launch.pdl = cfg.pdl;
    const size_t nslots = size_t(std::min(nblocks, resident));
    while (g_launch.slots.size() < nslots) {
        g_launch.slots.push_back(std::make_unique<Block>());
        g_launch.slots.back()->slot = int(g_launch.slots.size() - 1);
    }
    g_launch.cluster_gen.assign(nslots / g_launch.cluster, 0u);
    g_launch.cluster_sync.assign(nslots / g_launch.cluster, std::array<char, 2>{});
#if defined(EMU_TSAN)
    g_sched_tsan = __tsan_get_current_fiber();
#endif
    run_launch(cfg, shuffled(nblocks / g_launch.cluster), nslots);
    hb_acquire(&g_launch.end_sync);  // every thread's accesses before the host's next
    g_launch.cooperative = false;
    g_launch.pdl = false;
    g_launch.cluster = 1;
    g_cur = nullptr;
    g_cur_thread = -1;
}

}  // namespace

int blocks_per_sm(unsigned block_threads) {
    return std::max(1, std::min(32, int(kThreadsPerSm / std::max(1u, block_threads))));
}

bool run_grid(const Cfg &cfg, const std::function<void()> &body) {
    if (!valid_config(cfg)) return false;
    log_call(Op::Launch, cfg.stream, cfg.pdl);
    // kSms blocks at a time (one per "SM"): enough to interleave blocks, few enough fibers to stay fast.
    run(cfg, body, ordered_schedule() ? 1 : uint64_t(kSms));
    return true;
}

// A cooperative launch: every block is resident (CUDA refuses the launch otherwise), so a grid-wide sync
// can hold them all; released when every thread of every block has arrived.
cudaError_t run_cooperative(const Cfg &cfg, const std::function<void()> &body) {
    if (!valid_config(cfg)) return cudaGetLastError();
    const uint64_t nblocks = uint64_t(cfg.grid.x) * cfg.grid.y * cfg.grid.z;
    if (nblocks > uint64_t(kSms) * uint64_t(blocks_per_sm(cfg.block.x * cfg.block.y * cfg.block.z)))
        return cudaErrorCooperativeLaunchTooLarge;
    log_call(Op::CooperativeLaunch, cfg.stream, cfg.pdl);
    g_launch.cooperative = true;
    run(cfg, body, nblocks);
    return cudaSuccess;
}

// A cluster launch: the blocks of a cluster are resident together (a few clusters at a time), so a cluster
// barrier can hold them and their shared memory can be mapped; released when all of its threads arrived.
unsigned cluster_of(const cudaLaunchConfig_t &cfg) {
    unsigned c = 1;
    for (unsigned i = 0; i < cfg.numAttrs; ++i)
        if (cfg.attrs[i].id == cudaLaunchAttributeClusterDimension) {
            const auto &d = cfg.attrs[i].val.clusterDim;
            if (d.y > 1 || d.z > 1) return 0;
            c = std::max(1u, d.x);
        }
    return c;
}

bool attr_set(const cudaLaunchConfig_t &cfg, cudaLaunchAttributeID id) {
    bool set = false;
    for (unsigned i = 0; i < cfg.numAttrs; ++i)
        if (cfg.attrs[i].id == id)
            set = id == cudaLaunchAttributeCooperative ? cfg.attrs[i].val.cooperative != 0
                                                       : cfg.attrs[i].val.programmaticStreamSerializationAllowed != 0;
    return set;
}

cudaError_t run_clustered(const Cfg &cfg, unsigned cluster, const std::function<void()> &body) {
    if (cluster <= 1) return run_grid(cfg, body) ? cudaSuccess : cudaGetLastError();
    if (!valid_config(cfg)) return cudaGetLastError();
    const unsigned per_device = unsigned(kSms * blocks_per_sm(cfg.block.x * cfg.block.y * cfg.block.z));
    if (cluster > 8 || cfg.grid.x % cluster != 0 || cluster > per_device) return cudaErrorInvalidClusterSize;
    log_call(Op::ClusterLaunch, cfg.stream, cfg.pdl);
    g_launch.cluster = cluster;
    run(cfg, body, ordered_schedule() ? cluster : per_device / cluster * cluster);
    return cudaSuccess;
}

// ---- PTX, from the PTX ISA's figures for ldmatrix and mma.m16n8k16 ------------------------------------
// ldmatrix .x4: lanes 8i..8i+7 give the addresses of rows 0..7 of matrix i (8 x 8 b16 each). Without
// .trans, thread t receives row t/4, elements 2(t%4) and 2(t%4)+1 of each matrix (low half first);
// with .trans, elements (row 2(t%4), col t/4) and (row 2(t%4)+1, col t/4).
void ldmatrix_x4(uint32_t (&r)[4], const void *row, bool trans) {
    const uint64_t *addr = warp_exchange(reinterpret_cast<uint64_t>(row));
    const int t = g_pos.lane;
    for (int i = 0; i < 4; ++i) {
        auto elem = [&](int rr, int cc) {
            const uint16_t *p = reinterpret_cast<const uint16_t *>(addr[8 * i + rr]);
#if defined(EMU_TSAN)
            __tsan_read2(const_cast<uint16_t *>(p + cc));  // this file is not instrumented: tell it of the read
#endif
            return uint32_t(p[cc]);
        };
        uint32_t lo, hi;
        if (!trans) {
            lo = elem(t / 4, 2 * (t % 4));
            hi = elem(t / 4, 2 * (t % 4) + 1);
        } else {
            lo = elem(2 * (t % 4), t / 4);
            hi = elem(2 * (t % 4) + 1, t / 4);
        }
        r[i] = lo | (hi << 16);
    }
    warp_exchange(0);  // no lane moves on (and may overwrite its rows) before all have read
}

// mma.m16n8k16 .row.col f32 += (bf16|f16): with g = lane/4, c = lane%4,
//   A: a0 = (g, 2c..2c+1), a1 = (g+8, 2c..), a2 = (g, 2c+8..), a3 = (g+8, 2c+8..)   [row, k]
//   B: b0 = (k 2c..2c+1, n g), b1 = (k 2c+8.., n g)
//   C/D: d0, d1 = (g, 2c..2c+1), d2, d3 = (g+8, 2c..)                                [row, n]
void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, bool bf16) {
    const uint64_t *a01 = warp_exchange(uint64_t(a[0]) | (uint64_t(a[1]) << 32));
    uint64_t A01[32];
    std::memcpy(A01, a01, sizeof A01);
    const uint64_t *a23 = warp_exchange(uint64_t(a[2]) | (uint64_t(a[3]) << 32));
    uint64_t A23[32];
    std::memcpy(A23, a23, sizeof A23);
    const uint64_t *bb = warp_exchange(uint64_t(b0) | (uint64_t(b1) << 32));
    uint64_t B[32];
    std::memcpy(B, bb, sizeof B);
    auto val = [bf16](uint32_t h) {
        return bf16 ? __bfloat162float(__nv_bfloat16{uint16_t(h)}) : __half2float(__half{uint16_t(h)});
    };
    auto half_of = [](uint64_t regs, int reg, int e) { return uint32_t(regs >> (32 * reg + 16 * e)) & 0xffffu; };
    // This lane's outputs need rows g and g + 8 of A (held by lanes 4g .. 4g + 3) and columns 2c and
    // 2c + 1 of B (held by lanes 4(2c) .. and 4(2c + 1) ..).
    const int g = g_pos.lane / 4, c = g_pos.lane % 4;
    float Arow[2][16], Bcol[2][16];
    for (int cc = 0; cc < 4; ++cc) {
        const int l = 4 * g + cc;
        for (int e = 0; e < 2; ++e) {
            Arow[0][2 * cc + e] = val(half_of(A01[l], 0, e));      // a0: (g, 2cc + e)
            Arow[1][2 * cc + e] = val(half_of(A01[l], 1, e));      // a1: (g + 8, 2cc + e)
            Arow[0][2 * cc + 8 + e] = val(half_of(A23[l], 0, e));  // a2: (g, 2cc + 8 + e)
            Arow[1][2 * cc + 8 + e] = val(half_of(A23[l], 1, e));  // a3: (g + 8, 2cc + 8 + e)
        }
    }
    for (int q = 0; q < 2; ++q) {
        const int col = 2 * c + q;  // held as "n = g'" by lanes 4 col .. 4 col + 3
        for (int cc = 0; cc < 4; ++cc) {
            const int l = 4 * col + cc;
            for (int e = 0; e < 2; ++e) {
                Bcol[q][2 * cc + e] = val(half_of(B[l], 0, e));      // b0: (k 2cc + e, n col)
                Bcol[q][2 * cc + 8 + e] = val(half_of(B[l], 1, e));  // b1: (k 2cc + 8 + e, n col)
            }
        }
    }
    for (int q = 0; q < 4; ++q) {  // d0, d1: row g; d2, d3: row g + 8; columns 2c, 2c + 1
        float s = d[q];
        for (int k = 0; k < 16; ++k) s += Arow[q >> 1][k] * Bcol[q & 1][k];
        d[q] = s;
    }
}

// ---- the call log ------------------------------------------------------------------------------------------
void log_call(Op op, const void *stream, bool pdl) {
    std::lock_guard<std::mutex> lock(g_calls_mu);
    g_calls.push_back({op, stream, pdl});
}
std::vector<Call> calls() {
    std::lock_guard<std::mutex> lock(g_calls_mu);
    return g_calls;
}
void clear_calls() {
    std::lock_guard<std::mutex> lock(g_calls_mu);
    g_calls.clear();
}
const char *op_name(Op op) {
    switch (op) {
    case Op::Launch: return "launch";
    case Op::CooperativeLaunch: return "cooperative launch";
    case Op::ClusterLaunch: return "cluster launch";
    case Op::Malloc: return "cudaMalloc";
    case Op::Free: return "cudaFree";
    case Op::PoolAlloc: return "cudaMallocFromPoolAsync";
    case Op::PoolFree: return "cudaFreeAsync";
    case Op::Memset: return "cudaMemset";
    case Op::MemsetAsync: return "cudaMemsetAsync";
    case Op::Memcpy: return "cudaMemcpy";
    case Op::DeviceSync: return "cudaDeviceSynchronize";
    case Op::EventRecord: return "cudaEventRecord";
    case Op::EventSync: return "cudaEventSynchronize";
    }
    return "?";
}

}  // namespace emu

// ---- runtime API ------------------------------------------------------------------------------------------
namespace {
struct Event {
    std::chrono::steady_clock::time_point t;
};
void *aligned(size_t bytes) {
    void *p = nullptr;
    return posix_memalign(&p, 256, bytes ? bytes : 1) == 0 ? p : nullptr;
}
}  // namespace

cudaError_t cudaGetDeviceCount(int *n) { return *n = 1, cudaSuccess; }
cudaError_t cudaGetDevice(int *dev) { return *dev = 0, cudaSuccess; }
cudaError_t cudaGetLastError() {
    const cudaError_t e = emu::g_last;
    emu::g_last = cudaSuccess;
    return e;
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    case cudaErrorInvalidClusterSize: return "invalid cluster size";
    }
    return "unknown error";
}
const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorCooperativeLaunchTooLarge: return "cudaErrorCooperativeLaunchTooLarge";
    case cudaErrorInvalidClusterSize: return "cudaErrorInvalidClusterSize";
    }
    return "cudaErrorUnknown";
}
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int) {
    switch (attr) {
    case cudaDevAttrMultiProcessorCount: *v = emu::kSms; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;  // as cudaGetDeviceProperties says
    case cudaDevAttrCooperativeLaunch:
    case cudaDevAttrClusterLaunch: *v = 1; break;
    default: *v = 0;
    }
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    std::memset(p, 0, sizeof *p);
    std::snprintf(p->name, sizeof p->name, "cuda_emu (CPU emulation)");
    p->major = 9;
    p->multiProcessorCount = emu::kSms;
    p->totalGlobalMem = size_t(1) << 32;
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return emu::log_call(emu::Op::DeviceSync, nullptr), cudaSuccess; }
cudaError_t cudaMalloc(void **p, size_t bytes) {
    emu::log_call(emu::Op::Malloc, nullptr);
    *p = aligned(bytes);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void *p) { return emu::log_call(emu::Op::Free, nullptr), std::free(p), cudaSuccess; }
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind) {
    emu::log_call(emu::Op::Memcpy, nullptr);
    if (bytes) std::memmove(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemset(void *p, int v, size_t bytes) {
    return emu::log_call(emu::Op::Memset, nullptr), std::memset(p, v, bytes), cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t st) {
    return emu::log_call(emu::Op::MemsetAsync, st), std::memset(p, v, bytes), cudaSuccess;
}
cudaError_t cudaMemPoolCreate(cudaMemPool_t *pool, const cudaMemPoolProps *) {
    *pool = reinterpret_cast<cudaMemPool_t>(new int(0));
    return cudaSuccess;
}
cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool) { return delete reinterpret_cast<int *>(pool), cudaSuccess; }
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void *) { return cudaSuccess; }
cudaError_t cudaMallocFromPoolAsync(void **p, size_t bytes, cudaMemPool_t, cudaStream_t st) {
    emu::log_call(emu::Op::PoolAlloc, st);
    *p = aligned(bytes);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeAsync(void *p, cudaStream_t st) { return emu::log_call(emu::Op::PoolFree, st), std::free(p), cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t *e) { return *e = reinterpret_cast<cudaEvent_t>(new Event{}), cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t st) {
    emu::log_call(emu::Op::EventRecord, st);
    reinterpret_cast<Event *>(e)->t = std::chrono::steady_clock::now();
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return emu::log_call(emu::Op::EventSync, nullptr), cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = std::chrono::duration<float, std::milli>(reinterpret_cast<Event *>(b)->t - reinterpret_cast<Event *>(a)->t).count();
    return cudaSuccess;
}
