// quant/oscillation_dampening.h — a regularizer that keeps latent weights away from the ternary thresholds.
//
// Why: with a straight-through estimator a latent weight w that sits at a threshold (μ ± δᶜ for TGA) flips its
// ternary value back and forth — the gradient of the weight it computes with, w' = S·Tern(w), pushes it across,
// and from the other side pushes it back (Nagel et al., "Overcoming Oscillations in Quantization-Aware Training",
// ICML 2022, Sec. 3). Each flip moves w' by a whole S, the BatchNorm running statistics trail the flips, and the
// model a run ends with depends on which side each oscillating weight happened to be on at the last step.
// Measured on a 20-epoch TGA run (README "Oscillations"): one more epoch at lr 6e-5 — 0.6 % of the peak rate —
// flips 0.9 % of all ternary weights and moves the test accuracy by 0.9 points.
//
// The remedy here is Nagel et al.'s oscillation dampening (Sec. 4.1): add to the loss
//     L_dampen = λ · Σ_layers Σ_i (w_i − sg(q(w)_i))²
// where q(w) = code·scale is the quantized weight the layer computes with and sg() stops the gradient (q is a
// constant). Its gradient 2λ·(w − q(w)) pulls each latent weight towards the value it is quantized to: 0 for a
// zero (the middle of its bin, up to μ ≈ 0), ±S for the others (S, TGA Eq. 10, is the truncated-Gaussian mean
// of the weights beyond the threshold, so it lies beyond the threshold too). Both pulls point away from the
// threshold, so a weight needs a real push from the task loss to cross it. Following the paper, λ is annealed
// from 0 at the start (free exploration while the learning rate is high) to λ_max at the end (settling).
// The sum (not a mean) keeps the pull per weight the same in every layer. q(w) must live in the latent weights'
// own units: it is the quantizer's dampening_target (weight_quantizer.h) — for TGA and TWN the weight the layer
// computes with; PTQ computes with ŵ/‖ŵ‖, which has no scale, so its target is Quant(w, Δ)·(the layer's mean |w|
// over its non-zero codes), and in its float stages 1–2 it has none (those layers add nothing).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "quant/quantize_model.h"

namespace tern {

struct OscillationDampening {
    std::vector<QuantLayer> layers;  // the quantized layers (those without a quantizer are skipped)
    float lambda = 0;                // the current weight λ (see dampening_weight)
};

// λ · Σ (w − sg(q(w)))² over the layers' weights: a scalar with autograd history to the latent weights only
// (a plain 0 while no layer has ternary codes yet). Throws if no layer has a quantizer.
Tensor oscillation_dampening_loss(const std::vector<QuantLayer>& layers, float lambda);

// The annealed weight: "cosine" λ_max·(1 − cos(π·t))/2 rising from 0 to λ_max, "constant" λ_max;
// t = progress through the run in [0, 1].
float dampening_weight(const std::string& schedule, float lambda_max, double progress);

// How many ternary codes differ between two snapshots of a layer's codes (the flips between them).
int64_t count_code_changes(const Tensor& before, const Tensor& after);

}  // namespace tern
