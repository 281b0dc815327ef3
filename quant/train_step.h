// quant/train_step.h — one optimization step on a batch, for full-precision and quantized models alike.
//
// Joint: forward, backward, then every optimizer steps (thresholds and weights updated by one backward).
// Alternating: TGA's Algorithm 1 — (1) forward/backward, update the thresholds only; (2) forward/backward on the
// same batch, now with the updated thresholds, update the weights only. Twice the compute of Joint, which
// exists as the faster "single-pass" alternative.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"
#include "optim/sgd.h"
#include "quant/oscillation_dampening.h"

namespace tern {

enum class UpdateMode { Joint, Alternating };

struct StepResult {
    float loss = 0;       // of the (last) forward pass; not finite means the run diverged
    int64_t correct = 0;  // predictions equal to the label in that pass
    // Empty if the step was applied. Otherwise why it was not — "the loss is nan", "the gradient of
    // 'layer1.0.conv1.weight' is not finite" — and the step changed no parameter and no buffer.
    std::string diverged;
};

// Optional knowledge distillation: the loss becomes (1 − α)·CE(labels) + α·distillation_loss(teacher, T)
// (core/ops/loss.h). The caller computes the teacher's logits for the same images (a model in eval mode, no
// graph); they are constants here.
struct Distillation {
    Tensor teacher_logits;  // (N, K)
    float alpha = 0.5f;
    float temperature = 4.f;
};

// Optional oscillation dampening (quant/oscillation_dampening.h): λ·Σ(w − sg(q(w)))² is added to the loss that is
// back-propagated; StepResult::loss stays the task loss (CE or the distillation mix), comparable with and without.
// `thresholds` may be null (no quantizer thresholds). Alternating requires it.
// Divergence guard: a NaN/Inf loss, or a NaN/Inf in any parameter's gradient, is reported in `diverged` and
// never applied; the buffers the forward pass updated (BatchNorm's running statistics) are restored too, so
// the caller may skip the batch and go on. In Alternating mode a divergence in the second pass leaves the
// first pass's threshold update (made from finite values) in place.
StepResult train_step(Module& model, const Tensor& images, const std::vector<int32_t>& labels, SGD& weights,
                      SGD* thresholds, UpdateMode mode, float label_smoothing = 0.f,
                      const Distillation* distillation = nullptr,
                      const OscillationDampening* dampening = nullptr);

}  // namespace tern
