// Columns of a row-major matrix gathered as contiguous rows: the support of a steering vector taken out of
// W_enc [d, m] (pack_support, encode_subset).
#include <algorithm>

#include "cpu_kernels.h"
#include "parallel.h"

namespace sas {
namespace cpu {

// Walks W row by row (threads over rows of W), so each row's pages are touched once for all s columns
// instead of `rows` strided rows per column; the time goes into the reads, one cache line per value. Tried in
// session 23 and not kept (native/bench/RESULTS-cpu.md): tiles written as whole lines, software prefetches of
// later rows, chunks of 16 rows, the loop as a template over the element type. The cost floor of 32 columns
// sends s = 8 at d = 2304 to the pool (1.4x faster than one thread) and keeps chunks of >= 64 rows up to
// s = 256.
void gather_columns(size_t es, const void *W, int64_t rows, int64_t ld, const int64_t *S, int64_t s, void *out) {
    if (rows == 0 || s == 0) return;
    const char *w = static_cast<const char *>(W);
    char *o = static_cast<char *>(out);
    parallel_for(rows, std::max<int64_t>(s, 32) * 4, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
            const char *src = w + size_t(k * ld) * es;
            if (es == 4) {
                const float *sr = reinterpret_cast<const float *>(src);
                float *of = reinterpret_cast<float *>(o);
                for (int64_t i = 0; i < s; ++i) of[i * rows + k] = sr[S[i]];
            } else {
                const uint16_t *sr = reinterpret_cast<const uint16_t *>(src);
                uint16_t *oh = reinterpret_cast<uint16_t *>(o);
                for (int64_t i = 0; i < s; ++i) oh[i * rows + k] = sr[S[i]];
            }
        }
    });
}

}  // namespace cpu
}  // namespace sas
