// tests/test_lsq.cpp — LSQ activation quantization (quant/lsq.h): levels, init, and both gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "core/ops/reduce.h"
#include "quant/lsq.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::uniform;

TEST_CASE("LSQ initializes s = 2·mean|v|/√Q_P and the signedness from the first batch") {
    // Unsigned 2-bit: Q_P = 3. Batch {0, 1, 2, 3}: mean|v| = 1.5 → s = 3/√3 = √3.
    LsqQuantizer q(2);
    CHECK_FALSE(q.initialized());
    q.forward(Tensor::from_vector({1, 4}, {0, 1, 2, 3}));
    CHECK(q.initialized());
    CHECK_FALSE(q.is_signed());
    CHECK(q.step() == doctest::Approx(std::sqrt(3.0)));
    CHECK(q.qn() == 0);
    CHECK(q.qp() == 3);
    // A batch with negatives makes it signed: 4-bit signed has Q_N = 8, Q_P = 7.
    LsqQuantizer sq(4);
    sq.forward(Tensor::from_vector({1, 2}, {-1, 1}));
    CHECK(sq.is_signed());
    CHECK(sq.qn() == 8);
    CHECK(sq.qp() == 7);
    CHECK(sq.step() == doctest::Approx(2.0 / std::sqrt(7.0)));
}

TEST_CASE("LSQ switched off is the identity and initializes on its first batch once switched on") {
    LsqQuantizer q(2);
    q.enabled = false;
    const Tensor v = Tensor::from_vector({1, 4}, {0.3f, 1.1f, 2.2f, 9.f});
    CHECK(q.forward(v).to_vector() == v.to_vector());
    CHECK_FALSE(q.initialized());  // s was not touched
    q.enabled = true;
    q.forward(Tensor::from_vector({1, 4}, {0, 1, 2, 3}));
    CHECK(q.step() == doctest::Approx(std::sqrt(3.0)));  // initialized from this batch, as if it were the first
}

TEST_CASE("LSQ output takes exactly Q_N + Q_P + 1 distinct levels") {
    for (int bits : {2, 3, 4, 8}) {
        for (bool negative : {false, true}) {
            LsqQuantizer q(bits);
            Tensor v = uniform({4, 5000}, negative ? -3.f : 0.f, 3.f, uint32_t(bits));
            q.forward(v);           // init
            q.s.fill_(3.f / float(q.qp()) * 0.5f);  // a step that makes both clips reachable
            const auto out = q.forward(v).to_vector();
            std::set<float> levels(out.begin(), out.end());
            INFO(bits << " bits, signed " << q.is_signed());
            CHECK(int(levels.size()) == q.qn() + q.qp() + 1);
        }
    }
}

TEST_CASE("LSQ gradients on chosen values: ∂v̂/∂v (STE inside the range) and ∂v̂/∂s (LSQ Eq. 3–5)") {
    // Unsigned 2 bits (Q_P = 3), s = 1: v = {−0.5, 0.4, 1.6, 2.5, 4}:
    //   v/s    −0.5 (clipped low)  0.4           1.6            2.5 (rounds to 2)   4 (clipped high)
    //   ∂v̂/∂v  0                  1             1              1                   0
    //   ∂v̂/∂s  −Q_N = 0           −0.4 + 0     −1.6 + 2        −2.5 + 2            Q_P = 3
    LsqQuantizer q(2);
    Tensor v = Tensor::from_vector({1, 5}, {-0.5f, 0.4f, 1.6f, 2.5f, 4.f});
    q.forward(Tensor::from_vector({1, 1}, {1.f}));  // init as unsigned
    q.s.fill_(1.f);
    v.set_requires_grad();
    const Tensor y = q.forward(v);
    CHECK(y.to_vector() == std::vector<float>{0, 0, 2, 2, 3});
    y.backward(Tensor::ones({1, 5}));
    CHECK(v.grad().to_vector() == std::vector<float>{0, 1, 1, 1, 0});
    // Σ ∂v̂/∂s = 0 − 0.4 + 0.4 − 0.5 + 3 = 2.5, times g = 1/√(N·Q_P) = 1/√(5·3)
    CHECK(q.s.grad().item() == doctest::Approx(2.5 / std::sqrt(15.0)));
}

TEST_CASE("LSQ step gradient vs finite differences away from rounding boundaries") {
    // v̂ = round(v/s)·s. Moving s by ±ε (without crossing a rounding boundary) changes v̂ by round(v/s)·ε inside
    // the range and by Q_P·ε / −Q_N·ε at the clips. LSQ's gradient adds the straight-through term −v/s inside
    // (round treated as identity), so analytic − Σ_inside(−v/s)·g equals the finite difference.
    LsqQuantizer q(3);
    Tensor v = uniform({2, 50}, -1.f, 9.f, 91);
    q.forward(Tensor::from_vector({1, 1}, {1.f}));  // unsigned
    q.s.fill_(1.f);
    // keep every v/s at least 0.05 from a rounding boundary (k + 0.5) and from the clip points
    for (int64_t i = 0; i < v.numel(); ++i) {
        float& x = v.data()[i];
        const float frac = x - std::floor(x);
        if (std::fabs(frac - 0.5f) < 0.05f) x += 0.1f;
    }
    v.set_requires_grad();
    Tensor g = uniform({2, 50}, -1, 1, 92);
    q.s.zero_grad();
    q.forward(v).backward(g);
    const double scale = 1.0 / std::sqrt(50.0 * q.qp());
    double ste_term = 0;
    for (int64_t i = 0; i < v.numel(); ++i) {
        const double r = v.data()[i];
        if (r > 0 && r < q.qp()) ste_term += -r * g.data()[i];
    }
    const double analytic_without_ste = q.s.grad().item() / scale - ste_term;
    auto L = [&](float step) {
        q.s.fill_(step);
        NoGradGuard ng;
        const auto y = q.forward(v).to_vector();
        double s = 0;
        for (size_t i = 0; i < y.size(); ++i) s += double(y[i]) * g.data()[i];
        return s;
    };
    const float eps = 1e-3f;
    const double fd = (L(1.f + eps) - L(1.f - eps)) / (2 * eps);
    CHECK(analytic_without_ste == doctest::Approx(fd).epsilon(1e-3));
}
