// tests/test_ptq.cpp — PTQ (quant/ptq.h): the Eq. (21) Jacobian, pruning exactly the top (1−p) with the reset,
// Quant(w, Δ), the refined STE by hand, the gradual entry into stage 3, Δ without weight decay, and the 27-entry
// codebook.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "layers/conv2d.h"
#include "quant/codebook.h"
#include "quant/l2_normalize.h"
#include "quant/ptq.h"
#include "quant/quantize_model.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("l2_normalize_rows: unit rows, and the backward is M_w of Eq. (21)") {
    // Row (3, 4): norm 5 → (0.6, 0.8). With g = (1, 0): w̃·g = 0.6, M_w g = (g − w̃ (w̃·g)) / ‖w‖
    //   = ((1, 0) − 0.6·(0.6, 0.8)) / 5 = (0.64, −0.48) / 5 = (0.128, −0.096)
    Tensor w = Tensor::from_vector({1, 2}, {3, 4});
    CHECK(l2_normalize_rows(w).to_vector() == std::vector<float>{0.6f, 0.8f});
    const auto gm = l2_normalize_backward(w, Tensor::from_vector({1, 2}, {1, 0})).to_vector();
    CHECK(gm[0] == doctest::Approx(0.128));
    CHECK(gm[1] == doctest::Approx(-0.096));
    // The explicit matrix of Eq. (21) on a random 5-vector, column by column, against the backward.
    Tensor v = uniform({1, 5}, -1, 1, 81);
    const auto wv = v.to_vector();
    double n2 = 0;
    for (float x : wv) n2 += double(x) * x;
    const double n = std::sqrt(n2);
    for (int j = 0; j < 5; ++j) {
        std::vector<float> e(5, 0.f);
        e[size_t(j)] = 1.f;
        const auto col = l2_normalize_backward(v, Tensor::from_vector({1, 5}, e)).to_vector();
        for (int i = 0; i < 5; ++i) {
            const double M = ((i == j ? 1.0 : 0.0) - double(wv[size_t(i)]) * wv[size_t(j)] / n2) / n;  // Eq. (21)
            CHECK(col[size_t(i)] == doctest::Approx(M).epsilon(1e-5));
        }
    }
    Tensor x = uniform({4, 3, 3, 3}, -1, 1, 82);
    x.set_requires_grad();
    check_gradients({"l2_normalize_rows", {x}, [](auto& in) { return l2_normalize_rows(in[0]); }});
}

TEST_CASE("refined STE: forward value passes through, backward is ∂E/∂ŵ · M_w from the full-precision w") {
    // w = (3, 4) (norm 5), forward value ŵ/‖ŵ‖ = (1, 1)/√2; g = (1, 0) → ∂E/∂w = (0.128, −0.096) as above.
    Tensor w = Tensor::from_vector({1, 2}, {3, 4});
    w.set_requires_grad();
    const float r = 1.f / std::sqrt(2.f);
    Tensor y = refined_ste(w, Tensor::from_vector({1, 2}, {r, r}));
    CHECK(y.to_vector() == std::vector<float>{r, r});
    y.backward(Tensor::from_vector({1, 2}, {1, 0}));
    CHECK(w.grad().to_vector()[0] == doctest::Approx(0.128));
    CHECK(w.grad().to_vector()[1] == doctest::Approx(-0.096));
}

TEST_CASE("Quant(w, Δ) thresholds at ±Δ (Eq. 1)") {
    Tensor w = Tensor::from_vector({6}, {-0.5f, -0.2f, -0.1f, 0.f, 0.2f, 0.35f});
    CHECK(ternarize(w, 0.2f).to_vector() == std::vector<float>{-1, 0, 0, 0, 0, 1});  // |w| ≤ Δ → 0
    CHECK(ternarize(w, 0.f).to_vector() == std::vector<float>{-1, -1, -1, 0, 1, 1});  // the reset: sign(w)
}

TEST_CASE("pruning keeps exactly the top (1 − p) magnitudes, ties broken by index, and resets survivors to ±1") {
    // 10 weights with a tie at |w| = 0.5 (positions 2, 3, 7): p = 0.7 keeps 3 — the two largest, then the first
    // of the tied ones.
    Tensor w = Tensor::from_vector({2, 5}, {0.1f, -0.9f, 0.5f, -0.5f, 0.2f, 0.05f, 0.8f, 0.5f, -0.3f, 0.f});
    PtqQuantizer q(w, {0.7, true, true, 0.5, /*reset_keeps_norm=*/false});
    q.prune(w);
    CHECK(w.to_vector() == std::vector<float>{0, -1, 1, 0, 0, 0, 1, 0, 0, 0});
    CHECK(q.mask.to_vector() == std::vector<float>{0, 1, 1, 0, 0, 0, 1, 0, 0, 0});
    CHECK(q.stage() == 2);
    // Without the resetting trick (the paper's STE-Only ablation) the survivors keep their values.
    Tensor w2 = Tensor::from_vector({1, 4}, {0.1f, -0.9f, 0.5f, 0.2f});
    PtqQuantizer q2(w2, {0.5, false, true, 0.5});
    q2.prune(w2);
    CHECK(w2.to_vector() == std::vector<float>{0, -0.9f, 0.5f, 0});
}

