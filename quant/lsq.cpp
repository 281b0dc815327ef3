// quant/lsq.cpp — LSQ forward and backward (equations in lsq.h).
#include "quant/lsq.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace tern {

LsqQuantizer::LsqQuantizer(int bits) : bits_(bits) {
    TERN_CHECK(bits >= 2 && bits <= 8, "LSQ: activation bits must be in [2, 8], got " << bits);
    s = Tensor::ones({1});
    signed_ = Tensor::zeros({1});
    register_parameter("step", &s);
    register_buffer("signed", &signed_);
}

Tensor LsqQuantizer::forward(const Tensor& v_in) {
    if (!enabled) return v_in;
    ProfileScope scope(OpKind::Quantizer);
    const Tensor v = contiguous_data(v_in);
    const float* pv = v.data();
    const int64_t n = v.numel();
    TERN_CHECK(n > 0 && v.dim() >= 1, "LSQ: empty input");
    if (!initialized()) {  // first batch: signedness and s = 2·mean|v|/√Q_P
        double sum_abs = 0;
        bool negative = false;
        for (int64_t i = 0; i < n; ++i) sum_abs += std::fabs(pv[i]), negative = negative || pv[i] < 0.f;
        signed_.fill_(negative ? 1.f : -1.f);
        const double mean_abs = sum_abs / double(n);
        s.fill_(float(std::max(2.0 * mean_abs / std::sqrt(double(qp())), 1e-8)));
    }
    const float step = s.item(), lo = -float(qn()), hi = float(qp());
    TERN_CHECK(step > 0.f && std::isfinite(step), "LSQ: the step size became " << step << " (diverged?)");
    Tensor out = Tensor::empty(v.shape());
    float* po = out.data();
    const float inv = 1.f / step;
#pragma omp parallel for simd if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {  // plain conditionals (not std::min/max): GCC vectorizes this form
        float q = pv[i] * inv;
        q = q < lo ? lo : q;
        q = q > hi ? hi : q;
        po[i] = std::nearbyint(q) * step;
    }

    const double grad_scale = 1.0 / std::sqrt(double(n / v.size(0)) * double(qp()));  // g = 1/√(N·Q_P)
    record(out, "lsq", {v_in, s}, [v = v.detach(), step, lo, hi, grad_scale](const Tensor& g) {
        ProfileScope scope(OpKind::Quantizer);
        const int64_t n = v.numel();
        Tensor gv = Tensor::empty(v.shape());
        const float *pv = v.data(), *pg = g.data();
        float* pgv = gv.data();
        const float inv = 1.f / step;
        double gs = 0;
#pragma omp parallel for simd reduction(+ : gs) if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) {
            const float q = pv[i] * inv;
            const bool inside = q > lo && q < hi;
            pgv[i] = inside ? pg[i] : 0.f;                                           // ∂v̂/∂v
            const float dvds = q <= lo ? lo : q >= hi ? hi : std::nearbyint(q) - q;  // ∂v̂/∂s
            gs += double(pg[i] * dvds);
        }
        return std::vector<Tensor>{gv, Tensor::full({1}, float(gs * grad_scale))};
    });
    return out;
}

nlohmann::json LsqQuantizer::stats() const {
    return {{"bits", bits_}, {"signed", is_signed()}, {"step", step()}, {"levels", qn() + qp() + 1}};
}

}  // namespace tern
