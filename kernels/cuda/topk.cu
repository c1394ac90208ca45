// Placeholder (milestone 1): the CUDA topk kernels follow in milestone 2.
#include "cuda_common.cuh"
