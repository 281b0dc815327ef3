// tests/test_train_step.cpp — the divergence guard of train_step (quant/train_step.h): a NaN/Inf loss or gradient
// is reported, and the step changes no parameter and no buffer, so a run can stop on a good state or skip it.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/simple_layers.h"
#include "optim/sgd.h"
#include "quant/train_step.h"

using namespace tern;

namespace {

// Every parameter and buffer as raw bytes, so that NaN == NaN and the comparison is bit for bit.
std::map<std::string, std::vector<uint8_t>> snapshot(const Module& model) {
    std::map<std::string, std::vector<uint8_t>> out;
    for (const auto& [name, t] : model.state_dict()) {
        const std::vector<float> v = t.to_vector();
        std::vector<uint8_t> bytes(v.size() * sizeof(float));
        if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
        out[name] = bytes;
    }
    return out;
}

// A batch of two 5×5 images with one channel (NHWC), all 0.5 except pixel (2, 2) of image 0.
Tensor batch_with(float pixel) {
    std::vector<float> v(2 * 5 * 5, 0.5f);
    v[2 * 5 + 2] = pixel;
    return Tensor::from_vector({2, 5, 5, 1}, v);
}

}  // namespace

TEST_CASE("train_step: a NaN in the batch that reaches the loss is reported and changes nothing") {
    // conv → BN → global pool → linear. The NaN pixel makes the BN batch mean NaN, and so the loss. The forward
    // pass has already blended that mean into running_mean: the guard must put it back.
    Rng rng(3);
    Sequential model({std::make_shared<Conv2d>(Conv2dConfig{1, 4, 3, 1, 1}, rng), std::make_shared<BatchNorm2d>(4),
                      std::make_shared<GlobalAvgPool>(), std::make_shared<Linear>(4, 3, true, rng)});
    SGD opt({{"all", model.parameters(), 5e-4f}}, {0.1f, 0.9f, false});
    const std::vector<int32_t> labels = {0, 2};

    const auto before = snapshot(model);
    const StepResult r = train_step(model, batch_with(std::nanf("")), labels, opt, nullptr, UpdateMode::Joint);
    CHECK(std::isnan(r.loss));
    CHECK(r.diverged == "the loss is nan");
    CHECK(snapshot(model) == before);  // weights, biases, running_mean, running_var: bit for bit
    CHECK(opt.state().empty());        // no momentum buffer was started either
}

TEST_CASE("train_step: a NaN the ReLU hides from the loss is caught in the gradient, naming the parameter") {
    // The same network with the ReLU fused into BN. The NaN channel normalizes to NaN, and ReLU's max(x, 0)
    // makes it 0: the loss is finite. But the conv's weight gradient sums ∂L/∂y · x over every position,
    // including the NaN pixel: NaN. Checking the loss alone would apply it and ruin every weight.
    Rng rng(3);
    Sequential model({std::make_shared<Conv2d>(Conv2dConfig{1, 4, 3, 1, 1}, rng),
                      std::make_shared<BatchNorm2d>(4, /*fused_relu=*/true), std::make_shared<GlobalAvgPool>(),
                      std::make_shared<Linear>(4, 3, true, rng)});
    SGD opt({{"all", model.parameters(), 5e-4f}}, {0.1f, 0.9f, false});
    const std::vector<int32_t> labels = {0, 2};

    const auto before = snapshot(model);
    const StepResult r = train_step(model, batch_with(std::nanf("")), labels, opt, nullptr, UpdateMode::Joint);
    CHECK(std::isfinite(r.loss));
    CHECK(r.diverged == "the gradient of '0.weight' is not finite");
    CHECK(snapshot(model) == before);  // running_mean had become NaN in the forward pass: restored
    for (const Tensor& p : model.parameters()) CHECK_FALSE(p.grad().defined());  // bad gradients dropped

    // The guard does not get in the way of a good batch.
    const StepResult ok = train_step(model, batch_with(0.9f), labels, opt, nullptr, UpdateMode::Joint);
    CHECK(ok.diverged.empty());
    CHECK(std::isfinite(ok.loss));
    CHECK(snapshot(model) != before);
}

TEST_CASE("train_step with distillation: α = 0 is plain cross-entropy, α = 1 follows only the teacher") {
    // Three copies of one conv → pool → linear model, stepped on the same batch with the same optimizer settings.
    auto make = [] {
        Rng rng(5);
        return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
            std::make_shared<Conv2d>(Conv2dConfig{1, 4, 3, 1, 1}, rng), std::make_shared<GlobalAvgPool>(),
            std::make_shared<Linear>(4, 3, true, rng)});
    };
    auto plain = make(), alpha0 = make(), alpha1 = make();
    const Tensor images = batch_with(0.9f);
    const std::vector<int32_t> labels = {0, 2};
    auto step = [&](Module& m, const Distillation* kd) {
        SGD opt({{"all", m.parameters(), 0.f}}, {0.1f, 0.f, false});
        return train_step(m, images, labels, opt, nullptr, UpdateMode::Joint, 0.f, kd);
    };
    step(*plain, nullptr);
    // The teacher's logits are the student's own: with α = 1 the loss is T²·KL(q ‖ q) = 0, and so is every gradient.
    Tensor own_logits;
    {
        NoGradGuard no_grad;
        own_logits = alpha1->forward(images);
    }
    const Distillation kd0{Tensor::from_vector({2, 3}, {5.f, -1.f, 0.f, 2.f, 2.f, -3.f}), 0.f, 4.f};
    const Distillation kd1{own_logits, 1.f, 4.f};
    const StepResult r0 = step(*alpha0, &kd0);
    const StepResult r1 = step(*alpha1, &kd1);
    CHECK(r1.loss == doctest::Approx(0.0).epsilon(1e-6));
    const auto p = plain->state_dict(), a0 = alpha0->state_dict(), a1 = alpha1->state_dict(), fresh = make()->state_dict();
    for (const auto& [name, t] : p) {
        CHECK_MESSAGE(t.to_vector() == a0.at(name).to_vector(), name);  // α = 0: the teacher has no effect
        const std::vector<float> moved = a1.at(name).to_vector(), orig = fresh.at(name).to_vector();
        for (size_t i = 0; i < moved.size(); ++i) CHECK(moved[i] == doctest::Approx(orig[i]).epsilon(1e-6));
    }
    CHECK(r0.loss > 0.f);
}
