// Shadows <cooperative_groups.h> in the CPU emulation build: the grid-wide sync of a cooperative launch
// (emu::run_cooperative keeps every block's threads alive so they can all meet here).
#pragma once
#include "../cuda_emu.h"

namespace cooperative_groups {
struct grid_group {
    void sync() const { ::emu::grid_barrier(); }
};
inline grid_group this_grid() { return {}; }
}  // namespace cooperative_groups
