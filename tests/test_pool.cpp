// tests/test_pool.cpp — max/avg/global pooling: hand-computed values and finite-difference gradients.
#include <doctest/doctest.h>

#include "core/ops/pool.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::distinct_values;
using tern::testing::uniform;

TEST_CASE("pooling on a hand-computed 4x4 image") {
    // One channel holding 0..15 row-major. 2×2 windows, stride 2:
    //   max → [[5, 7], [13, 15]]     avg → [[2.5, 4.5], [10.5, 12.5]]     global avg → 7.5
    std::vector<float> v(16);
    for (int i = 0; i < 16; ++i) v[size_t(i)] = float(i);
    Tensor x = Tensor::from_vector({1, 4, 4, 1}, v);
    CHECK(max_pool2d(x, {.kernel = 2}).to_vector() == std::vector<float>{5, 7, 13, 15});
    CHECK(avg_pool2d(x, {.kernel = 2}).to_vector() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
    CHECK(global_avg_pool(x).item() == 7.5f);
    // 3×3 windows, stride 2, padding 1: the top-left window covers {0, 1, 4, 5} plus 5 padded positions.
    // count_include_pad divides by 9 (PyTorch's default): 10/9; excluding the padding divides by 4: 2.5.
    CHECK(avg_pool2d(x, {.kernel = 3, .stride = 2, .padding = 1}).at({0, 0, 0, 0}) == doctest::Approx(10.0 / 9));
    CHECK(avg_pool2d(x, {.kernel = 3, .stride = 2, .padding = 1, .count_include_pad = false}).at({0, 0, 0, 0}) ==
          doctest::Approx(2.5));
    CHECK(max_pool2d(x, {.kernel = 3, .stride = 2, .padding = 1}).to_vector() == std::vector<float>{5, 7, 13, 15});
}

TEST_CASE("pooling gradients match finite differences") {
    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    // Distinct values 0.05 apart: a perturbation of ε = 0.005 never changes which element is the maximum.
    Tensor xd = leaf(distinct_values({3, 7, 9, 5}, 0.05f, 31));
    check_gradients({"max 3x3 s2 p1", {xd}, [](auto& in) { return max_pool2d(in[0], {3, 2, 1}); }});
    check_gradients({"max 2x2", {xd}, [](auto& in) { return max_pool2d(in[0], {2}); }});
    Tensor x = leaf(uniform({3, 7, 9, 5}, -1, 1, 32));
    check_gradients({"avg 3x3 s2 p1", {x}, [](auto& in) { return avg_pool2d(in[0], {3, 2, 1}); }});
    check_gradients({"avg 3x3 s2 p1 exclude pad", {x},
                     [](auto& in) { return avg_pool2d(in[0], {3, 2, 1, false}); }});
    check_gradients({"global avg", {x}, [](auto& in) { return global_avg_pool(in[0]); }});
}
