// Shadows <cooperative_groups.h> in the CPU emulation build. The emulated device reports no cooperative
// launch support, so the library never launches a kernel that reaches a grid-wide sync; one that did
// would stop here.
#pragma once
#include <cstdio>
#include <cstdlib>

#include "../cuda_emu.h"

namespace cooperative_groups {
struct grid_group {
    void sync() const {
        std::fprintf(stderr, "cuda_emu: grid-wide sync is not emulated\n");
        std::abort();
    }
};
inline grid_group this_grid() { return {}; }
}  // namespace cooperative_groups
