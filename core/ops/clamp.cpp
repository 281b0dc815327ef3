// core/ops/clamp.cpp — clamp forward and backward.
#include "core/ops/clamp.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace tern {

// y = min(max(x, lo), hi);   ∂L/∂x = ∂L/∂y · 1[lo < y < hi]   (y equals x exactly where lo < x < hi, so the
// mask can be read off the output, and x need not be kept)
Tensor clamp(const Tensor& x_in, float lo, float hi) {
    ProfileScope scope(OpKind::Elementwise);
    TERN_CHECK(lo <= hi, "clamp: the lower bound " << lo << " exceeds the upper bound " << hi);
    const Tensor x = contiguous_data(x_in);
    Tensor y = Tensor::empty(x.shape());
    const float* px = x.data();
    float* py = y.data();
    const int64_t n = y.numel();
#pragma omp parallel for simd if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) py[i] = std::min(std::max(px[i], lo), hi);

    record(y, "clamp", {x_in}, [y = y.detach(), lo, hi](const Tensor& gy_in) {
        ProfileScope scope(OpKind::Elementwise);
        const Tensor gy = contiguous_data(gy_in);
        Tensor gx = Tensor::empty(y.shape());
        const float *py = y.data(), *pg = gy.data();
        float* p = gx.data();
        const int64_t n = y.numel();
#pragma omp parallel for simd if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) p[i] = (py[i] > lo && py[i] < hi) ? pg[i] : 0.f;
        return std::vector<Tensor>{gx};
    });
    return y;
}

}  // namespace tern
