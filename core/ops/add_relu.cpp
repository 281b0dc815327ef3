// core/ops/add_relu.cpp — fused residual add + ReLU, forward and backward.
#include "core/ops/add_relu.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace tern {

Tensor add_relu(const Tensor& a_in, const Tensor& b_in) {
    ProfileScope scope(OpKind::Elementwise);
    TERN_CHECK(a_in.shape() == b_in.shape(), "add_relu: shapes " << a_in.shape_str() << " and " << b_in.shape_str()
                                                                 << " differ");
    const Tensor a = contiguous_data(a_in), b = contiguous_data(b_in);
    Tensor y = Tensor::empty(a.shape());
    const float *pa = a.data(), *pb = b.data();
    float* py = y.data();
    const int64_t n = y.numel();
#pragma omp parallel for simd if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        const float v = pa[i] + pb[i];
        py[i] = v > 0.f ? v : 0.f;
    }
    record(y, "add_relu", {a_in, b_in}, [y = y.detach()](const Tensor& gy) {
        ProfileScope scope(OpKind::Elementwise);
        Tensor g = Tensor::empty(y.shape());
        const float *py = y.data(), *pg = gy.data();
        float* p = g.data();
        const int64_t n = y.numel();
#pragma omp parallel for simd if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) p[i] = py[i] > 0.f ? pg[i] : 0.f;
        return std::vector<Tensor>{g, g};  // the same gradient flows into both branches
    });
    return y;
}

}  // namespace tern
