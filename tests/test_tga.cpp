// tests/test_tga.cpp — TGA (quant/tga.h): the truncated-Gaussian scale against numerical integration, ∂S/∂δ
// against finite differences (also near the 3σ clip), the clip, thresholds centred on μ, gradient correctness,
// the μ/σ gradient path, and TWN's closed form.
#include <doctest/doctest.h>

#include <cmath>

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "quant/tga.h"
#include "quant/truncated_normal.h"
#include "quant/twn.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

namespace {
// E[X | X > μ + δ] for X ~ N(μ, σ²) by the trapezoid rule on [μ+δ, μ+δ+12σ] (the rest is < 1e-30).
double truncated_mean_numeric(double mu, double sigma, double delta) {
    const int n = 200000;
    const double a = mu + delta, b = a + 12 * sigma, h = (b - a) / n;
    double num = 0, den = 0;
    for (int i = 0; i <= n; ++i) {
        const double x = a + i * h, wgt = (i == 0 || i == n) ? 0.5 : 1.0;
        const double p = std::exp(-0.5 * ((x - mu) / sigma) * ((x - mu) / sigma));
        num += wgt * x * p;
        den += wgt * p;
    }
    return num / den;
}

// A layer's weights with a chosen mean and spread (not Gaussian — TGA only uses their μ and σ).
Tensor weights(float mu, float spread, uint32_t seed) {
    Tensor w = uniform({8, 4, 3, 3}, mu - spread, mu + spread, seed);
    w.set_requires_grad();
    return w;
}
}  // namespace

TEST_CASE("TGA scale S equals the mean of the truncated normal (Eq. 7, 10) by numerical integration") {
    for (double mu : {0.0, 0.03, -0.1})
        for (double sigma : {0.05, 1.0})
            for (double alpha : {0.0, 0.5, 1.0, 2.0, 3.0}) {
                const double exact = mu + sigma * inverse_mills(alpha);
                CHECK(exact == doctest::Approx(truncated_mean_numeric(mu, sigma, alpha * sigma)).epsilon(1e-6));
            }
    // λ(0) = φ(0)/(1/2) = √(2/π)
    CHECK(inverse_mills(0.0) == doctest::Approx(std::sqrt(2.0 / M_PI)));
}

TEST_CASE("dλ/dα = λ(λ − α) matches finite differences, including near α = 3") {
    for (double a : {0.1, 1.0, 2.5, 2.99}) {
        const double h = 1e-5;
        const double fd = (inverse_mills(a + h) - inverse_mills(a - h)) / (2 * h);
        CHECK(inverse_mills_derivative(a) == doctest::Approx(fd).epsilon(1e-6));
    }
}

TEST_CASE("TGA thresholds are centred on the layer mean and δ is clipped to 3σ (Eq. 9, 11)") {
    // Weights {0.9, 1.0, 1.1, 1.2, 1.3}: μ = 1.1, σ (unbiased) = 0.1581. With δ = 0.15: thresholds 0.95 and 1.25,
    // so the codes are {−1, 0, 0, 0, +1} — centred on μ, not on 0.
    Tensor w = Tensor::from_vector({5, 1}, {0.9f, 1.0f, 1.1f, 1.2f, 1.3f});
    TgaQuantizer q(w, {});
    q.delta.fill_(0.15f);
    CHECK(q.codes(w).to_vector() == std::vector<float>{-1, 0, 0, 0, 1});
    const auto t = q.terms(w);
    CHECK(t.mu == doctest::Approx(1.1));
    CHECK(t.sigma == doctest::Approx(0.158114).epsilon(1e-5));
    CHECK_FALSE(t.clipped);
    q.delta.fill_(-0.15f);  // only |δ| matters
    CHECK(q.codes(w).to_vector() == std::vector<float>{-1, 0, 0, 0, 1});
    q.delta.fill_(5.f);     // beyond 3σ: δᶜ = 3σ, every weight is 0 and δ gets no gradient
    CHECK(q.terms(w).delta_c == doctest::Approx(3 * 0.158114).epsilon(1e-5));
    CHECK(q.terms(w).clipped);
    CHECK(q.codes(w).to_vector() == std::vector<float>{0, 0, 0, 0, 0});
}

TEST_CASE("TGA δ is initialised to 0.1·max|w| and the factor is configurable") {
    Tensor w = Tensor::from_vector({2, 2}, {0.5f, -2.f, 1.f, 0.f});
    CHECK(TgaQuantizer(w, {}).delta.item() == doctest::Approx(0.2));
    CHECK(TgaQuantizer(w, {0.05}).delta.item() == doctest::Approx(0.1));
}

