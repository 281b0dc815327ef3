// tests/test_elementwise.cpp — broadcasting arithmetic and unary functions: values and gradients.
#include <doctest/doctest.h>

#include "core/ops/add_relu.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::GradCase;
using tern::testing::away_from_zero;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("add broadcasts a per-channel vector over an NHWC tensor") {
    // x: (1, 1, 2, 3) = [[0,1,2],[3,4,5]], b: (3,) = [10, 20, 30] → each pixel row gets b added
    Tensor x = Tensor::from_vector({1, 1, 2, 3}, {0, 1, 2, 3, 4, 5});
    Tensor b = Tensor::from_vector({3}, {10, 20, 30});
    Tensor y = x + b;
    CHECK(y.shape() == Shape{1, 1, 2, 3});
    CHECK(y.to_vector() == std::vector<float>{10, 21, 32, 13, 24, 35});
}

TEST_CASE("broadcasting (2,1) with (1,3) gives (2,3), and incompatible shapes are an error") {
    Tensor a = Tensor::from_vector({2, 1}, {1, 2});
    Tensor b = Tensor::from_vector({1, 3}, {10, 20, 30});
    CHECK((a * b).to_vector() == std::vector<float>{10, 20, 30, 20, 40, 60});
    CHECK_THROWS_AS(Tensor::zeros({2, 3}) + Tensor::zeros({4}), tern::Error);
}

TEST_CASE("a tensor used twice receives the sum of both gradients") {
    // y = x·x + x  →  dy/dx = 2x + 1 = 7 at x = 3
    Tensor x = Tensor::from_vector({1}, {3.f});
    x.set_requires_grad();
    Tensor y = x * x + x;
    y.backward(Tensor::ones({1}));
    CHECK(x.grad().item() == doctest::Approx(7.f));
}

TEST_CASE("a residual branch's gradient is summed correctly, in place or not") {
    // h = 2x; out = relu((h·3)·0.5 + h): add_relu hands the same gradient tensor g to both of its inputs; h gets
    // g (shortcut) first, then 1.5·g from the longer branch, by which time nothing else holds g, so autograd sums
    // in place. ∂out/∂h = 2.5, ∂out/∂x = 5 (x > 0). The second case keeps g alive (h feeds add_relu twice).
    Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
    x.set_requires_grad();
    Tensor h = x * 2.f;
    add_relu((h * 3.f) * 0.5f, h).backward(Tensor::ones({2, 3}));
    CHECK(x.grad().to_vector() == std::vector<float>(6, 5.f));
    x.zero_grad();
    Tensor h2 = x * 2.f;
    add_relu(h2, h2).backward(Tensor::ones({2, 3}));  // ∂/∂h2 = 2, ∂/∂x = 4
    CHECK(x.grad().to_vector() == std::vector<float>(6, 4.f));
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
    Tensor x = Tensor::from_vector({2}, {1.f, 2.f});
    x.set_requires_grad();
    sum(x * 3.f).backward();
    sum(x * 3.f).backward();
    CHECK(x.grad().to_vector() == std::vector<float>{6.f, 6.f});
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
}

TEST_CASE("no graph is recorded under NoGradGuard") {
    Tensor x = Tensor::ones({3});
    x.set_requires_grad();
    NoGradGuard guard;
    Tensor y = x * 2.f;
    CHECK_FALSE(y.requires_grad());
}

TEST_CASE("elementwise ops match finite differences, with broadcasting") {
    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    check_gradients({"add broadcast", {leaf(uniform({3, 5, 1}, -1, 1, 1)), leaf(uniform({4}, -1, 1, 2))},
                     [](auto& in) { return in[0] + in[1]; }});
    check_gradients({"sub broadcast", {leaf(uniform({3, 1, 4}, -1, 1, 3)), leaf(uniform({5, 1}, -1, 1, 4))},
                     [](auto& in) { return in[0] - in[1]; }});
    check_gradients({"mul broadcast", {leaf(uniform({3, 5, 7}, -1, 1, 5)), leaf(uniform({5, 1}, -1, 1, 6))},
                     [](auto& in) { return in[0] * in[1]; }});
    check_gradients({"div broadcast", {leaf(uniform({3, 5}, -1, 1, 7)), leaf(uniform({5}, 0.5f, 2, 8))},
                     [](auto& in) { return in[0] / in[1]; }});
    check_gradients({"scalar ops", {leaf(uniform({3, 5}, 0.5f, 2, 9))},
                     [](auto& in) { return (2.f - in[0] * 3.f + 1.f) / 2.f + 1.5f / in[0]; }});
}

TEST_CASE("unary functions match finite differences") {
    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    check_gradients({"relu", {leaf(away_from_zero({3, 5, 7}, 0.05f, 10))}, [](auto& in) { return relu(in[0]); }});
    check_gradients({"abs", {leaf(away_from_zero({3, 5}, 0.05f, 11))}, [](auto& in) { return abs(in[0]); }});
    check_gradients({"exp", {leaf(uniform({3, 5}, -1, 1, 12))}, [](auto& in) { return exp(in[0]); }});
    check_gradients({"log", {leaf(uniform({3, 5}, 0.5f, 2, 13))}, [](auto& in) { return log(in[0]); }});
    check_gradients({"sqrt", {leaf(uniform({3, 5}, 0.5f, 2, 14))}, [](auto& in) { return sqrt(in[0]); }});
    check_gradients({"neg", {leaf(uniform({4}, -1, 1, 15))}, [](auto& in) { return -in[0]; }});
}
