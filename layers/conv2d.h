// layers/conv2d.h — Conv2d: a convolution layer, with optional quantizers for its weight and its input.
//
// Quantization lives inside this ordinary layer, not in a parallel layer zoo: when `weight_quantizer` is set
// (a TGA, PTQ or TWN quantizer from quant/), forward() convolves with quantizer(weight) instead of weight; when
// `input_quantizer` is set (LSQ), the input is quantized first. The quantizers are registered submodules, so
// their parameters (a threshold, a step size) appear in the state dict as `conv1.weight_quantizer.delta`.
#pragma once
#include <memory>

#include "core/ops/conv2d.h"
#include "core/rng.h"
#include "layers/module.h"

namespace tern {

struct Conv2dConfig {
    int64_t in_channels, out_channels, kernel;
    int64_t stride = 1, padding = 0, groups = 1;
    bool bias = false;
};

class Conv2d : public Module {
public:
    Conv2d(const Conv2dConfig& config, Rng& rng);  // PyTorch's default init (kaiming_uniform, a = √5)
    Tensor forward(const Tensor& x) override;      // x (N, H, W, C_in) → (N, OH, OW, C_out)

    void set_weight_quantizer(std::shared_ptr<Module> q);
    void set_input_quantizer(std::shared_ptr<Module> q);
    Module* weight_quantizer() const { return weight_quantizer_.get(); }
    Module* input_quantizer() const { return input_quantizer_.get(); }
    const std::shared_ptr<Module>& weight_quantizer_ptr() const { return weight_quantizer_; }
    const std::shared_ptr<Module>& input_quantizer_ptr() const { return input_quantizer_; }
    Tensor effective_weight();  // the weight forward() convolves with (quantized if a quantizer is set)

    Conv2dConfig config;
    Tensor weight;  // (out, in / groups, k, k)
    Tensor bias;    // (out) or undefined

private:
    std::shared_ptr<Module> weight_quantizer_, input_quantizer_;
};

}  // namespace tern
