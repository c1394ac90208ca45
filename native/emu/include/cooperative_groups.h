// Shadows <cooperative_groups.h> in the CPU emulation build: the grid-wide sync of a cooperative launch
// (emu::run_cooperative keeps every block's threads alive so they can all meet here) and thread-block
// clusters (emu::run_clustered).
#pragma once
#include "../cuda_emu.h"

namespace cooperative_groups {
struct grid_group {
    void sync() const { ::emu::grid_barrier(); }
};
inline grid_group this_grid() { return {}; }

// A cluster launch's block cluster (emu::run_clustered keeps its blocks resident together): the split
// barrier (arrive, then wait for all the cluster's threads to have arrived), and distributed shared memory.
struct cluster_group {
    struct arrival_token {
        unsigned gen;
    };
    static arrival_token barrier_arrive() { return {::emu::cluster_arrive()}; }
    static void barrier_wait(arrival_token &&t) { ::emu::cluster_wait(t.gen); }
    static void sync() { ::emu::cluster_wait(::emu::cluster_arrive()); }
    static unsigned block_rank() { return blockIdx.x % ::emu::cluster_size(); }
    static unsigned num_blocks() { return ::emu::cluster_size(); }
    template <class T> static T *map_shared_rank(T *p, int rank) {
        return static_cast<T *>(::emu::map_shared_rank(p, unsigned(rank)));
    }
};
inline cluster_group this_cluster() { return {}; }
}  // namespace cooperative_groups
