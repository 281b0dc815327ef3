// quant/ptq.h — Pruning Ternary Quantization (PTQ) as a weight quantizer with three stages.
// Paper: ../shared/papers/000_7cf73ad03b44f317.txt, Sections 3–4, Algorithm 1.
//
// Stage 1, L2 normalization (Sec. 4.1):   the layer computes with w̃ = w/‖w‖ per output unit (Eq. 17–21).
// Stage 2, pruning + resetting (Sec. 4.2.1, Eq. 2–3): prune() keeps the top (1 − p) of |w| in the layer,
//          zeroes the rest and resets the survivors to sign(w) = Quant(w, 0); training goes on with w̃.
// Stage 3, ternary quantization (Sec. 4.2, Eq. 1, 22–25):
//          forward   ŵ = Quant(w, Δ) ∈ {−1, 0, +1},  the layer computes with ŵ/‖ŵ‖ per output unit (Eq. 22–23)
//          backward  ∂E/∂w ≈ ∂E/∂ŵ · M_w with M_w from the full-precision w (the refined STE, Eq. 24)
//          Δ         one per layer, learned (as ρ = Δ/m, below), no weight decay, ∂L/∂Δ per Eq. (25) — see below.
//
// Readings taken where the paper is ambiguous:
// - Eq. (25) prints ∂L/∂Δ = Σ_{w_i≠0} ∂L/∂w_i, TTQ's scale gradient transplanted to a threshold, with no sign.
//   Summed over a layer's positive and negative weights alike it has no direction. We restore TTQ's per-sign
//   sums (Σ over positive codes minus Σ over negative codes) with a minus so that Δ is a threshold:
//       ∂L/∂Δ = −Σ_{ŵ_i≠0} sign(ŵ_i)·∂L/∂w_i
//   i.e. Δ grows (prunes more) when the gradient pushes the kept weights toward zero. Note that M_w makes
//   Σ_i w_i·∂L/∂w_i = 0 for every row, so with near-equal kept magnitudes (PTQ's premise) this gradient is small:
//   Δ moves slowly and the sparsity is set mostly by the pruning ratio. The training log shows Δ per layer.
// - Δ's unit: we learn Δ = ρ·m, with m the mean |w| of the layer's kept non-zero weights (recomputed each step,
//   treated as a constant) and ρ the parameter (ρ₀ = delta_init = 0.5 at the start of stage 3; ∂L/∂ρ = m·∂L/∂Δ).
//   The paper learns Δ itself; with weights reset to ±1 (m ≈ 1) the two coincide. But the forward is scale-
//   invariant and ∂L/∂Δ grows as 1/‖w‖, so an absolute Δ's relative step grows as 1/m²: after the norm-keeping
//   reset below (m ≈ 0.05–0.15) it ran away within one epoch (measured: 99 % zeros in four layers, 50 % accuracy).
//   In units of m, Δ moves at the same relative pace whatever the weights' scale.
// - The pruned positions: `fixed_mask` keeps them at exactly zero for the rest of training (their gradient is
//   masked); otherwise they are free to regrow from zero (and stage 3's Δ decides whether they count).
// - Pruning ties: exactly round((1 − p)·n) weights are kept per layer; equal magnitudes are broken by index.
// - The reset's magnitude: Quant(w, 0) = ±1 (Eq. 3, Algorithm 1). The layer computes with w/‖w‖, so ±c gives
//   the same network for any c > 0 — but not the same training: the gradient of a scale-invariant weight shrinks
//   as 1/‖w‖, so one SGD step turns w̃ by an angle ∝ lr/‖w‖². ±1 makes ‖w_row‖² = k (the row's survivors, 43–173
//   in ResNet-20's convs) where the pretrained rows had ‖w‖² ≈ 1–3: the weights then barely move at the same lr
//   (measured: stage 2 stalls at 85 % train accuracy). With `reset_keeps_norm` (the default) a layer's survivors
//   are reset to ±c with c = the RMS of its kept weights: the same signs, the same normalized ŵ = ±1/√k (Eq.
//   17–18), the layer's kept norm — hence its step size — unchanged, and still one magnitude for the whole layer,
//   which stage 3's single per-layer Δ relies on (a per-row c made Δ₀ = 0.5·mean|w| zero out whole rows whose c
//   was below it: measured, stage 3 collapsed to 46 %). false gives literal ±1.
// - Not in the paper: a gradual entry into stage 3 (`ternary_blend` λ < 1, train_cifar --ptq-ramp). The switch to
//   ternary weights drops train accuracy from ~93 % to ~81 % in the first batches, whatever the lr (measured: a
//   warm-up from lr 0 does not soften it). With λ the layer computes with (1 − λ)·w̃ + λ·ŵ/‖ŵ‖, λ raised from 0 to 1 over
//   the first epoch(s) of stage 3; the backward of both terms is ∂E/∂· · M_w (exact for the first, Eq. 24 for the
//   second), so w's gradient is the same as at λ = 1 and Δ's (Eq. 25) is scaled by λ. λ = 1 is the paper.
#pragma once
#include "quant/weight_quantizer.h"

