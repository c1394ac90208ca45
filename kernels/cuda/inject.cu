// Placeholder (milestone 1): the CUDA inject kernels follow in milestone 2.
#include "cuda_common.cuh"