TEST_CASE("the norm-keeping reset: ±RMS of the layer's kept weights, the same ŵ/‖ŵ‖ as ±1, then every row survives Δ₀") {
    // p = 0.5 of 8 weights keeps 4 over the layer: −0.9, 0.8 (row 0) and 0.6, −0.5 (row 1).
    Tensor w = Tensor::from_vector({2, 4}, {0.1f, -0.9f, 0.8f, 0.f, 0.6f, 0.2f, -0.5f, 0.05f});
    PtqQuantizer q(w, {0.5, true, true, 0.5});  // reset_keeps_norm defaults to true
    q.prune(w);
    const float c = std::sqrt((0.81f + 0.64f + 0.36f + 0.25f) / 4);
    const auto v = w.to_vector();
    const std::vector<float> expect{0, -c, c, 0, c, 0, -c, 0};
    for (size_t i = 0; i < 8; ++i) CHECK(v[i] == doctest::Approx(expect[i]));
    // The forward (stage 2: w/‖w‖ per row) equals that of the literal ±1 reset.
    Tensor w_unit = Tensor::from_vector({2, 4}, {0.1f, -0.9f, 0.8f, 0.f, 0.6f, 0.2f, -0.5f, 0.05f});
    PtqQuantizer q_unit(w_unit, {0.5, true, true, 0.5, false});
    q_unit.prune(w_unit);
    const auto y = q.forward(w).to_vector(), y_unit = q_unit.forward(w_unit).to_vector();
    for (size_t i = 0; i < 8; ++i) CHECK(y[i] == doctest::Approx(y_unit[i]));
    // Stage 3 starts with Δ₀ = 0.5·c below every survivor: the same ternary pattern as the reset.
    q.start_ternary(w);
    CHECK(q.codes(w).to_vector() == std::vector<float>{0, -1, 1, 0, 1, 0, -1, 0});
}

TEST_CASE("stage 3: ternary forward ŵ/‖ŵ‖, refined STE for w, Eq. (25) reading for Δ") {
    Tensor w = Tensor::from_vector({1, 4}, {0.9f, -0.8f, 0.1f, 0.7f});
    w.set_requires_grad();
    PtqQuantizer q(w.detach(), {0.0, true, false, 0.5});
    q.start_ternary(w);  // ρ₀ = 0.5: Δ₀ = 0.5 · mean|w| over non-zeros = 0.5 · 0.625 = 0.3125
    CHECK(q.delta_ratio.item() == doctest::Approx(0.5));
    CHECK(q.threshold(w) == doctest::Approx(0.3125));
    // ŵ = (1, −1, 0, 1), ‖ŵ‖ = √3
    const float r3 = 1.f / std::sqrt(3.f);
    const auto y = q.forward(w).to_vector();
    CHECK(y[0] == doctest::Approx(r3));
    CHECK(y[1] == doctest::Approx(-r3));
    CHECK(y[2] == 0.f);
    Tensor g = Tensor::from_vector({1, 4}, {1, 2, -1, 0.5f});
    q.forward(w).backward(g);
    const auto expect = l2_normalize_backward(w.detach(), g).to_vector();  // ∂E/∂ŵ · M_w, Eq. (24)
    const auto got = w.grad().to_vector();
    for (size_t i = 0; i < 4; ++i) CHECK(got[i] == doctest::Approx(expect[i]));
    // ∂L/∂Δ = −Σ_{ŵ≠0} sign(ŵ_i)·∂L/∂w_i = −(e0 − e1 + e3), and ∂L/∂ρ = m·∂L/∂Δ with m = 0.625
    CHECK(q.delta_ratio.grad().item() == doctest::Approx(-0.625 * (expect[0] - expect[1] + expect[3])));
    // Δ in units of m: scaling w scales Δ with it, so the ternary pattern (and the forward) is unchanged.
    Tensor w10 = Tensor::from_vector({1, 4}, {9.f, -8.f, 1.f, 7.f});
    CHECK(q.threshold(w10) == doctest::Approx(3.125));
    CHECK(q.codes(w10).to_vector() == q.codes(w.detach()).to_vector());
}

