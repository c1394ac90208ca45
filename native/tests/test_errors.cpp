// Every status code reachable on the CPU: the right status and a non-empty message naming the
// argument. Also: n = 0 no-ops, sas_last_error() cleared by a successful call, status names.
#include <sys/resource.h>

#include <fstream>

#include "test_util.h"

using namespace t;

namespace {

void expect(sas_status got, sas_status want, const char *needle, const char *what) {
    g_ctx = what;
    const char *msg = sas_last_error();
    check(got == want, "returned %s, expected %s (message: %s)", sas_status_name(got), sas_status_name(want), msg);
    check(msg != nullptr && msg[0] != '\0', "empty message for %s", sas_status_name(want));
    check(msg != nullptr && std::strstr(msg, needle) != nullptr, "message '%s' does not name '%s'", msg ? msg : "",
          needle);
}

}  // namespace

int main() {
    const int64_t n = 3, d = 64, m = 1000;
    std::vector<float> x(size_t(n * d) + 4, 0.5f), W(size_t(d * m), 0.01f), b(size_t(m), 0.0f), th(size_t(m), 0.1f);
    std::vector<float> out(size_t(n * m) + 8), vals(size_t(n * 1024)), Wd(size_t(m * d), 0.02f);
    std::vector<int64_t> idx(size_t(n * 1024), 0);
    std::vector<int32_t> cnt(static_cast<size_t>(n));
    std::vector<float> co(size_t(n * 4), 1.0f), vS(4, 1.0f);
    std::vector<int64_t> S{1, 2, 3, 4};
    std::vector<float> WeS(size_t(4 * d)), beS(4), thS(4), WdS(size_t(4 * d));
    const sas_device C = SAS_DEVICE_CPU;
    const sas_dtype F = SAS_F32;

    // Sanity: valid calls succeed and leave an empty message.
    g_ctx = "valid call";
    check_ok(sas_encode_dense(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_JUMPRELU,
                              0, out.data(), m),
             "sas_encode_dense");
    check(sas_last_error()[0] == '\0', "message not cleared after success");

    // ---- SAS_ERR_NULL_POINTER
    expect(sas_encode_dense(C, nullptr, F, nullptr, d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0,
                            out.data(), m),
           SAS_ERR_NULL_POINTER, "x", "null x");
    expect(sas_encode_dense(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), nullptr, m, SAS_ACT_JUMPRELU, 0,
                            out.data(), m),
           SAS_ERR_NULL_POINTER, "threshold", "null threshold with JumpReLU");
    expect(sas_encode_sparse(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0, 4,
                             idx.data(), vals.data(), nullptr),
           SAS_ERR_NULL_POINTER, "out_count", "null out_count");
    expect(sas_topk_rows(C, nullptr, F, x.data(), d, n, d, 4, nullptr, idx.data()), SAS_ERR_NULL_POINTER, "out_values",
           "null out_values");
    expect(sas_inject(C, nullptr, F, x.data(), d, n, d, F, Wd.data(), m, 4, nullptr, co.data()), SAS_ERR_NULL_POINTER,
           "indices", "null indices");
    expect(sas_steer_fused(C, nullptr, F, x.data(), d, n, d, F, WeS.data(), beS.data(), thS.data(), WdS.data(), 4,
                           SAS_ACT_JUMPRELU, nullptr, 1.0f, nullptr),
           SAS_ERR_NULL_POINTER, "v_S", "null v_S");
    expect(sas_pack_support(C, nullptr, F, W.data(), b.data(), th.data(), Wd.data(), d, m, S.data(), 4, WeS.data(),
                            beS.data(), nullptr, WdS.data()),
           SAS_ERR_NULL_POINTER, "thr_S", "threshold without thr_S");

    // ---- SAS_ERR_BAD_SIZE
    expect(sas_encode_dense(C, nullptr, F, x.data(), d, -1, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0,
                            out.data(), m),
           SAS_ERR_BAD_SIZE, "n", "n < 0");
    expect(sas_encode_dense(C, nullptr, F, x.data(), d, n, 0, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0,
                            out.data(), m),
           SAS_ERR_BAD_SIZE, "d", "d = 0");
    expect(sas_encode_dense(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), (int64_t(1) << 24) + 1,
                            SAS_ACT_RELU, 0, out.data(), int64_t(1) << 25),
           SAS_ERR_BAD_SIZE, "m", "m too big");
    expect(sas_encode_dense(C, nullptr, F, x.data(), d - 1, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0,
                            out.data(), m),
           SAS_ERR_BAD_SIZE, "ldx", "ldx < d");
    expect(sas_encode_dense(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0,
                            out.data(), m - 1),
           SAS_ERR_BAD_SIZE, "ld_out", "ld_out < m");
    expect(sas_encode_sparse(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0,
                             -1, idx.data(), vals.data(), cnt.data()),
           SAS_ERR_BAD_SIZE, "max_nnz", "max_nnz < 0");
    expect(sas_inject(C, nullptr, F, x.data(), d, n, d, F, Wd.data(), m, -2, idx.data(), co.data()), SAS_ERR_BAD_SIZE,
           "nnz", "nnz < 0");
    expect(sas_encode_subset(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU,
                             S.data(), -4, out.data(), 4),
           SAS_ERR_BAD_SIZE, "s", "s < 0");
    expect(sas_topk_rows(C, nullptr, F, x.data(), d, n, d + 1, 4, vals.data(), idx.data()), SAS_ERR_BAD_SIZE, "ldx",
           "topk ldx < m");

    // ---- SAS_ERR_BAD_K
    expect(sas_topk_rows(C, nullptr, F, x.data(), d, n, d, 0, vals.data(), idx.data()), SAS_ERR_BAD_K, "k", "k = 0");
    expect(sas_topk_rows(C, nullptr, F, x.data(), d, n, d, int32_t(d) + 1, vals.data(), idx.data()), SAS_ERR_BAD_K, "k",
           "k > m");
    expect(sas_topk_abs(C, nullptr, F, W.data(), 50000, 1025, vals.data(), idx.data()), SAS_ERR_BAD_K, "k",
           "k > 1024");
    expect(sas_encode_dense(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_TOPK, 0,
                            out.data(), m),
           SAS_ERR_BAD_K, "k", "TopK encode with k = 0");

    // ---- SAS_ERR_DTYPE
    expect(sas_encode_dense(C, nullptr, SAS_BF16, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU,
                            0, out.data(), m),
           SAS_ERR_DTYPE, "x_dtype", "mismatched dtypes");
    expect(sas_topk_rows(C, nullptr, sas_dtype(7), x.data(), d, n, d, 4, vals.data(), idx.data()), SAS_ERR_DTYPE,
           "dtype", "unknown dtype");
    expect(sas_inject(C, nullptr, F, x.data(), d, n, d, SAS_F16, Wd.data(), m, 4, idx.data(), co.data()),
           SAS_ERR_DTYPE, "w_dtype", "inject mismatched dtypes");

    // ---- SAS_ERR_ALIGNMENT
    const void *mis = reinterpret_cast<const char *>(x.data()) + 2;
    expect(sas_encode_dense(C, nullptr, F, mis, d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU, 0,
                            out.data(), m),
           SAS_ERR_ALIGNMENT, "x", "misaligned x");
    expect(sas_topk_rows(C, nullptr, F, x.data(), d, n, d, 4, vals.data(),
                         reinterpret_cast<int64_t *>(reinterpret_cast<char *>(idx.data()) + 4)),
           SAS_ERR_ALIGNMENT, "out_indices", "misaligned out_indices");
    expect(sas_topk_rows(C, nullptr, SAS_BF16, reinterpret_cast<const char *>(x.data()) + 1, d, n, d, 4, vals.data(),
                         idx.data()),
           SAS_ERR_ALIGNMENT, "x", "misaligned bf16 x");

    // ---- SAS_ERR_DEVICE
    expect(sas_encode_dense(sas_device(5), nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m,
                            SAS_ACT_RELU, 0, out.data(), m),
           SAS_ERR_DEVICE, "device", "unknown device");
    if (!sas_cuda_available()) {
        expect(sas_encode_dense(SAS_DEVICE_CUDA, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m,
                                SAS_ACT_RELU, 0, out.data(), m),
               SAS_ERR_DEVICE, "device", "CUDA requested without CUDA");
        expect(sas_topk_abs(SAS_DEVICE_CUDA, nullptr, F, W.data(), m, 4, vals.data(), idx.data()), SAS_ERR_DEVICE,
               "CUDA", "CUDA topk without CUDA");
    }

    // ---- SAS_ERR_UNSUPPORTED
    expect(sas_encode_subset(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_TOPK,
                             S.data(), 4, out.data(), 4),
           SAS_ERR_UNSUPPORTED, "TopK", "TopK in encode_subset");
    expect(sas_steer_fused(C, nullptr, F, x.data(), d, n, d, F, WeS.data(), beS.data(), thS.data(), WdS.data(), 4,
                           SAS_ACT_TOPK, vS.data(), 1.0f, nullptr),
           SAS_ERR_UNSUPPORTED, "TopK", "TopK in steer_fused");
    expect(sas_encode_dense(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, sas_activation(9), 0,
                            out.data(), m),
           SAS_ERR_UNSUPPORTED, "act", "unknown activation");

    // ---- SAS_ERR_INDEX
    std::vector<int64_t> bad_idx(size_t(n * 4), 1);
    bad_idx[5] = m;
    expect(sas_inject(C, nullptr, F, x.data(), d, n, d, F, Wd.data(), m, 4, bad_idx.data(), co.data()), SAS_ERR_INDEX,
           "indices", "inject index >= m");
    std::vector<int64_t> bad_S{1, -1, 2, 3};
    expect(sas_encode_subset(C, nullptr, F, x.data(), d, n, d, F, W.data(), b.data(), th.data(), m, SAS_ACT_RELU,
                             bad_S.data(), 4, out.data(), 4),
           SAS_ERR_INDEX, "S", "encode_subset negative index");
    bad_S[1] = m + 5;
    expect(sas_pack_support(C, nullptr, F, W.data(), b.data(), th.data(), Wd.data(), d, m, bad_S.data(), 4, WeS.data(),
                            beS.data(), thS.data(), WdS.data()),
           SAS_ERR_INDEX, "S", "pack_support index >= m");

    // ---- n = 0 (and s = 0, nnz = 0) are no-ops even with NULL data pointers
    g_ctx = "no-ops";
    check_ok(sas_encode_dense(C, nullptr, F, nullptr, d, 0, d, F, nullptr, nullptr, nullptr, m, SAS_ACT_JUMPRELU, 0,
                              nullptr, m),
             "encode_dense n=0");
    check_ok(sas_steer_fused(C, nullptr, F, x.data(), d, n, d, F, nullptr, nullptr, nullptr, nullptr, 0,
                             SAS_ACT_RELU, nullptr, 1.0f, nullptr),
             "steer_fused s=0");
    check_ok(sas_inject(C, nullptr, F, x.data(), d, n, d, F, Wd.data(), m, 0, nullptr, nullptr), "inject nnz=0");

    // ---- names and version
    g_ctx = "names";
    for (int st = 0; st <= 10; ++st)
        check(std::strncmp(sas_status_name(sas_status(st)), "SAS_", 4) == 0, "status %d has no name", st);
    check(std::strcmp(sas_status_name(SAS_ERR_INDEX), "SAS_ERR_INDEX") == 0, "SAS_ERR_INDEX name");
    check(std::strcmp(sas_version(), "0.1.0") == 0, "version is %s", sas_version());

    // ---- SAS_ERR_ALLOC: cap the address space, then ask encode_sparse for 64 MiB of scratch (m = 2^24).
    // (Not under AddressSanitizer or ThreadSanitizer, whose shadow memory does not live with an address-space
    // cap: their allocators stop the process where malloc would return null.)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    std::printf("note: built with a sanitizer, SAS_ERR_ALLOC not exercised\n");
    if (false) {
#else
    {
#endif
        const int64_t mb = int64_t(1) << 24;
        std::vector<float> Wbig(size_t(mb), 0.0f), bbig(size_t(mb), 1.0f);
        float x1 = 1.0f;
        int32_t c1 = 0;
        long pages = 0;
        {
            std::ifstream f("/proc/self/statm");
            f >> pages;
        }
        rlimit old{};
        getrlimit(RLIMIT_AS, &old);
        rlimit lim = old;
        lim.rlim_cur = rlim_t(pages) * 4096 + (rlim_t(16) << 20);
        if (pages > 0 && setrlimit(RLIMIT_AS, &lim) == 0) {
            expect(sas_encode_sparse(C, nullptr, F, &x1, 1, 1, 1, F, Wbig.data(), bbig.data(), nullptr, mb,
                                     SAS_ACT_RELU, 0, 0, nullptr, nullptr, &c1),
                   SAS_ERR_ALLOC, "alloc", "scratch allocation fails");
            setrlimit(RLIMIT_AS, &old);
        } else {
            std::printf("note: could not cap RLIMIT_AS, SAS_ERR_ALLOC not exercised\n");
        }
    }
    return summary("test_errors");
}
