// tests/test_shape_ops.cpp — reshape/permute/slice/pad/concat/broadcast, sum/mean, and the option-A shortcut.
#include <doctest/doctest.h>

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "core/ops/shortcut.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("views share storage; permute and slice produce the right elements") {
    Tensor x = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
    Tensor t = transpose(x, 0, 1);  // [[0, 3], [1, 4], [2, 5]]
    CHECK(t.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
    CHECK_FALSE(t.is_contiguous());
    CHECK(slice(x, 1, 0, 3, 2).to_vector() == std::vector<float>{0, 2, 3, 5});
    Tensor r = reshape(x, {3, -1});
    r.data()[0] = 42.f;  // a view: writes show through
    CHECK(x.at({0, 0}) == 42.f);
    CHECK(pad(Tensor::from_vector({2}, {1, 2}), {{1, 2}}).to_vector() == std::vector<float>{0, 1, 2, 0, 0});
    CHECK(concat({Tensor::ones({1, 2}), Tensor::zeros({1, 1})}, 1).to_vector() == std::vector<float>{1, 1, 0});
}

TEST_CASE("sum and mean over axes") {
    Tensor x = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
    CHECK(sum(x).item() == 15.f);
    CHECK(sum(x, {0}).to_vector() == std::vector<float>{3, 5, 7});
    CHECK(sum(x, {1}, true).shape() == Shape{2, 1});
    CHECK(mean(x, {-1}).to_vector() == std::vector<float>{1, 4});
}

TEST_CASE("option-A shortcut subsamples pixels and pads channels with zeros on both sides") {
    // 1 image, 2×2 pixels, 2 channels; stride 2 keeps pixel (0, 0) = (1, 2); 6 output channels → 2 zeros each side
    Tensor x = Tensor::from_vector({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    Tensor y = shortcut_option_a(x, 6, 2);
    CHECK(y.shape() == Shape{1, 1, 1, 6});
    CHECK(y.to_vector() == std::vector<float>{0, 0, 1, 2, 0, 0});
}

TEST_CASE("shape ops, reductions and the shortcut match finite differences") {
    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    Tensor x = leaf(uniform({3, 5, 7}, -1, 1, 61));
    check_gradients({"reshape", {x}, [](auto& in) { return reshape(in[0], {5, -1}); }});
    check_gradients({"permute", {x}, [](auto& in) { return permute(in[0], {2, 0, 1}); }});
    check_gradients({"slice step 2", {x}, [](auto& in) { return slice(in[0], 2, 1, 6, 2); }});
    check_gradients({"pad", {x}, [](auto& in) { return pad(in[0], {{0, 0}, {1, 2}, {2, 1}}); }});
    check_gradients({"concat", {x, leaf(uniform({3, 2, 7}, -1, 1, 62))},
                     [](auto& in) { return concat({in[0], in[1]}, 1); }});
    check_gradients({"broadcast_to", {leaf(uniform({5, 1}, -1, 1, 63))},
                     [](auto& in) { return broadcast_to(in[0], {3, 5, 4}); }});
    check_gradients({"sum axes", {x}, [](auto& in) { return sum(in[0], {0, 2}); }});
    check_gradients({"mean keepdim", {x}, [](auto& in) { return mean(in[0], {1}, true); }});
    check_gradients({"sum of a permuted view", {x}, [](auto& in) { return sum(permute(in[0], {1, 0, 2}), {1}); }});
    check_gradients({"shortcut option A", {leaf(uniform({3, 7, 9, 4}, -1, 1, 64))},
                     [](auto& in) { return shortcut_option_a(in[0], 8, 2); }});
}
