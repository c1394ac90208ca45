// Shadows the CUDA header of the same name in the CPU emulation build (native/emu/cuda_emu.h).
#pragma once
#include "../cuda_emu.h"
