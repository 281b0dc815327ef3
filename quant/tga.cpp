// quant/tga.cpp — TGA forward and backward (equations in tga.h).
#include "quant/tga.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/double_sum.h"
#include "core/profiler.h"
#include "quant/truncated_normal.h"

namespace tern {

using kernels::double_sum;

TgaQuantizer::TgaQuantizer(const Tensor& w, TgaOptions o) : options(o) {
    const Tensor wc = contiguous_data(w);
    double max_abs = 0;
    for (int64_t i = 0; i < wc.numel(); ++i) max_abs = std::max(max_abs, double(std::fabs(wc.data()[i])));
    delta = Tensor::full({1}, float(o.delta_init * max_abs));  // δ₀ = factor · max|w| (Section IV.B.3)
    register_parameter("delta", &delta);
}

TgaQuantizer::Terms TgaQuantizer::terms(const Tensor& w_in) const {
    const Tensor w = contiguous_data(w_in);
    const float* p = w.data();
    const int64_t n = w.numel();
    TERN_CHECK(n >= 2, "TGA: a layer needs at least 2 weights");
    const double mu = double_sum(n, [p](int64_t i) { return double(p[i]); }) / double(n);
    const double ss = double_sum(n, [p, mu](int64_t i) { return (double(p[i]) - mu) * (double(p[i]) - mu); });
    const double sigma = std::sqrt(ss / double(n - 1));
    const double d = std::fabs(double(delta.data()[0]));
    const double delta_c = std::min(std::max(d, 0.0), 3.0 * sigma);   // Eq. (9)
    const double alpha = sigma > 0 ? delta_c / sigma : 0.0;
    const double S = mu + sigma * inverse_mills(alpha);                  // Eq. (10)
    return {mu, sigma, delta_c, alpha, S, !(d > 0 && d < 3.0 * sigma)};
}

// Tern(w) (Eq. 11) into `codes`, and S·Tern(w) (Eq. 2) into `scaled` if it is not null: one pass.
static void tga_ternarize(const float* w, int64_t n, const TgaQuantizer::Terms& t, float* codes, float* scaled) {
    const float hi = float(t.mu + t.delta_c), lo = float(t.mu - t.delta_c), S = float(t.S);
    for (int64_t i = 0; i < n; ++i) {
        const float c = w[i] > hi ? 1.f : (w[i] < lo ? -1.f : 0.f);  // Eq. (11)
        codes[i] = c;
        if (scaled) scaled[i] = S * c;
    }
}

Tensor TgaQuantizer::codes(const Tensor& w_in) {
    const Tensor w = contiguous_data(w_in);
    Tensor c = Tensor::empty(w.shape());
    tga_ternarize(w.data(), w.numel(), terms(w), c.data(), nullptr);
    return c;
}

Tensor TgaQuantizer::scales(const Tensor& w) { return Tensor::full({w.size(0)}, float(terms(w).S)); }

Tensor TgaQuantizer::forward(const Tensor& w_in) {
    ProfileScope scope(OpKind::Quantizer);
    const Tensor w = contiguous_data(w_in);
    const Terms t = terms(w);
    Tensor tern = Tensor::empty(w.shape()), out = Tensor::empty(w.shape());
    tga_ternarize(w.data(), w.numel(), t, tern.data(), out.data());  // w' = S·Tern(w), Eq. (2)

    record(out, "tga_quantize", {w_in, delta},
           [t, tern, w = w.detach(), o = options, delta_sign = delta.data()[0] >= 0 ? 1.0 : -1.0](
               const Tensor& g) {
               ProfileScope scope(OpKind::Quantizer);
               const int64_t n = g.numel();
               const float* pg = g.data();
               const float* pt = tern.data();
               const double G = double_sum(n, [pg, pt](int64_t i) { return double(pg[i]) * pt[i]; });  // ∂L/∂S

               // ∂L/∂w: the STE through Tern, (S · 1/S) = 1 with gradient correctness, S without it.
               Tensor gw = Tensor::empty(g.shape());
               const float ste = o.gradient_correctness ? 1.f : float(t.S);
               float* pw = gw.data();
               for (int64_t i = 0; i < n; ++i) pw[i] = ste * pg[i];
               if (o.stats_gradient && t.sigma > 0) {
                   // S = μ + σ·λ(δᶜ/σ): ∂S/∂μ = 1; ∂S/∂σ = λ − α·λ' (δ inside the clip) or λ(3) (δᶜ = 3σ, α fixed)
                   const double dS_dsigma =
                       t.clipped && t.delta_c > 0 ? inverse_mills(3.0)
                                                  : inverse_mills(t.alpha) - t.alpha * inverse_mills_derivative(t.alpha);
                   const double a = G / double(n);                                   // via ∂μ/∂w_i = 1/n
                   const double b = G * dS_dsigma / (double(n - 1) * t.sigma);       // via ∂σ/∂w_i = (w_i−μ)/((n−1)σ)
                   const float* pw_in = w.data();
                   for (int64_t i = 0; i < n; ++i) pw[i] += float(a + b * (double(pw_in[i]) - t.mu));
               }
               // ∂L/∂δ = G · λ'(α) · sign(δ), zero where δ is clipped (hardtanh's flat parts)
               Tensor gd = Tensor::full({1}, t.clipped ? 0.f : float(G * inverse_mills_derivative(t.alpha) * delta_sign));
               return std::vector<Tensor>{gw, gd};
           });
    return out;
}

nlohmann::json TgaQuantizer::stats(const Tensor& w) {
    const Terms t = terms(w);
    return {{"sparsity", sparsity(codes(w))}, {"delta_c_over_sigma", t.alpha}, {"S", t.S}, {"mu", t.mu},
            {"sigma", t.sigma}, {"delta", double(delta.data()[0])}};
}

double sparsity(const Tensor& codes) {
    const Tensor c = contiguous_data(codes);
    int64_t zeros = 0;
    for (int64_t i = 0; i < c.numel(); ++i) zeros += c.data()[i] == 0.f;
    return c.numel() ? double(zeros) / double(c.numel()) : 0.0;
}

}  // namespace tern
