// layers/linear.h — Linear: y = x·Wᵀ + b, with optional weight and input quantizers (as Conv2d).
#pragma once
#include <memory>

#include "core/ops/matmul.h"
#include "core/rng.h"
#include "layers/module.h"

namespace tern {

class Linear : public Module {
public:
    Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng);  // PyTorch's default init
    Tensor forward(const Tensor& x) override;  // (N, in) → (N, out)

    void set_weight_quantizer(std::shared_ptr<Module> q);
    void set_input_quantizer(std::shared_ptr<Module> q);
    Module* weight_quantizer() const { return weight_quantizer_.get(); }
    Module* input_quantizer() const { return input_quantizer_.get(); }
    const std::shared_ptr<Module>& weight_quantizer_ptr() const { return weight_quantizer_; }
    const std::shared_ptr<Module>& input_quantizer_ptr() const { return input_quantizer_; }
    Tensor effective_weight();

    int64_t in_features, out_features;
    Tensor weight;  // (out, in)
    Tensor bias;    // (out) or undefined

private:
    std::shared_ptr<Module> weight_quantizer_, input_quantizer_;
};

}  // namespace tern