namespace tern {

struct PtqOptions {
    double prune_ratio = 0.7;  // p: the fraction of each layer's weights removed in stage 2 (paper: 70 %)
    bool reset = true;         // the resetting trick; false gives the paper's "STE-Only" ablation
    bool fixed_mask = true;    // pruned positions stay zero
    double delta_init = 0.5;   // ρ₀: Δ₀ = delta_init · mean|w| over the kept non-zero weights, at the start of stage 3
    bool reset_keeps_norm = true;  // reset to ±RMS(kept w of the layer) instead of ±1 (same ŵ/‖ŵ‖; see above)
};

class PtqQuantizer : public WeightQuantizer {
public:
    PtqQuantizer(const Tensor& w, PtqOptions options);  // w: the layer's weight (for the mask's shape)
    Tensor forward(const Tensor& w) override;
    Tensor codes(const Tensor& w) override;   // stage 3: Quant(w, Δ); earlier: sign(w) (the pruned pattern)
    bool codes_are_ternary() const override { return stage() == 3; }
    Tensor scales(const Tensor& w) override;  // per output unit: 1/‖ŵ_row‖, so that code·scale = ŵ/‖ŵ‖
    // Stage 3: Quant(w, Δ)·a with a = the layer's mean |w| over its non-zero codes (see ptq.cpp); earlier: undefined.
    Tensor dampening_target(const Tensor& w) override;
    nlohmann::json stats(const Tensor& w) override;
    std::string kind() const override { return "ptq"; }
    std::vector<Tensor> thresholds() override { return {delta_ratio}; }
    // Δ = |ρ|·m for the current weights (PTQ Eq. 1's threshold, in the weights' units).
    float threshold(const Tensor& w) const;

    int stage() const { return int(stage_.item()); }
    // Stage 1 → 2: prune w in place (keep the top (1 − p) magnitudes); if options.reset, reset the survivors to
    // ±1 or, with reset_keeps_norm, to ± the RMS of the kept weights.
    void prune(const Tensor& w);
    // Stage 2 → 3: ρ = delta_init (Δ₀ = ρ·m follows w's scale by itself), and switch to the ternary forward.
    void start_ternary(const Tensor& w);

    PtqOptions options;
    float ternary_blend = 1.f;  // λ in stage 3 (see above); set every step by the trainer, not checkpointed
    Tensor delta_ratio;  // (1,), ρ = Δ/m
    Tensor mask;   // (same shape as w): 1 kept, 0 pruned; all ones before pruning

private:
    float kept_mean_abs(const Tensor& wc) const;  // m: mean |w| over the kept non-zero weights (wc contiguous)
    Tensor stage_;  // (1,): 1, 2 or 3 — a buffer, so checkpoints restore the stage
};

// Quant(w, Δ): +1 if w > Δ, −1 if w < −Δ, else 0   (PTQ Eq. 1)
Tensor ternarize(const Tensor& w, float delta);

}  // namespace tern
