// tests/test_clamp.cpp — clamp and ReLU6: a hand-computed example and finite-difference gradients.
#include <doctest/doctest.h>

#include <cmath>

#include "core/ops/clamp.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("relu6 caps at 0 and 6, and passes the gradient only strictly between") {
    // x = {−1, 0.5, 3, 7} → y = {0, 0.5, 3, 6}; with ∂L/∂y = 1 everywhere, ∂L/∂x = {0, 1, 1, 0}.
    // The kinks themselves (x = 0, x = 6) get gradient 0, as PyTorch's relu6.
    Tensor x = Tensor::from_vector({4}, {-1.f, 0.5f, 3.f, 7.f});
    x.set_requires_grad();
    Tensor y = relu6(x);
    CHECK(y.to_vector() == std::vector<float>{0.f, 0.5f, 3.f, 6.f});
    y.backward(Tensor::ones({4}));
    CHECK(x.grad().to_vector() == std::vector<float>{0.f, 1.f, 1.f, 0.f});

    Tensor k = Tensor::from_vector({2}, {0.f, 6.f});
    k.set_requires_grad();
    relu6(k).backward(Tensor::ones({2}));
    CHECK(k.grad().to_vector() == std::vector<float>{0.f, 0.f});
    CHECK_THROWS_AS(clamp(x, 1.f, 0.f), tern::Error);
}

TEST_CASE("clamp gradients match finite differences") {
    // Values in [−3, 9), moved away from the kinks: no element within 0.1 of a bound, so a step of
    // ε = 0.005 never crosses one.
    auto away_from = [](Tensor t, std::initializer_list<float> kinks) {
        float* p = t.data();
        for (int64_t i = 0; i < t.numel(); ++i)
            for (float k : kinks)
                if (std::fabs(p[i] - k) < 0.1f) p[i] = k + (p[i] >= k ? 0.1f : -0.1f) + (p[i] - k);
        t.set_requires_grad();
        return t;
    };
    Tensor x = away_from(uniform({3, 5, 7, 4}, -3.f, 9.f, 41), {0.f, 6.f});
    check_gradients({"relu6", {x}, [](auto& in) { return relu6(in[0]); }});
    Tensor z = away_from(uniform({3, 5, 7, 4}, -1.f, 1.f, 42), {-0.5f, 0.25f});
    check_gradients({"clamp(−0.5, 0.25)", {z}, [](auto& in) { return clamp(in[0], -0.5f, 0.25f); }});
}
