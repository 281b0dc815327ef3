// tests/test_conv2d.cpp — conv2d: a hand-computed example, gradients by finite differences on odd shapes
// (stride 1/2, padding 0/1, groups 1 / 5 / depthwise), and the fast kernels against the reference.
#include <doctest/doctest.h>

#include <cmath>

#include "core/kernels/conv2d.h"
#include "core/kernels/float_vector.h"
#include "core/ops/conv2d.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("conv2d forward on a hand-computed example") {
    // x is one 3×3 single-channel image holding 1..9 (row-major). The 2×2 kernel has +1 at its top-left and −1
    // at its bottom-right, so each output is x[i, j] − x[i+1, j+1] = −4 everywhere; bias 0.5 gives −3.5.
    Tensor x = Tensor::from_vector({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    Tensor w = Tensor::from_vector({1, 1, 2, 2}, {1, 0, 0, -1});
    Tensor y = conv2d(x, w, Tensor::from_vector({1}, {0.5f}));
    CHECK(y.shape() == Shape{1, 2, 2, 1});
    CHECK(y.to_vector() == std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f});
    // With padding 1 the output is 4×4; its corner (0, 0) sees only x[0, 0] under the −1 tap: −1.
    // Corner (3, 3) sees only x[2, 2] = 9 under the +1 tap: 9.
    Tensor yp = conv2d(x, w, Tensor(), {.stride = 1, .padding = 1});
    CHECK(yp.shape() == Shape{1, 4, 4, 1});
    CHECK(yp.at({0, 0, 0, 0}) == -1.f);
    CHECK(yp.at({0, 3, 3, 0}) == 9.f);
    // Two input channels are summed: a 1×1 kernel (2, −1) on pixels (c0, c1) = (3, 4) gives 2·3 − 4 = 2.
    Tensor x2 = Tensor::from_vector({1, 1, 1, 2}, {3, 4});
    CHECK(conv2d(x2, Tensor::from_vector({1, 2, 1, 1}, {2, -1}), Tensor()).item() == 2.f);
}

TEST_CASE("conv2d rejects mismatched shapes with a clear error") {
    CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({1, 4, 4, 3}), Tensor::zeros({8, 4, 3, 3}), Tensor()),
                         doctest::Contains("channels"), tern::Error);
    CHECK_THROWS_AS(conv2d(Tensor::zeros({1, 2, 2, 3}), Tensor::zeros({8, 3, 5, 5}), Tensor()), tern::Error);
}

namespace {
struct ConvCase {
    const char* name;
    int64_t N, H, W, C, OC, K, stride, padding, groups;
    bool bias;
};

void check_conv_gradients(const ConvCase& c, uint32_t seed) {
    Tensor x = uniform({c.N, c.H, c.W, c.C}, -1, 1, seed);
    Tensor w = uniform({c.OC, c.C / c.groups, c.K, c.K}, -0.5f, 0.5f, seed + 1);
    Tensor b = c.bias ? uniform({c.OC}, -0.5f, 0.5f, seed + 2) : Tensor();
    x.set_requires_grad();
    w.set_requires_grad();
    if (b.defined()) b.set_requires_grad();
    const Conv2dOptions o{c.stride, c.padding, c.groups};
    check_gradients({c.name, {x, w, b}, [o](auto& in) { return conv2d(in[0], in[1], in[2], o); }});
}
}  // namespace

TEST_CASE("conv2d gradients match finite differences") {
    const ConvCase cases[] = {
        {"3x3 stride 1 pad 1", 3, 7, 9, 5, 4, 3, 1, 1, 1, true},
        {"3x3 stride 2 pad 1", 3, 7, 9, 5, 6, 3, 2, 1, 1, false},
        {"3x3 stride 2 pad 0", 3, 7, 9, 5, 4, 3, 2, 0, 1, true},
        {"1x1 stride 1", 3, 7, 9, 5, 7, 1, 1, 0, 1, false},
        {"groups 5 (two outputs per group)", 3, 7, 9, 5, 10, 3, 1, 1, 5, true},
        {"depthwise stride 2", 3, 7, 9, 5, 5, 3, 2, 1, 5, false},
    };
    uint32_t seed = 100;
    for (const ConvCase& c : cases) check_conv_gradients(c, seed += 10);
}

