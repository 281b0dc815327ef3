// tests/test_oscillation_dampening.cpp — oscillation dampening (quant/oscillation_dampening.h): the loss value
// and its gradient 2λ(w − q(w)) against the formula, the pull away from the thresholds, no gradient to δ, the
// annealed weight, PTQ's target (nothing before stage 3, Quant(w, Δ)·a in it), the code-change counter, and
// train_step adding the term to what it back-propagates while reporting the task loss.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/simple_layers.h"
#include "optim/sgd.h"
#include "quant/oscillation_dampening.h"
#include "quant/ptq.h"
#include "quant/quantize_model.h"
#include "quant/train_step.h"

using namespace tern;

namespace {
// conv(1→4, 3×3) → global pool → linear(4→3), both weights TGA-ternarized.
struct TinyTga {
    Rng rng{11};
    Sequential model{{std::make_shared<Conv2d>(Conv2dConfig{1, 4, 3, 1, 1}, rng), std::make_shared<GlobalAvgPool>(),
                      std::make_shared<Linear>(4, 3, true, rng)}};
    std::vector<QuantLayer> layers;
    explicit TinyTga(const std::string& method = "tga") {
        QuantizeConfig qc;
        qc.method = method;
        layers = attach_weight_quantizers(model, qc);
    }
};

// λ·Σ(w − S·Tern(w))² by hand, with Tern and S from the quantizer's own codes and scale.
double expected_loss(const std::vector<QuantLayer>& layers, double lambda) {
    double total = 0;
    for (const QuantLayer& l : layers) {
        const std::vector<float> w = l.weight.to_vector(), c = l.quantizer->codes(l.weight).to_vector();
        const float S = l.quantizer->scales(l.weight).to_vector()[0];
        for (size_t i = 0; i < w.size(); ++i) total += (w[i] - S * c[i]) * (w[i] - S * c[i]);
    }
    return lambda * total;
}
}  // namespace

TEST_CASE("oscillation dampening: λ·Σ(w − q(w))², gradient 2λ(w − q(w)) to the weights, none to δ") {
    TinyTga net;
    const float lambda = 0.3f;
    const Tensor loss = oscillation_dampening_loss(net.layers, lambda);
    CHECK(loss.item() == doctest::Approx(expected_loss(net.layers, lambda)).epsilon(1e-5));
    loss.backward();
    for (const QuantLayer& l : net.layers) {
        const std::vector<float> w = l.weight.to_vector(), c = l.quantizer->codes(l.weight).to_vector();
        const std::vector<float> g = l.weight.grad().to_vector();
        const float S = l.quantizer->scales(l.weight).to_vector()[0];
        for (size_t i = 0; i < w.size(); ++i) CHECK(g[i] == doctest::Approx(2 * lambda * (w[i] - S * c[i])).epsilon(1e-5));
        for (const Tensor& delta : l.quantizer->thresholds()) CHECK_FALSE(delta.grad().defined());
    }
}

TEST_CASE("oscillation dampening pulls weights on either side of a threshold away from it") {
    TinyTga net;
    const QuantLayer& conv = net.layers[0];
    const std::vector<float> w = conv.weight.to_vector(), c = conv.quantizer->codes(conv.weight).to_vector();
    const float S = conv.quantizer->scales(conv.weight).to_vector()[0];
    oscillation_dampening_loss(net.layers, 1.f).backward();
    const std::vector<float> g = conv.weight.grad().to_vector();
    int above = 0, below = 0;
    for (size_t i = 0; i < w.size(); ++i) {
        const float step = -g[i];  // the direction plain gradient descent moves w
        if (c[i] == 1 && w[i] < S) {  // a +1 between the threshold and S: pushed outwards
            CHECK(step > 0);
            ++above;
        }
        if (c[i] == 0 && w[i] > 0) {  // a zero above 0: back towards 0, away from +δ
            CHECK(step < 0);
            ++below;
        }
        if (c[i] == -1 && w[i] > -S) CHECK(step < 0);
        if (c[i] == 0 && w[i] < 0) CHECK(step > 0);
    }
    CHECK(above > 0);  // the cases were exercised
    CHECK(below > 0);
}

TEST_CASE("the dampening weight rises from 0 to λ_max on a cosine, or stays constant") {
    CHECK(dampening_weight("cosine", 0.2f, 0.0) == 0.f);
    CHECK(dampening_weight("cosine", 0.2f, 0.5) == doctest::Approx(0.1));
    CHECK(dampening_weight("cosine", 0.2f, 1.0) == doctest::Approx(0.2));
    CHECK(dampening_weight("cosine", 0.2f, 0.25) < dampening_weight("cosine", 0.2f, 0.5));
    CHECK(dampening_weight("constant", 0.2f, 0.1) == 0.2f);
    CHECK_THROWS_WITH(dampening_weight("linear", 0.2f, 0.5), doctest::Contains("cosine | constant"));
    CHECK_THROWS(dampening_weight("cosine", -1.f, 0.5));
}

