// quant/truncated_normal.h — the Gaussian facts TGA's scale needs, computed stably.
//
// For X ~ N(μ, σ²) truncated to X > μ + δ (α = δ/σ), the mean is
//     E[X | X > μ + δ] = μ + σ·λ(α),   λ(α) = φ(α) / (1 − Φ(α))      (the inverse Mills ratio; TGA Eq. (7), (10))
// and its derivatives, used to train δ and (optionally) to pass gradient into μ and σ:
//     dλ/dα = λ(α)·(λ(α) − α)
// 1 − Φ(α) is computed as erfc(α/√2)/2, which keeps full relative precision in the upper tail (the naive
// 1 − Φ(α) loses it: at α = 5 it has 3 significant digits left).
#pragma once
#include <cmath>

namespace tern {

inline double normal_pdf(double x) { return 0.3989422804014327 * std::exp(-0.5 * x * x); }
inline double normal_cdf(double x) { return 0.5 * std::erfc(-x / 1.4142135623730951); }
inline double normal_upper_tail(double x) { return 0.5 * std::erfc(x / 1.4142135623730951); }  // 1 − Φ(x)

inline double inverse_mills(double a) {
    const double tail = normal_upper_tail(a);
    if (tail < 1e-300) return a + 1.0 / a;  // asymptote; unreachable for α ≤ 3 (the TGA clip)
    return normal_pdf(a) / tail;
}
inline double inverse_mills_derivative(double a) {
    const double l = inverse_mills(a);
    return l * (l - a);
}

}  // namespace tern