namespace {
// Max |fast − ref| relative to max |ref| over an array.
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0, d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        m = std::max(m, double(std::fabs(b[i])));
        d = std::max(d, double(std::fabs(a[i] - b[i])));
    }
    return m > 0 ? d / m : d;
}
}  // namespace

TEST_CASE("fast conv kernels equal the reference on odd shapes") {
    using kernels::ConvShape;
    // The direct kernels: Winograd (tested below) would otherwise take the stride-1 3×3 shapes.
    const kernels::WinogradScope direct(false);
    struct S {
        int64_t N, H, W, C, OC, K, stride, pad, groups;
    };
    const S shapes[] = {
        {1, 7, 9, 3, 16, 3, 1, 1, 1},   {3, 7, 9, 5, 17, 3, 1, 1, 1},  {3, 8, 8, 17, 5, 3, 2, 1, 1},
        {2, 9, 7, 16, 32, 3, 2, 1, 1},  {1, 5, 6, 64, 64, 3, 1, 1, 1}, {3, 6, 5, 32, 48, 3, 1, 0, 1},
        {2, 7, 7, 5, 10, 1, 1, 0, 1},   {2, 8, 8, 16, 32, 1, 2, 0, 1}, {1, 13, 11, 3, 8, 7, 2, 3, 1},
        {2, 6, 7, 32, 32, 3, 1, 1, 2},  {1, 9, 9, 20, 36, 5, 2, 2, 2}, {3, 4, 4, 64, 80, 3, 1, 1, 1},
        {2, 5, 5, 8, 16, 3, 3, 1, 1},   {1, 1, 1, 16, 16, 3, 1, 1, 1},
    };
    uint32_t seed = 500;
    for (const S& c : shapes) {
        const auto s = ConvShape::make(c.N, c.H, c.W, c.C, c.OC, c.K, c.K, c.stride, c.stride, c.pad, c.pad, c.groups);
        INFO("N" << c.N << " H" << c.H << " W" << c.W << " C" << c.C << " OC" << c.OC << " K" << c.K << " s"
                 << c.stride << " p" << c.pad << " g" << c.groups);
        REQUIRE(kernels::conv2d_fast_path(s));
        const Tensor x = uniform({c.N, c.H, c.W, c.C}, -1, 1, ++seed);
        const Tensor w = uniform({c.OC, c.C / c.groups, c.K, c.K}, -1, 1, ++seed);
        const Tensor b = uniform({c.OC}, -1, 1, ++seed);
        const Tensor dy = uniform({c.N, s.OH, s.OW, c.OC}, -1, 1, ++seed);
        Tensor y1 = Tensor::empty(dy.shape()), y2 = Tensor::empty(dy.shape());
        kernels::conv2d_forward(s, x.data(), w.data(), b.data(), y1.data());
        kernels::conv2d_forward_ref(s, x.data(), w.data(), b.data(), y2.data());
        CHECK(rel_diff(y1.to_vector(), y2.to_vector()) < 1e-5);
        Tensor dx1 = Tensor::full(x.shape(), 7.f), dx2 = Tensor::empty(x.shape());  // every element must be written
        kernels::conv2d_backward_data(s, dy.data(), w.data(), dx1.data());
        kernels::conv2d_backward_data_ref(s, dy.data(), w.data(), dx2.data());
        CHECK(rel_diff(dx1.to_vector(), dx2.to_vector()) < 1e-5);
        Tensor dw1 = Tensor::full(w.shape(), 7.f), dw2 = Tensor::empty(w.shape());
        kernels::conv2d_backward_weight(s, x.data(), dy.data(), dw1.data());
        kernels::conv2d_backward_weight_ref(s, x.data(), dy.data(), dw2.data());
        CHECK(rel_diff(dw1.to_vector(), dw2.to_vector()) < 1e-5);
    }
}