TEST_CASE("oscillation dampening works for TWN; PTQ adds nothing before stage 3, then pulls to Quant(w, Δ)·a") {
    TinyTga twn("twn");
    CHECK(oscillation_dampening_loss(twn.layers, 0.5f).item() == doctest::Approx(expected_loss(twn.layers, 0.5)).epsilon(1e-5));
    TinyTga ptq("ptq");  // stage 1: a float forward, no codes to oscillate across
    const Tensor none = oscillation_dampening_loss(ptq.layers, 0.5f);
    CHECK(none.item() == 0.f);
    CHECK_FALSE(none.requires_grad());

    // One PTQ row in stage 3 (no pruning): w = (0.9, −0.8, 0.1, 0.7, −0.2), Δ = 0.5·mean|w| = 0.27, codes
    // (1, −1, 0, 1, 0), a = mean |w| over the non-zero codes = (0.9 + 0.8 + 0.7)/3 = 0.8.
    Tensor w = Tensor::from_vector({1, 5}, {0.9f, -0.8f, 0.1f, 0.7f, -0.2f});
    w.set_requires_grad();
    auto q = std::make_shared<PtqQuantizer>(w.detach(), PtqOptions{0.0, true, false, 0.5});
    CHECK_FALSE(q->codes_are_ternary());  // stage 1: codes() is sign(w)
    q->start_ternary(w);
    CHECK(q->codes_are_ternary());
    const std::vector<float> target = {0.8f, -0.8f, 0.f, 0.8f, 0.f};
    const std::vector<float> got = q->dampening_target(w).to_vector();
    for (size_t i = 0; i < 5; ++i) CHECK(got[i] == doctest::Approx(target[i]));
    const std::vector<QuantLayer> layers = {{"row", nullptr, w, q}};
    const Tensor loss = oscillation_dampening_loss(layers, 0.5f);
    double expect = 0;
    for (size_t i = 0; i < 5; ++i) expect += 0.5 * (w.to_vector()[i] - target[i]) * (w.to_vector()[i] - target[i]);
    CHECK(loss.item() == doctest::Approx(expect));
    loss.backward();
    const std::vector<float> g = w.grad().to_vector();
    for (size_t i = 0; i < 5; ++i) CHECK(g[i] == doctest::Approx(2 * 0.5 * (w.to_vector()[i] - target[i])));
    // The pulls point away from Δ = 0.27: 0.7 (a +1 inside a) outwards, −0.2 (a 0) towards 0.
    CHECK(-g[3] > 0);
    CHECK(-g[4] > 0);
    CHECK_FALSE(q->delta_ratio.grad().defined());
}

TEST_CASE("count_code_changes counts the positions where two code snapshots differ") {
    const Tensor a = Tensor::from_vector({5}, {1, 0, -1, 0, 1}), b = Tensor::from_vector({5}, {1, 1, -1, 0, -1});
    CHECK(count_code_changes(a, b) == 2);
    CHECK(count_code_changes(a, a) == 0);
    CHECK_THROWS(count_code_changes(a, Tensor::from_vector({4}, {1, 0, -1, 0})));
}

TEST_CASE("train_step with dampening: the weights get the extra 2λ(w − q(w)), the reported loss is the task's") {
    // Two identical nets, one step each on the same batch: with and without dampening. With lr η and no
    // momentum or weight decay, the weights differ after the step by exactly η·2λ(w − q(w)).
    TinyTga plain, damped;
    const Tensor images = Tensor::from_vector({2, 4, 4, 1}, std::vector<float>(32, 0.25f));
    const std::vector<int32_t> labels = {0, 2};
    const float lr = 0.05f, lambda = 0.4f;
    std::vector<std::vector<float>> w0, q0;
    for (const QuantLayer& l : damped.layers) {
        std::vector<float> q = l.quantizer->codes(l.weight).to_vector();
        const float S = l.quantizer->scales(l.weight).to_vector()[0];
        for (float& v : q) v *= S;
        w0.push_back(l.weight.to_vector());
        q0.push_back(q);
    }
    SGD opt_plain({{"all", plain.model.parameters(), 0.f}}, {lr, 0.f, false});
    SGD opt_damped({{"all", damped.model.parameters(), 0.f}}, {lr, 0.f, false});
    const OscillationDampening dampening{damped.layers, lambda};
    const StepResult a = train_step(plain.model, images, labels, opt_plain, nullptr, UpdateMode::Joint);
    const StepResult b = train_step(damped.model, images, labels, opt_damped, nullptr, UpdateMode::Joint, 0.f, nullptr, &dampening);
    CHECK(a.loss == b.loss);  // the task loss, without the dampening term
    for (size_t k = 0; k < damped.layers.size(); ++k) {
        const std::vector<float> wa = plain.layers[k].weight.to_vector(), wb = damped.layers[k].weight.to_vector();
        for (size_t i = 0; i < wa.size(); ++i)
            CHECK(wa[i] - wb[i] == doctest::Approx(lr * 2 * lambda * (w0[k][i] - q0[k][i])).epsilon(1e-3).scale(1e-6));
    }
}
