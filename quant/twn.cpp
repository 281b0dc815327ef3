// quant/twn.cpp — TWN forward (threshold 0.7·mean|w|, scale = mean kept magnitude) and its plain STE backward.
#include "quant/twn.h"

#include <cmath>

#include "core/autograd.h"
#include "core/kernels/double_sum.h"
#include "core/profiler.h"

namespace tern {

using kernels::double_sum;

TwnQuantizer::Terms TwnQuantizer::terms(const Tensor& w_in) {
    const Tensor w = contiguous_data(w_in);
    const float* p = w.data();
    const int64_t n = w.numel();
    const double sum_abs = double_sum(n, [p](int64_t i) { return std::fabs(double(p[i])); });
    const double delta = 0.7 * sum_abs / double(n);  // Δ ≈ 0.7·E|w| (TWN's approximation of the optimal threshold)
    const double kept = double_sum(n, [p, delta](int64_t i) { return std::fabs(p[i]) > delta ? std::fabs(double(p[i])) : 0.0; });
    const double count = double_sum(n, [p, delta](int64_t i) { return std::fabs(p[i]) > delta ? 1.0 : 0.0; });
    return {delta, count > 0 ? kept / count : 0.0};
}

// α·Tern(w): codes in {−1, 0, +1} times `scale` (1 for the codes themselves).
static Tensor scaled_codes(const Tensor& w, double delta, float scale) {
    Tensor c = Tensor::empty(w.shape());
    const float* p = w.data();
    float* q = c.data();
    const float d = float(delta);
    for (int64_t i = 0; i < w.numel(); ++i) q[i] = std::fabs(p[i]) > d ? (p[i] > 0 ? scale : -scale) : 0.f;
    return c;
}

Tensor TwnQuantizer::codes(const Tensor& w_in) {
    const Tensor w = contiguous_data(w_in);
    return scaled_codes(w, terms(w).delta, 1.f);
}

Tensor TwnQuantizer::scales(const Tensor& w) { return Tensor::full({w.size(0)}, float(terms(w).alpha)); }

Tensor TwnQuantizer::forward(const Tensor& w) {
    ProfileScope scope(OpKind::Quantizer);
    const Tensor wc = contiguous_data(w);
    const Terms t = terms(wc);
    Tensor out = scaled_codes(wc, t.delta, float(t.alpha));
    record(out, "twn_quantize", {w}, [](const Tensor& g) { return std::vector<Tensor>{g}; });  // plain STE
    return out;
}

nlohmann::json TwnQuantizer::stats(const Tensor& w) {
    const Terms t = terms(w);
    return {{"sparsity", sparsity(codes(w))}, {"delta", t.delta}, {"S", t.alpha}};
}

}  // namespace tern