TEST_CASE("TGA gradients: ∂L/∂δ through S, and ∂L/∂w with the μ/σ path, match finite differences") {
    // ∂L/∂δ: the codes do not move for a small change of δ when no weight sits near a threshold, so the
    // finite difference sees exactly the change of S. Check at several δ, one just below the 3σ clip.
    Tensor w = weights(0.02f, 0.3f, 71);
    TgaQuantizer q(w.detach(), {});
    const double sigma = q.terms(w).sigma;
    for (double frac : {0.3, 1.0, 2.2, 2.95}) {
        q.delta.fill_(float(frac * sigma));
        // shift δ into the widest gap between |w − μ| values so that ±ε never crosses a weight
        auto wv = w.to_vector();
        const double mu = q.terms(w).mu;
        std::vector<double> d;
        for (float v : wv) d.push_back(std::fabs(v - mu));
        std::sort(d.begin(), d.end());
        double best = frac * sigma, gap = 0;
        for (size_t i = 1; i < d.size(); ++i)
            if (std::fabs(d[i - 1] - frac * sigma) < 0.3 * sigma && d[i] - d[i - 1] > gap && d[i] < 3 * sigma)
                gap = d[i] - d[i - 1], best = (d[i] + d[i - 1]) / 2;
        q.delta.fill_(float(best));
        INFO("δ/σ = " << best / sigma);
        check_gradients({"tga delta", {w.detach(), q.delta}, [&q](auto& in) { return q.forward(in[0]); }, 1e-4, 1e-2,
                         1e-4});
    }
    // ∂L/∂w with gradient correctness off and the μ/σ path on is the exact derivative of S·Tern(w) *if* the
    // codes were held fixed; with ε small enough that no code flips, finite differences agree.
    TgaOptions exact;
    exact.gradient_correctness = false;
    TgaQuantizer qe(w.detach(), exact);
    qe.delta.fill_(float(0.8 * sigma));
    // STE part: S·g (Eq. 13). Finite differences of S·Tern see only the μ/σ part (Tern is flat), so compare the
    // difference analytic − S·g against them.
    Tensor g = uniform(w.shape(), -1, 1, 72);
    w.zero_grad();
    qe.forward(w).backward(g);
    const double S = qe.terms(w).S;
    const auto gw = w.grad().to_vector(), gv = g.to_vector();
    // L(w) = S(w)·Σ Tern_i·g_i, evaluated in double from the quantizer's own terms (the float output would round
    // S to 7 digits, too coarse for a derivative of a 288-weight mean).
    auto L = [&](const Tensor& wt) {
        const auto codes = qe.codes(wt).to_vector();
        double s = 0;
        for (size_t i = 0; i < codes.size(); ++i) s += double(codes[i]) * gv[i];
        return qe.terms(wt).S * s;
    };
    for (int i : {0, 17, 101, 250}) {
        Tensor wp = w.detach().clone(), wm = w.detach().clone();
        const float h = 1e-3f;
        wp.data()[i] += h;
        wm.data()[i] -= h;
        const double fd = (L(wp) - L(wm)) / (2 * h);
        CHECK(gw[size_t(i)] - S * gv[size_t(i)] == doctest::Approx(fd).epsilon(2e-2).scale(1e-3));
    }
}

TEST_CASE("gradient correctness on/off changes ∂L/∂w by exactly the factor S") {
    Tensor w = weights(0.f, 0.2f, 73);
    TgaOptions on, off;
    on.stats_gradient = off.stats_gradient = false;  // isolate the STE term
    off.gradient_correctness = false;
    TgaQuantizer q_on(w.detach(), on), q_off(w.detach(), off);
    Tensor g = uniform(w.shape(), -1, 1, 74);
    w.zero_grad();
    q_on.forward(w).backward(g);
    const auto with = w.grad().to_vector();
    w.zero_grad();
    q_off.forward(w).backward(g);
    const auto without = w.grad().to_vector();
    const double S = q_on.terms(w).S;
    CHECK(S < 1.0);  // small weights: without correctness the step shrinks by S (the paper's Fig. 4 argument)
    for (size_t i = 0; i < with.size(); ++i) {
        CHECK(with[i] == doctest::Approx(g.data()[i]));  // ∂L/∂w = ∂L/∂w' (Eq. 14–15)
        CHECK(without[i] == doctest::Approx(S * with[i]).epsilon(1e-5));
    }
}

TEST_CASE("TWN: Δ = 0.7·mean|w|, scale = mean kept magnitude, plain STE") {
    // |w| = {0.1, 0.2, 0.9, 1.2}: mean 0.6, Δ = 0.42 → keep {0.9, −1.2}, α = 1.05
    Tensor w = Tensor::from_vector({4, 1}, {0.1f, -0.2f, 0.9f, -1.2f});
    w.set_requires_grad();
    TwnQuantizer q;
    CHECK(TwnQuantizer::terms(w).delta == doctest::Approx(0.42));
    CHECK(q.forward(w).to_vector() == std::vector<float>{0, 0, 1.05f, -1.05f});
    sum(q.forward(w) * 3.f).backward();
    CHECK(w.grad().to_vector() == std::vector<float>{3, 3, 3, 3});
}
