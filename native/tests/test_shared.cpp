// libsas_kernels.so itself: it loads (also without a GPU or driver), exports the C API and nothing
// else (no C++ internals, no static CUDA runtime symbols), and works end to end.
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sas_kernels.h"

static int g_pass = 0, g_fail = 0;
static constexpr bool kBuiltWithCuda = SAS_TEST_BUILT_WITH_CUDA;  // from CMake: SAS_WITH_CUDA
static void check(bool ok, const char *what) {
    if (ok) {
        ++g_pass;
    } else {
        ++g_fail;
        std::printf("FAIL %s\n", what);
    }
}

int main() {
    const int cuda = sas_cuda_available();
    check(cuda == 0 || cuda == 1, "sas_cuda_available() returns 0 or 1");
    std::printf("sas_version %s, sas_cuda_available %d\n", sas_version(), cuda);
    check(std::strcmp(sas_version(), "0.1.0") == 0, "version");
    // The build line: version, and the CUDA part as built (with its variants when the kernels are in).
    const std::string info = sas_build_info();
    std::printf("sas_build_info: %s\n", info.c_str());
    check(info.rfind("sas_kernels 0.1.0; CPU: ", 0) == 0, "build info starts with the version and the CPU");
    check(kBuiltWithCuda
              ? info.find("CUDA kernels: CUDA ") != std::string::npos &&
                    info.find("variants: SAS_CUDA_TC_GEMV=") != std::string::npos &&
                    (info.find("; device: ") != std::string::npos) == (cuda == 1)
              : info.find("CUDA kernels: not built") != std::string::npos,
          "build info says how CUDA was built and what it sees");
    setenv("SAS_CUDA_STEER_ONE", "1", 1);
    check(!kBuiltWithCuda ||
              std::string(sas_build_info()).find("SAS_CUDA_STEER_ONE=on (env)") != std::string::npos,
          "build info shows a variant switched by the environment");
    unsetenv("SAS_CUDA_STEER_ONE");

    void *h = dlopen(SAS_SHARED_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
    check(h != nullptr, "dlopen libsas_kernels.so");
    if (h) {
        const char *api[] = {"sas_last_error", "sas_status_name", "sas_cuda_available", "sas_version", "sas_build_info",
                             "sas_encode_dense", "sas_encode_sparse", "sas_encode_subset", "sas_topk_rows",
                             "sas_topk_abs", "sas_inject", "sas_pack_support", "sas_steer_fused"};
        for (const char *s : api) {
            char what[128];
            std::snprintf(what, sizeof what, "exports %s", s);
            check(dlsym(h, s) != nullptr, what);
        }
        const char *hidden[] = {"cudaGetDeviceCount", "cudaMalloc", "_ZN3sas11num_threadsEv",
                                "_ZN3sas8internal15built_with_cudaEv", "_ZN3sas11last_errorEv"};
        for (const char *s : hidden) {
            char what[128];
            std::snprintf(what, sizeof what, "does not export %s", s);
            check(dlsym(h, s) == nullptr, what);
        }
        dlclose(h);
    }

    // End to end through the shared library: a small ReLU encode and an error.
    const int64_t d = 5, m = 3;
    float x[d] = {1, 2, 3, 4, 5}, W[d * m], b[m] = {0.5f, -100.0f, 0.0f}, out[m];
    for (int i = 0; i < d * m; ++i) W[i] = float(i % 3) - 1.0f;  // columns: -1, 0, +1
    sas_status st = sas_encode_dense(SAS_DEVICE_CPU, nullptr, SAS_F32, x, d, 1, d, SAS_F32, W, b, nullptr, m,
                                     SAS_ACT_RELU, 0, out, m);
    check(st == SAS_OK && out[0] == 0.0f && out[1] == 0.0f && out[2] == 15.0f, "encode through the .so");
    st = sas_topk_rows(SAS_DEVICE_CPU, nullptr, SAS_F32, x, d, 1, d, 0, out, nullptr);
    check(st == SAS_ERR_BAD_K && std::strstr(sas_last_error(), "k") != nullptr, "error through the .so");
    if (!cuda) {
        st = sas_encode_dense(SAS_DEVICE_CUDA, nullptr, SAS_F32, x, d, 1, d, SAS_F32, W, b, nullptr, m, SAS_ACT_RELU, 0,
                              out, m);
        check(st == SAS_ERR_DEVICE, "CUDA without a GPU -> SAS_ERR_DEVICE");
        std::printf("CUDA request without a device: %s\n", sas_last_error());
    }
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