TEST_CASE("the gradual entry into stage 3: (1 − λ)·w̃ + λ·ŵ/‖ŵ‖, w's gradient unchanged, Δ's scaled by λ") {
    Tensor w = Tensor::from_vector({1, 4}, {0.9f, -0.8f, 0.1f, 0.7f});
    w.set_requires_grad();
    PtqQuantizer q(w.detach(), {0.0, true, false, 0.5});
    q.start_ternary(w);
    const Tensor g = Tensor::from_vector({1, 4}, {1, 2, -1, 0.5f});
    q.forward(w).backward(g);  // λ = 1: the paper's stage 3
    const auto grad_w1 = w.grad().to_vector();
    const float grad_rho1 = q.delta_ratio.grad().item();
    const auto ternary = q.forward(w).to_vector();
    const auto normalized = l2_normalize_rows(w.detach()).to_vector();
    w.zero_grad();
    q.delta_ratio.zero_grad();

    q.ternary_blend = 0.25f;
    const Tensor y = q.forward(w);
    const auto got = y.to_vector();
    for (size_t i = 0; i < 4; ++i) CHECK(got[i] == doctest::Approx(0.75f * normalized[i] + 0.25f * ternary[i]));
    y.backward(g);
    const auto grad_w = w.grad().to_vector();
    for (size_t i = 0; i < 4; ++i) CHECK(grad_w[i] == doctest::Approx(grad_w1[i]));
    CHECK(q.delta_ratio.grad().item() == doctest::Approx(0.25f * grad_rho1));

    // λ from the epochs into stage 3: clamped to [0, 1]; ramp 0 = at once
    std::vector<QuantLayer> layers(1);
    layers[0].quantizer = std::make_shared<PtqQuantizer>(w.detach(), PtqOptions{0.0, true, false, 0.5});
    auto* p = dynamic_cast<PtqQuantizer*>(layers[0].quantizer.get());
    set_ptq_ternary_blend(layers, 0.5, 2.0);
    CHECK(p->ternary_blend == doctest::Approx(0.25f));
    set_ptq_ternary_blend(layers, -3.0, 2.0);
    CHECK(p->ternary_blend == 0.f);
    set_ptq_ternary_blend(layers, 5.0, 2.0);
    CHECK(p->ternary_blend == 1.f);
    set_ptq_ternary_blend(layers, 0.0, 0.0);
    CHECK(p->ternary_blend == 1.f);
}

TEST_CASE("PTQ and TGA thresholds go to the optimizer group without weight decay") {
    Rng rng(0);
    auto conv = std::make_shared<Conv2d>(Conv2dConfig{4, 8, 3}, rng);
    conv->set_weight_quantizer(std::make_shared<PtqQuantizer>(conv->weight, PtqOptions{}));
    const ParameterGroups g = group_parameters(*conv);
    REQUIRE(g.thresholds.size() == 1);
    CHECK(g.thresholds[0].impl() == dynamic_cast<PtqQuantizer*>(conv->weight_quantizer())->delta_ratio.impl());
    CHECK(g.weights.size() == 1);
    // The training apps build the thresholds' SGD group with weight_decay = 0: a step with zero gradient
    // leaves Δ unchanged (with decay it would shrink).
    Tensor delta = g.thresholds[0];
    delta.fill_(0.5f);
    delta.set_grad(Tensor::zeros({1}));
    SGD opt({{"thresholds", g.thresholds, 0.f}}, {0.1f, 0.9f, false});
    opt.step();
    CHECK(delta.item() == 0.5f);
}

TEST_CASE("the 27 codebook entries are distinct and decode back") {
    std::set<int> seen;
    for (int a = -1; a <= 1; ++a)
        for (int b = -1; b <= 1; ++b)
            for (int c = -1; c <= 1; ++c) {
                const uint8_t code = encode_triple(a, b, c);
                CHECK(code < 27);
                seen.insert(code);
                int x, y, z;
                decode_triple(code, x, y, z);
                CHECK((x == a && y == b && z == c));
            }
    CHECK(seen.size() == 27);
}

TEST_CASE("codebook pack → unpack is the identity for random ternary tensors of odd lengths") {
    Rng rng(7);
    for (int64_t row_len : {1, 2, 3, 5, 9, 64, 65, 287}) {
        const int64_t rows = 3;
        std::vector<float> t(static_cast<size_t>(rows * row_len));
        for (float& v : t) v = float(int(rng.below(3)) - 1);
        const std::vector<uint8_t> codes = encode_ternary(t.data(), rows, row_len);
        CHECK(int64_t(codes.size()) == rows * ((row_len + 2) / 3));  // rows padded to a multiple of 3
        const std::vector<uint8_t> packed = pack_5bit(codes);
        CHECK(packed.size() == (codes.size() * 5 + 7) / 8);
        CHECK(unpack_5bit(packed, int64_t(codes.size())) == codes);
        CHECK(decode_ternary(codes, rows, row_len) == t);
        CHECK(decompress_lzma(compress_lzma(codes), codes.size()) == codes);
    }
    // A 3×3 kernel is 3 codes = 15 bits.
    std::vector<float> kernel(9, 1.f);
    CHECK(encode_ternary(kernel.data(), 1, 9).size() * 5 == 15);
}
