// core/ops/shortcut.cpp — option-A shortcut: strided subsample + zero channel padding, and its backward
// (gather the middle channels of the gradient back to the sampled pixels; zeros elsewhere).
#include "core/ops/shortcut.h"

#include <cstring>

#include "core/autograd.h"
#include "core/error.h"
#include "core/profiler.h"

namespace tern {

Tensor shortcut_option_a(const Tensor& x_in, int64_t OC, int64_t stride) {
    ProfileScope scope(OpKind::Elementwise);
    TERN_CHECK(x_in.dim() == 4, "shortcut_option_a: input must be (N, H, W, C), got " << x_in.shape_str());
    const Tensor x = contiguous_data(x_in);
    const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
    TERN_CHECK(OC >= C && (OC - C) % 2 == 0 && stride >= 1,
               "shortcut_option_a: cannot pad " << C << " channels to " << OC << " symmetrically");
    const int64_t OH = (H + stride - 1) / stride, OW = (W + stride - 1) / stride, lo = (OC - C) / 2;
    Tensor y = Tensor::empty({N, OH, OW, OC});
    const float* px = x.data();
    float* py = y.data();
    // y[n, oh, ow, lo + c] = x[n, oh·s, ow·s, c], the other channels 0
#pragma omp parallel for collapse(2)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
                float* yp = py + ((n * OH + oh) * OW + ow) * OC;
                const float* xp = px + ((n * H + oh * stride) * W + ow * stride) * C;
                std::memset(yp, 0, sizeof(float) * size_t(lo));
                std::memcpy(yp + lo, xp, sizeof(float) * size_t(C));
                std::memset(yp + lo + C, 0, sizeof(float) * size_t(OC - lo - C));
            }
    record(y, "shortcut_option_a", {x_in}, [N, H, W, C, OH, OW, OC, lo, stride](const Tensor& gy) {
        ProfileScope scope(OpKind::Elementwise);
        Tensor gx = stride == 1 ? Tensor::empty({N, H, W, C}) : Tensor::zeros({N, H, W, C});
        const float* pg = gy.data();
        float* pgx = gx.data();
#pragma omp parallel for collapse(2)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow)
                    std::memcpy(pgx + ((n * H + oh * stride) * W + ow * stride) * C,
                                pg + ((n * OH + oh) * OW + ow) * OC + lo, sizeof(float) * size_t(C));
        return std::vector<Tensor>{gx};
    });
    return y;
}

}  // namespace tern
