// tests/test_matmul.cpp — matmul and linear: a known product and finite-difference gradients.
#include <doctest/doctest.h>

#include "core/ops/matmul.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("matmul and linear on known values") {
    // [[1, 2], [3, 4]] · [[5], [6]] = [[17], [39]]
    Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
    CHECK(matmul(a, Tensor::from_vector({2, 1}, {5, 6})).to_vector() == std::vector<float>{17, 39});
    // linear: x · wᵀ + b with w = [[5, 6]], b = [1] → [[18], [40]]
    CHECK(linear(a, Tensor::from_vector({1, 2}, {5, 6}), Tensor::from_vector({1}, {1})).to_vector() ==
          std::vector<float>{18, 40});
}

TEST_CASE("matmul and linear gradients match finite differences") {
    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    check_gradients({"matmul", {leaf(uniform({3, 5}, -1, 1, 51)), leaf(uniform({5, 4}, -1, 1, 52))},
                     [](auto& in) { return matmul(in[0], in[1]); }});
    check_gradients({"linear", {leaf(uniform({3, 5}, -1, 1, 53)), leaf(uniform({4, 5}, -1, 1, 54)),
                                leaf(uniform({4}, -1, 1, 55))},
                     [](auto& in) { return linear(in[0], in[1], in[2]); }});
}
