// quant/train_step.cpp — the joint and the alternating (TGA Algorithm 1) training steps.
#include "quant/train_step.h"

#include <cmath>

#include "core/error.h"
#include "core/ops/loss.h"

namespace tern {

// forward → loss → backward. Gradients are left in the parameters for the caller's optimizer(s).
static StepResult forward_backward(Module& model, const Tensor& images, const std::vector<int32_t>& labels,
                                   float label_smoothing) {
    const Tensor logits = model.forward(images);
    const Tensor loss = cross_entropy(logits, labels, label_smoothing);
    StepResult r{loss.item(), count_correct(logits, labels)};
    if (std::isfinite(r.loss)) loss.backward();  // a NaN/Inf loss is reported, never applied
    return r;
}

StepResult train_step(Module& model, const Tensor& images, const std::vector<int32_t>& labels, SGD& weights,
                      SGD* thresholds, UpdateMode mode, float label_smoothing) {
    weights.zero_grad();
    if (thresholds) thresholds->zero_grad();
    if (mode == UpdateMode::Joint) {
        StepResult r = forward_backward(model, images, labels, label_smoothing);
        if (!std::isfinite(r.loss)) return r;
        weights.step();
        if (thresholds) thresholds->step();
        return r;
    }
    TERN_CHECK(thresholds, "alternating updates need threshold parameters (a TGA or PTQ quantizer)");
    // Step 3 of Algorithm 1: update the thresholds δ only.
    StepResult r = forward_backward(model, images, labels, label_smoothing);
    if (!std::isfinite(r.loss)) return r;
    thresholds->step();
    // Step 4: the same batch again, ternarized with the new thresholds; update the weights only.
    weights.zero_grad();
    thresholds->zero_grad();
    r = forward_backward(model, images, labels, label_smoothing);
    if (!std::isfinite(r.loss)) return r;
    weights.step();
    return r;
}

}  // namespace tern
