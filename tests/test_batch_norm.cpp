// tests/test_batch_norm.cpp — batch norm: hand-computed normalization, running statistics, eval mode,
// fused ReLU, and finite-difference gradients.
#include <doctest/doctest.h>

#include <cmath>

#include "core/kernels/batch_norm.h"
#include "core/ops/batch_norm.h"
#include "core/ops/elementwise.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("batch norm normalizes each channel with the batch statistics") {
    // (2 pixels, 2 channels): channel 0 holds {1, 3}: mean 2, biased var 1 → {−1, +1};
    // channel 1 holds {10, 10}: var 0 → both 0 (ε keeps the division finite).
    Tensor x = Tensor::from_vector({2, 2}, {1, 10, 3, 10});
    Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), {.training = true});
    CHECK(y.at({0, 0}) == doctest::Approx(-1.0).epsilon(1e-4));
    CHECK(y.at({1, 0}) == doctest::Approx(1.0).epsilon(1e-4));
    CHECK(y.at({0, 1}) == doctest::Approx(0.0));
    // γ = 2, β = 0.5 scale and shift the normalized values: 2·(−1) + 0.5 = −1.5
    Tensor g = Tensor::from_vector({2}, {2, 1}), b = Tensor::from_vector({2}, {0.5f, 0});
    CHECK(batch_norm(x, g, b, Tensor(), Tensor()).at({0, 0}) == doctest::Approx(-1.5).epsilon(1e-4));
}

TEST_CASE("batch norm running statistics after two steps use momentum 0.1 and the unbiased variance") {
    // running_mean starts at 0, running_var at 1.
    // Step 1, values {1, 3}: mean 2, unbiased var 2 → mean 0.9·0 + 0.1·2 = 0.2,  var 0.9·1 + 0.1·2 = 1.1
    // Step 2, values {2, 6}: mean 4, unbiased var 8 → mean 0.9·0.2 + 0.4 = 0.58, var 0.9·1.1 + 0.8 = 1.79
    Tensor rm = Tensor::zeros({1}), rv = Tensor::ones({1});
    batch_norm(Tensor::from_vector({2, 1}, {1, 3}), Tensor(), Tensor(), rm, rv);
    CHECK(rm.item() == doctest::Approx(0.2));
    CHECK(rv.item() == doctest::Approx(1.1));
    batch_norm(Tensor::from_vector({2, 1}, {2, 6}), Tensor(), Tensor(), rm, rv);
    CHECK(rm.item() == doctest::Approx(0.58));
    CHECK(rv.item() == doctest::Approx(1.79));
}

TEST_CASE("batch norm in eval mode uses the running statistics and leaves them alone") {
    // running mean 1, var 4: x = 5 → (5 − 1)/√(4 + 1e−5) ≈ 2
    Tensor rm = Tensor::from_vector({1}, {1}), rv = Tensor::from_vector({1}, {4});
    Tensor y = batch_norm(Tensor::from_vector({1, 1}, {5}), Tensor(), Tensor(), rm, rv, {.training = false});
    CHECK(y.item() == doctest::Approx(2.0).epsilon(1e-4));
    CHECK(rm.item() == 1.f);
    CHECK(rv.item() == 4.f);
}

TEST_CASE("fused batch norm + relu equals relu(batch norm)") {
    Tensor x = uniform({3, 7, 9, 5}, -1, 1, 7);
    Tensor g = uniform({5}, 0.5f, 1.5f, 8), b = uniform({5}, -0.3f, 0.3f, 9);
    Tensor fused = batch_norm(x, g, b, Tensor(), Tensor(), {.relu = true});
    Tensor plain = relu(batch_norm(x, g, b, Tensor(), Tensor()));
    CHECK(fused.to_vector() == plain.to_vector());
}

namespace {
// Per channel, a shuffled symmetric set of values (mean exactly 0, none at 0), so x̂ stays ≥ 0.1/σ away from
// the ReLU kink at β = 0 even when one element moves by ε.
Tensor symmetric_channels(const Shape& shape, uint32_t seed) {
    const int64_t C = shape.back(), M = shape_numel(shape) / C;
    Tensor t = Tensor::empty(shape);
    std::mt19937 rng(seed);
    for (int64_t c = 0; c < C; ++c) {
        std::vector<float> v;
        for (int64_t i = 0; i < M; ++i) v.push_back((float(i) - float(M - 1) / 2.f) * 0.2f / float(M) * 10.f);
        std::shuffle(v.begin(), v.end(), rng);
        for (int64_t i = 0; i < M; ++i) t.data()[i * C + c] = v[size_t(i)] * (1.f + 0.3f * float(c)) + 0.5f * float(c);
    }
    return t;
}
}  // namespace

