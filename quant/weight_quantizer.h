// quant/weight_quantizer.h — what a weight quantizer is to tern: a Module that maps a layer's full-precision
// weight w to the weight the layer computes with (w' = S·Tern(w) for TGA, ŵ/‖ŵ‖ for PTQ, …), with its own
// parameters (thresholds) and its own backward (a straight-through estimator).
//
// It plugs into an ordinary layer (layers/conv2d.h, layers/linear.h: set_weight_quantizer), so a quantized
// ResNet is the same ResNet with quantizers attached — no parallel layer zoo.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "core/autograd.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace tern {

class WeightQuantizer : public Module {
public:
    // w (any shape, dim 0 = output channels) → the weight the layer uses, same shape. Records its backward.
    Tensor forward(const Tensor& w) override = 0;
    // The ternary codes Tern(w) ∈ {−1, 0, +1} (same shape as w) and the per-output-channel scale such that the
    // layer computes with code · scale[out] — what the packed inference engine stores. No autograd.
    virtual Tensor codes(const Tensor& w) = 0;
    // Whether codes() are ternary codes the layer computes with: false while there is no threshold yet (PTQ's
    // float stages, where codes() is the sign pattern of the pruned weights).
    virtual bool codes_are_ternary() const { return true; }
    virtual Tensor scales(const Tensor& w) = 0;  // (out,)
    // Per-layer figures for the training log: sparsity, thresholds, scale…
    virtual nlohmann::json stats(const Tensor& w) = 0;
    virtual std::string kind() const = 0;
    // The quantizer's trainable thresholds (for their own optimizer group, without weight decay).
    virtual std::vector<Tensor> thresholds() { return {}; }
    // The value, in w's own units, that w is quantized to: what oscillation dampening pulls each latent weight
    // towards (quant/oscillation_dampening.h). The default, the weight the layer computes with, holds where that
    // weight lives in w's units (TGA: S·Tern(w), TWN: α·Tern(w)). Undefined when there are no discrete codes yet
    // (PTQ's float stages): nothing to dampen. No autograd (it is the sg(q(w)) of the dampening term).
    virtual Tensor dampening_target(const Tensor& w) {
        NoGradGuard no_grad;
        return forward(w);
    }
};

// The fraction of zeros in a tensor.
double sparsity(const Tensor& codes);

}  // namespace tern