TEST_CASE("Winograd conv kernels equal the reference on odd shapes") {
    // Both tile algorithms, F(2×2, 3×3) and F(4×4, 3×3). 3×3, stride 1, padding 1, channels multiples of kLanes.
    // Heights/widths that are not multiples of the tile side leave part-empty tiles at the bottom/right; tile counts that are not multiples of the 24 (forward) and 48 (backward-weight) tiles per
    // block leave short blocks; 48 channels = 3 vectors (blocks of 2 + 1); 1×1 images are all padding.
    using kernels::ConvShape;
    struct S {
        int64_t N, H, W, C, OC;
    };
    // The last three have channel multiples of 8, not 16: Winograd takes them where vectors have 8 lanes (AVX2
    // builds, core/kernels/float_vector.h) and must refuse them where they have 16.
    const S shapes[] = {{1, 7, 9, 16, 16}, {3, 5, 6, 32, 48}, {2, 8, 8, 64, 64}, {1, 1, 1, 16, 32},
                        {5, 9, 3, 48, 16}, {2, 13, 11, 16, 64}, {1, 2, 17, 80, 32},
                        {2, 7, 5, 8, 24},  {1, 6, 9, 24, 8},   {3, 5, 5, 40, 56}};
    uint32_t seed = 700;
    for (int tile : {2, 4})
    for (const S& c : shapes) {
        const auto s = ConvShape::make(c.N, c.H, c.W, c.C, c.OC, 3, 3, 1, 1, 1, 1, 1);
        INFO("F(" << tile << "x" << tile << ", 3x3) N" << c.N << " H" << c.H << " W" << c.W << " C" << c.C << " OC" << c.OC);
        if (c.C % kernels::kLanes || c.OC % kernels::kLanes) {
            CHECK_FALSE(kernels::conv2d_winograd_supports(s));
            continue;
        }
        REQUIRE(kernels::conv2d_winograd_supports(s));
        const double tol = tile == 2 ? 1e-5 : 3e-5;  // F(4×4)'s larger coefficients round worse (measured ≤ 5e-6)
        const Tensor x = uniform({c.N, c.H, c.W, c.C}, -1, 1, ++seed);
        const Tensor w = uniform({c.OC, c.C, 3, 3}, -1, 1, ++seed);
        const Tensor b = uniform({c.OC}, -1, 1, ++seed);
        const Tensor dy = uniform({c.N, s.OH, s.OW, c.OC}, -1, 1, ++seed);
        Tensor y1 = Tensor::full(dy.shape(), 7.f), y2 = Tensor::empty(dy.shape());
        kernels::conv2d_winograd_forward(s, x.data(), w.data(), b.data(), y1.data(), tile);
        kernels::conv2d_forward_ref(s, x.data(), w.data(), b.data(), y2.data());
        CHECK(rel_diff(y1.to_vector(), y2.to_vector()) < tol);
        kernels::conv2d_winograd_forward(s, x.data(), w.data(), nullptr, y1.data(), tile);  // without bias
        kernels::conv2d_forward_ref(s, x.data(), w.data(), nullptr, y2.data());
        CHECK(rel_diff(y1.to_vector(), y2.to_vector()) < tol);
        Tensor dx1 = Tensor::full(x.shape(), 7.f), dx2 = Tensor::empty(x.shape());  // every element must be written
        kernels::conv2d_winograd_backward_data(s, dy.data(), w.data(), dx1.data(), tile);
        kernels::conv2d_backward_data_ref(s, dy.data(), w.data(), dx2.data());
        CHECK(rel_diff(dx1.to_vector(), dx2.to_vector()) < tol);
        Tensor dw1 = Tensor::full(w.shape(), 7.f), dw2 = Tensor::empty(w.shape());
        kernels::conv2d_winograd_backward_weight(s, x.data(), dy.data(), dw1.data(), tile);
        kernels::conv2d_backward_weight_ref(s, x.data(), dy.data(), dw2.data());
        CHECK(rel_diff(dw1.to_vector(), dw2.to_vector()) < tol);
    }
    // The domain: only stride-1 3×3 padding-1 shapes with channel multiples of kLanes. The dispatch also wants enough
    // tiles and transformed filters that fit in L2, and can be switched off.
    CHECK_FALSE(kernels::conv2d_winograd_supports(ConvShape::make(1, 8, 8, 3, 16, 3, 3, 1, 1, 1, 1, 1)));
    CHECK_FALSE(kernels::conv2d_winograd_supports(ConvShape::make(1, 8, 8, 16, 16, 3, 3, 2, 2, 1, 1, 1)));
    CHECK_FALSE(kernels::conv2d_winograd_supports(ConvShape::make(1, 8, 8, 16, 16, 1, 1, 1, 1, 0, 0, 1)));
    CHECK_FALSE(kernels::conv2d_winograd_supports(ConvShape::make(1, 8, 8, 32, 32, 3, 3, 1, 1, 1, 1, 2)));
    const auto wide = ConvShape::make(8, 8, 8, 32, 32, 3, 3, 1, 1, 1, 1, 1);
    CHECK(kernels::conv2d_winograd_applies(wide));
    CHECK(kernels::conv2d_winograd_applies(ConvShape::make(128, 32, 32, 16, 16, 3, 3, 1, 1, 1, 1, 1)));
    CHECK_FALSE(kernels::conv2d_winograd_applies(ConvShape::make(1, 4, 4, 32, 32, 3, 3, 1, 1, 1, 1, 1)));    // 4 tiles
    CHECK_FALSE(kernels::conv2d_winograd_applies(ConvShape::make(64, 7, 7, 512, 512, 3, 3, 1, 1, 1, 1, 1)));  // U: 16 MB
    {
        const kernels::WinogradScope off(false);
        CHECK_FALSE(kernels::conv2d_winograd_applies(wide));
    }
}