TEST_CASE("batch norm gradients match finite differences (train, eval, fused relu)") {
    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    Tensor x = leaf(uniform({3, 7, 9, 5}, -1, 2, 21));
    Tensor g = leaf(uniform({5}, 0.5f, 1.5f, 22)), b = leaf(uniform({5}, -0.5f, 0.5f, 23));
    check_gradients({"train", {x, g, b}, [](auto& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor()); }});
    Tensor rm = uniform({5}, -0.5f, 0.5f, 24), rv = uniform({5}, 0.5f, 2.f, 25);
    check_gradients({"eval", {x, g, b}, [rm, rv](auto& in) {
                         return batch_norm(in[0], in[1], in[2], rm, rv, {.training = false});
                     }});
    Tensor xs = leaf(symmetric_channels({2, 5, 7, 4}, 26));  // 70 values per channel: an even count, none at 0
    Tensor g4 = leaf(uniform({4}, 0.5f, 1.5f, 27)), b0 = leaf(Tensor::zeros({4}));
    check_gradients({"train + relu", {xs, g4, b0}, [](auto& in) {
                         return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), {.relu = true});
                     }});
    Tensor x2d = leaf(uniform({6, 5}, -1, 1, 28));
    check_gradients({"(N, C) features", {x2d, g, b}, [](auto& in) {
                         return batch_norm(in[0], in[1], in[2], Tensor(), Tensor());
                     }});
}

TEST_CASE("fast batch-norm passes equal the reference loops (C = 8, 16, 24, 48, 80; odd row counts; relu on/off; with "
          "and without an output quantizer)") {
    using namespace tern::kernels;
    for (int64_t C : {8, 16, 24, 48, 80})  // 8 and 24: vectors on AVX2 builds, the reference loops on AVX-512
        for (int64_t M : {1, 7, 301}) {
            INFO("M = " << M << ", C = " << C);
            const Tensor x = uniform({M, C}, -1, 2, uint32_t(M + C)), g = uniform({M, C}, -1, 1, uint32_t(M * C));
            const Tensor a = uniform({C}, 0.5f, 1.5f, 3), b = uniform({C}, -0.5f, 0.5f, 4), mu = uniform({C}, 0, 1, 5);
            const Tensor k1 = uniform({C}, -1, 1, 6), k2 = uniform({C}, -1, 1, 7), k3 = uniform({C}, -1, 1, 8);
            std::vector<double> f1(static_cast<size_t>(C)), f2(f1), r1(f1), r2(f1);
            bn_moments(x.data(), mu.data(), M, C, f1.data(), f2.data());
            bn_moments_ref(x.data(), mu.data(), M, C, r1.data(), r2.data());
            for (int64_t c = 0; c < C; ++c) {
                CHECK(f1[size_t(c)] == doctest::Approx(r1[size_t(c)]).epsilon(1e-5));
                CHECK(f2[size_t(c)] == doctest::Approx(r2[size_t(c)]).epsilon(1e-5));
            }
            // Output quantizers fused into the passes: none; unsigned 2-bit (lo 0, hi 3); signed 4-bit (−8, 7).
            const FakeQuant quants[] = {{}, make_fake_quant(0.37f, 0.f, 3.f), make_fake_quant(0.21f, -8.f, 7.f)};
            for (bool relu : {false, true})
                for (const FakeQuant& quant : quants) {
                    INFO("relu " << relu << ", quantizer step " << quant.step);
                    const BnAffine f{a.data(), b.data(), relu, quant};
                    Tensor y1 = Tensor::empty({M, C}), y2 = Tensor::empty({M, C});
                    bn_apply(x.data(), y1.data(), M, C, f);
                    bn_apply_ref(x.data(), y2.data(), M, C, f);
                    CHECK(y1.to_vector() == y2.to_vector());
                    std::vector<double> f3(static_cast<size_t>(C)), r3(f3);
                    bn_grad_sums(g.data(), x.data(), mu.data(), M, C, f, f1.data(), f2.data(), f3.data());
                    bn_grad_sums_ref(g.data(), x.data(), mu.data(), M, C, f, r1.data(), r2.data(), r3.data());
                    for (int64_t c = 0; c < C; ++c) {
                        CHECK(std::fabs(f1[size_t(c)] - r1[size_t(c)]) < 1e-5);  // float blocks vs double: rounding only
                        CHECK(std::fabs(f2[size_t(c)] - r2[size_t(c)]) < 1e-5);
                        if (quant.on()) CHECK(std::fabs(f3[size_t(c)] - r3[size_t(c)]) < 1e-4);  // terms up to |hi| = 7
                    }
                    bn_grad_apply(g.data(), x.data(), mu.data(), k1.data(), k2.data(), k3.data(), y1.data(), M, C, f);
                    bn_grad_apply_ref(g.data(), x.data(), mu.data(), k1.data(), k2.data(), k3.data(), y2.data(), M, C, f);
                    const auto v1 = y1.to_vector(), v2 = y2.to_vector();
                    for (size_t i = 0; i < v1.size(); ++i) CHECK(v1[i] == doctest::Approx(v2[i]).epsilon(1e-5).scale(1e-5));
                }
        }
}
