// quant/tga.h — He & Fan's trainable-threshold ternarization (TGA).
// Weights are ternarized around the layer mean μ with a learned threshold δ; the scale S is the mean of the
// truncated Gaussian above the threshold, so δ can be trained by back-propagation through S.
// Paper: ../shared/papers/001_582e3eaafeb2cffe.txt, Sections III.B–C, Algorithm 1.
//
// Forward, per layer (Eq. 9–11):
//   μ = mean(w),  σ = std(w)  (unbiased, as torch.std)
//   δᶜ = hardtanh(|δ|, 0, 3σ)                                               Eq. (9)
//   α = δᶜ/σ,  S = μ + σ·φ(α)/(1 − Φ(α))                                    Eq. (10)
//   Tern(w) = +1 if w > μ + δᶜ, −1 if w < μ − δᶜ, else 0                     Eq. (11)
//   w' = S·Tern(w)                                                          Eq. (2)
// Backward:
//   ∂L/∂w = ∂L/∂w' · S · ∂Tern/∂w with ∂Tern/∂w = 1/S ("gradient correctness", Eq. 15), so ∂L/∂w = ∂L/∂w'.
//       Without gradient correctness (the ablation) ∂Tern/∂w = 1 and ∂L/∂w = S·∂L/∂w' (Eq. 13's plain STE).
//   ∂L/∂δ = (Σ_i ∂L/∂w'_i · Tern_i) · ∂S/∂δᶜ · ∂δᶜ/∂δ, with ∂S/∂δᶜ = λ'(α) = λ(λ − α) and ∂δᶜ/∂δ = sign(δ)
//       inside (0, 3σ), 0 where clipped. δ is trained through S only: the step Tern has zero derivative in δ.
//   μ and σ: the authors' PyTorch code computes S from w.mean() and w.std() inside autograd, so S passes gradient
//       to every weight through them. We do the same by default (stats_gradient = true): the term
//       (Σ ∂L/∂w'·Tern)·(∂S/∂μ·∂μ/∂w_i + ∂S/∂σ·∂σ/∂w_i) is O(1/n) per weight — small, but it is the exact
//       derivative of the forward as written, and it keeps the layer's scale honest. The switch turns it off.
#pragma once
#include "quant/weight_quantizer.h"

namespace tern {

struct TgaOptions {
    double delta_init = 0.1;           // δ₀ = delta_init · max|w|   (paper: 0.1; Table I also tries 0.05, 0.15)
    bool gradient_correctness = true;  // Eq. (15)
    bool stats_gradient = true;        // μ, σ pass gradient (see above)
};

class TgaQuantizer : public WeightQuantizer {
public:
    TgaQuantizer(const Tensor& w, TgaOptions options);  // initializes δ from w
    Tensor forward(const Tensor& w) override;
    Tensor codes(const Tensor& w) override;
    Tensor scales(const Tensor& w) override;
    nlohmann::json stats(const Tensor& w) override;
    std::string kind() const override { return "tga"; }
    std::vector<Tensor> thresholds() override { return {delta}; }

    // The quantities of one forward pass (for tests and logs).
    struct Terms {
        double mu, sigma, delta_c, alpha, S;
        bool clipped;  // |δ| outside (0, 3σ): δ receives no gradient
    };
    Terms terms(const Tensor& w) const;

    TgaOptions options;
    Tensor delta;  // (1,), trainable, no weight decay
};

}  // namespace tern
