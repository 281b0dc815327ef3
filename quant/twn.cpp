// quant/twn.cpp — TWN forward (threshold 0.7·mean|w|, scale = mean kept magnitude) and its plain STE backward.
#include "quant/twn.h"

#include <cmath>

#include "core/autograd.h"
#include "core/profiler.h"

namespace tern {

TwnQuantizer::Terms TwnQuantizer::terms(const Tensor& w_in) {
    const Tensor w = contiguous_data(w_in);
    const float* p = w.data();
    const int64_t n = w.numel();
    double sum_abs = 0;
    for (int64_t i = 0; i < n; ++i) sum_abs += std::fabs(p[i]);
    const double delta = 0.7 * sum_abs / double(n);  // Δ ≈ 0.7·E|w| (TWN's approximation of the optimal threshold)
    double kept = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i)
        if (std::fabs(p[i]) > delta) kept += std::fabs(p[i]), ++count;
    return {delta, count ? kept / double(count) : 0.0};
}

Tensor TwnQuantizer::codes(const Tensor& w_in) {
    const Terms t = terms(w_in);
    const Tensor w = contiguous_data(w_in);
    Tensor c = Tensor::empty(w.shape());
    for (int64_t i = 0; i < w.numel(); ++i) {
        const float v = w.data()[i];
        c.data()[i] = std::fabs(v) > t.delta ? (v > 0 ? 1.f : -1.f) : 0.f;
    }
    return c;
}

Tensor TwnQuantizer::scales(const Tensor& w) { return Tensor::full({w.size(0)}, float(terms(w).alpha)); }

Tensor TwnQuantizer::forward(const Tensor& w) {
    ProfileScope scope(OpKind::Quantizer);
    const float alpha = float(terms(w).alpha);
    Tensor out = codes(w);
    for (int64_t i = 0; i < out.numel(); ++i) out.data()[i] *= alpha;
    record(out, "twn_quantize", {w}, [](const Tensor& g) { return std::vector<Tensor>{g}; });  // plain STE
    return out;
}

nlohmann::json TwnQuantizer::stats(const Tensor& w) {
    const Terms t = terms(w);
    return {{"sparsity", sparsity(codes(w))}, {"delta", t.delta}, {"S", t.alpha}};
}

}  // namespace tern
