// quant/twn.h — Ternary Weight Networks (Li, Zhang & Liu 2016), the baseline TGA is compared with.
//   Δ = 0.7·mean|w|,  I = {i : |w_i| > Δ},  α = mean_{i∈I} |w_i|,  w' = α·sign(w)·1[|w| > Δ]
// Backward: the plain straight-through estimator, ∂L/∂w = ∂L/∂w' (Δ and α are not trained).
#pragma once
#include "quant/weight_quantizer.h"

namespace tern {

class TwnQuantizer : public WeightQuantizer {
public:
    Tensor forward(const Tensor& w) override;
    Tensor codes(const Tensor& w) override;
    Tensor scales(const Tensor& w) override;
    nlohmann::json stats(const Tensor& w) override;
    std::string kind() const override { return "twn"; }

    struct Terms {
        double delta, alpha;
    };
    static Terms terms(const Tensor& w);
};

}  // namespace tern
