// tests/gradcheck.h — the one finite-difference gradient checker every op's test uses.
//
// For an op y = f(x₁, …, xₖ) we check ∂L/∂xᵢ for the scalar L = Σ y ⊙ R, with R a fixed random tensor
// (so every output element matters, with a different weight). The analytic gradient comes from backward();
// the numeric one from central differences, (L(x + ε) − L(x − ε)) / 2ε, with L summed in double from the
// float outputs. Inputs are built so that no element sits within ε of a kink (relu at 0, max-pool ties):
// kinks are avoided by construction, never by loosening the tolerance.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>
#include <algorithm>

#include "core/autograd.h"
#include "core/error.h"
#include "core/tensor.h"

namespace tern::testing {

struct GradCase {
    std::string name;
    std::vector<Tensor> inputs;  // leaves; those with requires_grad() are checked
    std::function<Tensor(const std::vector<Tensor>&)> fn;
    double eps = 5e-3;
    double rtol = 1e-2;
    double atol = 2e-3;
    int max_checks_per_input = 96;  // elements probed per input (all of them when the input is smaller)
};

// A tensor of the given shape with values uniform in [lo, hi), from a seeded generator.
inline Tensor uniform(const Shape& shape, float lo, float hi, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (float& x : v) x = dist(rng);
    return Tensor::from_vector(shape, v);
}

// Values whose magnitude is at least `gap` (no element near 0): for inputs that pass through relu or |·|.
inline Tensor away_from_zero(const Shape& shape, float gap, uint32_t seed) {
    Tensor t = uniform(shape, -1.f, 1.f, seed);
    float* p = t.data();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = (p[i] >= 0 ? 1.f : -1.f) * (gap + std::fabs(p[i]));
    return t;
}

// A random permutation of evenly spaced values (spacing `gap`): no two elements tie, for max-pool inputs.
inline Tensor distinct_values(const Shape& shape, float gap, uint32_t seed) {
    const int64_t n = shape_numel(shape);
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = (float(i) - float(n) / 2) * gap;
    std::mt19937 rng(seed);
    std::shuffle(v.begin(), v.end(), rng);
    return Tensor::from_vector(shape, v);
}

inline double weighted_sum(const Tensor& y, const std::vector<float>& r) {
    const std::vector<float> v = y.to_vector();
    double s = 0;
    for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * double(r[i]);
    return s;
}

inline void check_gradients(const GradCase& c) {
    INFO("gradient check: " << c.name);
    for (const Tensor& x : c.inputs)
        if (x.defined()) x.zero_grad();
    Tensor y = c.fn(c.inputs);
    REQUIRE(y.requires_grad());
    const Tensor r = uniform(y.shape(), -1.f, 1.f, 12345);
    const std::vector<float> rv = r.to_vector();
    y.backward(r);

    for (size_t k = 0; k < c.inputs.size(); ++k) {
        const Tensor& x = c.inputs[k];
        if (!x.defined() || !x.requires_grad()) continue;
        INFO("input " << k << " of shape " << x.shape_str());
        REQUIRE(x.grad().defined());
        const std::vector<float> analytic = x.grad().to_vector();
        const int64_t n = x.numel();
        const int64_t step = std::max<int64_t>(1, n / c.max_checks_per_input);
        int failures = 0;
        for (int64_t i = (step > 1 ? (k * 7) % step : 0); i < n; i += step) {
            float* p = x.data() + i;
            const float saved = *p;
            double lp, lm;
            {
                NoGradGuard no_grad;
                *p = saved + float(c.eps);
                const double h_plus = double(*p) - double(saved);  // the step actually taken in float
                lp = weighted_sum(c.fn(c.inputs), rv);
                *p = saved - float(c.eps);
                const double h_minus = double(saved) - double(*p);
                lm = weighted_sum(c.fn(c.inputs), rv);
                *p = saved;
                const double numeric = (lp - lm) / (h_plus + h_minus);
                const double a = analytic[size_t(i)];
                const bool ok = std::fabs(a - numeric) <= c.atol + c.rtol * std::fabs(numeric);
                if (!ok && failures++ < 5)
                    FAIL_CHECK("element " << i << ": analytic " << a << " vs numeric " << numeric);
            }
        }
        CHECK(failures == 0);
    }
}

}  // namespace tern::testing
