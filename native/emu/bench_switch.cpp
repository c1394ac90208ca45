// The emulation's cost per sync point: a kernel that only synchronises, timed per thread and sync (a
// warp-wide shuffle, or __syncthreads), for a few launch shapes. Every sync point of an emulated thread is
// a fiber switch, so this is what bounds the emulated tests' time (README.md, "Cost of a switch").
//   cmake --build build-emu --target emu_bench_switch && build-emu/native/emu/emu_bench_switch
#include <chrono>
#include <cstdio>
#include <vector>

#include "cuda_emu.h"

__global__ void shfl_kernel(float *out, int iters) {
    float v = float(threadIdx.x);
    for (int i = 0; i < iters; ++i) v += __shfl_xor_sync(0xffffffffu, v, 1);
    out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

__global__ void barrier_kernel(float *out, int iters) {
    float v = float(threadIdx.x);
    for (int i = 0; i < iters; ++i) {
        v += 1.0f;
        __syncthreads();
    }
    out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

int main() {
    const int iters = 2000;
    const int shapes[][2] = {{1, 32}, {1, 256}, {4, 256}, {4, 1024}};  // (blocks, threads per block)
    std::vector<float> out(4 * 1024);
    for (const auto &sh : shapes) {
        double ns[2];
        for (int kind = 0; kind < 2; ++kind) {
            const auto t0 = std::chrono::steady_clock::now();
            emu::launch(kind == 0 ? shfl_kernel : barrier_kernel, emu::Cfg(dim3(unsigned(sh[0])), dim3(unsigned(sh[1]))),
                        out.data(), iters);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ns[kind] = s * 1e9 / (double(sh[0]) * sh[1] * iters);
        }
        std::printf("%d blocks x %4d threads: %6.1f ns per thread and __shfl_xor_sync, %6.1f per __syncthreads\n",
                    sh[0], sh[1], ns[0], ns[1]);
    }
    return 0;
}
