// layers/init.cpp — the initializers of torch.nn.init that tern's models use.
#include "layers/init.h"

#include <cmath>

#include "core/error.h"

namespace tern {

int64_t fan_in(const Tensor& w) {
    TERN_CHECK(w.dim() >= 2, "fan_in: weight must have at least 2 dimensions, got " << w.shape_str());
    return w.numel() / w.size(0);
}

int64_t fan_out(const Tensor& w) {
    TERN_CHECK(w.dim() >= 2, "fan_out: weight must have at least 2 dimensions, got " << w.shape_str());
    return w.numel() / w.size(1);
}

void normal_(const Tensor& t, float mean, float std, Rng& rng) {
    TERN_CHECK(t.is_contiguous(), "normal_: tensor must be contiguous");
    float* p = t.data();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + std * rng.normal();
}

void uniform_(const Tensor& t, float lo, float hi, Rng& rng) {
    TERN_CHECK(t.is_contiguous(), "uniform_: tensor must be contiguous");
    float* p = t.data();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(lo, hi);
}

void kaiming_normal_(const Tensor& w, Rng& rng, FanMode mode) {
    const int64_t fan = mode == FanMode::In ? fan_in(w) : fan_out(w);
    normal_(w, 0.f, std::sqrt(2.f / float(fan)), rng);
}

void default_uniform_(const Tensor& t, int64_t fan, Rng& rng) {
    const float bound = 1.f / std::sqrt(float(fan));
    uniform_(t, -bound, bound, rng);
}

}  // namespace tern