TEST_CASE("depthwise conv kernels equal the reference on odd shapes") {
    // groups == C == OC: MobileNetV2's 3×3 depthwise convs, plus a 5×5 and a 1×1. Channels 5 (scalar tail
    // only), 17 (one vector + a tail of 1), 32 (two full vectors); stride 1 and 2; batch 1 and 3; odd sizes so
    // the last row/column of a stride-2 output has a partial window.
    using kernels::ConvShape;
    struct S {
        int64_t N, H, W, C, K, stride, pad;
    };
    const S shapes[] = {
        {1, 7, 9, 5, 3, 1, 1},  {3, 7, 9, 5, 3, 2, 1},  {3, 9, 7, 17, 3, 1, 1}, {1, 9, 7, 17, 3, 2, 1},
        {1, 8, 8, 32, 3, 2, 1}, {3, 5, 6, 32, 3, 1, 1}, {3, 11, 10, 17, 5, 2, 2}, {1, 6, 5, 32, 3, 2, 0},
        {3, 4, 5, 17, 1, 2, 0}, {1, 2, 3, 32, 3, 1, 1},
    };
    uint32_t seed = 900;
    for (const S& c : shapes) {
        const auto s = ConvShape::make(c.N, c.H, c.W, c.C, c.C, c.K, c.K, c.stride, c.stride, c.pad, c.pad, c.C);
        INFO("depthwise N" << c.N << " H" << c.H << " W" << c.W << " C" << c.C << " K" << c.K << " s" << c.stride
                           << " p" << c.pad);
        REQUIRE(kernels::conv2d_is_depthwise(s));
        const Tensor x = uniform({c.N, c.H, c.W, c.C}, -1, 1, ++seed);
        const Tensor w = uniform({c.C, 1, c.K, c.K}, -1, 1, ++seed);
        const Tensor b = uniform({c.C}, -1, 1, ++seed);
        const Tensor dy = uniform({c.N, s.OH, s.OW, c.C}, -1, 1, ++seed);
        Tensor y1 = Tensor::full(dy.shape(), 7.f), y2 = Tensor::empty(dy.shape());  // every element must be written
        kernels::conv2d_forward(s, x.data(), w.data(), b.data(), y1.data());
        kernels::conv2d_forward_ref(s, x.data(), w.data(), b.data(), y2.data());
        CHECK(rel_diff(y1.to_vector(), y2.to_vector()) < 1e-5);
        kernels::conv2d_forward(s, x.data(), w.data(), nullptr, y1.data());  // without bias
        kernels::conv2d_forward_ref(s, x.data(), w.data(), nullptr, y2.data());
        CHECK(rel_diff(y1.to_vector(), y2.to_vector()) < 1e-5);
        Tensor dx1 = Tensor::full(x.shape(), 7.f), dx2 = Tensor::empty(x.shape());
        kernels::conv2d_backward_data(s, dy.data(), w.data(), dx1.data());
        kernels::conv2d_backward_data_ref(s, dy.data(), w.data(), dx2.data());
        CHECK(rel_diff(dx1.to_vector(), dx2.to_vector()) < 1e-5);
        Tensor dw1 = Tensor::full(w.shape(), 7.f), dw2 = Tensor::empty(w.shape());
        kernels::conv2d_backward_weight(s, x.data(), dy.data(), dw1.data());
        kernels::conv2d_backward_weight_ref(s, x.data(), dy.data(), dw2.data());
        CHECK(rel_diff(dw1.to_vector(), dw2.to_vector()) < 1e-5);
    }
}
