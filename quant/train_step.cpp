// quant/train_step.cpp — the joint and the alternating (TGA Algorithm 1) training steps.
#include "quant/train_step.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/loss.h"

namespace tern {

// The name of the first parameter whose gradient holds a NaN or ±Inf, "" if none. One pass over the gradients
// (~0.27M floats for a ResNet-20, well under a millisecond, against ~100 ms for the step itself).
static std::string first_nonfinite_gradient(const Module& model) {
    for (const auto& [name, p] : model.named_parameters()) {
        const Tensor g = p.grad();
        if (!g.defined()) continue;
        const Tensor gc = contiguous_data(g);
        const float* d = gc.data();
        for (int64_t i = 0, n = gc.numel(); i < n; ++i)
            if (!std::isfinite(d[i])) return name;
    }
    return "";
}

// forward → loss → backward. Gradients are left in the parameters for the caller's optimizer(s), unless the
// loss or a gradient is not finite: then r.diverged says which, and nothing may be applied.
static StepResult forward_backward(Module& model, const Tensor& images, const std::vector<int32_t>& labels,
                                   float label_smoothing, const Distillation* kd,
                                   const OscillationDampening* damp) {
    const Tensor logits = model.forward(images);
    Tensor loss = cross_entropy(logits, labels, label_smoothing);
    if (kd)  // (1 − α)·CE + α·T²·KL(teacher ‖ student)
        loss = add(mul(loss, 1.f - kd->alpha), mul(distillation_loss(logits, kd->teacher_logits, kd->temperature), kd->alpha));
    StepResult r{loss.item(), count_correct(logits, labels), ""};
    if (!std::isfinite(r.loss)) {  // a NaN/Inf loss is reported, never back-propagated
        r.diverged = std::string("the loss is ") + (std::isnan(r.loss) ? "nan" : "inf");
        return r;
    }
    if (damp && damp->lambda > 0) loss = add(loss, oscillation_dampening_loss(damp->layers, damp->lambda));
    loss.backward();
    const std::string bad = first_nonfinite_gradient(model);
    if (!bad.empty()) r.diverged = "the gradient of '" + bad + "' is not finite";
    return r;
}

// Copies of the module's buffers, taken before a forward pass, to undo what it wrote into them (BatchNorm's
// running statistics) when the step turns out not to be finite.
struct BufferSnapshot {
    std::vector<std::pair<Tensor, Tensor>> saved;  // (buffer, its copy)
    explicit BufferSnapshot(const Module& model) {
        for (const auto& [name, b] : model.named_buffers()) saved.emplace_back(b, b.clone());
    }
    void restore() const {
        for (const auto& [buffer, copy] : saved) buffer.copy_(copy);
    }
};

StepResult train_step(Module& model, const Tensor& images, const std::vector<int32_t>& labels, SGD& weights,
                      SGD* thresholds, UpdateMode mode, float label_smoothing,
                      const Distillation* kd, const OscillationDampening* damp) {
    const BufferSnapshot buffers(model);
    auto give_up = [&](StepResult r) {
        buffers.restore();
        weights.zero_grad();  // the bad gradients must not reach a later step()
        if (thresholds) thresholds->zero_grad();
        return r;
    };
    weights.zero_grad();
    if (thresholds) thresholds->zero_grad();
    if (mode == UpdateMode::Joint) {
        StepResult r = forward_backward(model, images, labels, label_smoothing, kd, damp);
        if (!r.diverged.empty()) return give_up(r);
        weights.step();
        if (thresholds) thresholds->step();
        return r;
    }
    TERN_CHECK(thresholds, "alternating updates need threshold parameters (a TGA or PTQ quantizer)");
    // Step 3 of Algorithm 1: update the thresholds δ only.
    StepResult r = forward_backward(model, images, labels, label_smoothing, kd, damp);
    if (!r.diverged.empty()) return give_up(r);
    thresholds->step();
    // Step 4: the same batch again, ternarized with the new thresholds; update the weights only.
    weights.zero_grad();
    thresholds->zero_grad();
    r = forward_backward(model, images, labels, label_smoothing, kd, damp);
    if (!r.diverged.empty()) return give_up(r);
    weights.step();
    return r;
}

}  // namespace tern
