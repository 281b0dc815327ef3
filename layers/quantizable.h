// layers/quantizable.h — what Conv2d and Linear share: a weight, an optional bias, and two slots for quantizers.
//
// Quantization lives inside ordinary layers: when `weight_quantizer` is set (a TGA, PTQ or TWN quantizer from
// quant/), forward() computes with quantizer(weight) instead of weight; when `input_quantizer` is set (LSQ, or a
// calibration observer), the input is quantized first. The quantizers are registered submodules, so their
// parameters appear in the state dict as `conv1.weight_quantizer.delta`, `conv1.input_quantizer.step`.
#pragma once
#include <memory>

#include "layers/module.h"

namespace tern {

// An input quantizer that the layer producing the input can apply in its own output pass instead (LSQ can:
// BatchNorm2d::output_consumer fuses it into the batch-norm passes, core/ops/batch_norm.h). The quantizer stays
// where it is — its parameters, its place in the state dict, what an exporter reads — only the work moves.
class FusableInputQuantizer {
public:
    virtual ~FusableInputQuantizer() = default;
    struct Params {
        Tensor step;            // (1,), the learned step s
        float lo = 0, hi = 0;   // q = v/s is clamped to [lo, hi], then rounded
        float grad_scale = 1;   // ∂L/∂s is scaled by this
    };
    // Whether the producer can quantize for it now (e.g. on and initialized), and with what, for an input of
    // this shape.
    virtual bool fusion_params(const Shape& input_shape, Params& params) = 0;
    // The producer has quantized `y`: the next forward(y) returns y as it is (any other input is quantized).
    virtual void expect_quantized(const Tensor& y) = 0;
};

class QuantizableLayer : public Module {
public:
    Tensor weight;  // conv (out, in / groups, k, k), linear (out, in)
    Tensor bias;    // (out) or undefined

    void set_weight_quantizer(std::shared_ptr<Module> q) { set_slot(weight_quantizer_, "weight_quantizer", std::move(q)); }
    void set_input_quantizer(std::shared_ptr<Module> q) { set_slot(input_quantizer_, "input_quantizer", std::move(q)); }
    Module* weight_quantizer() const { return weight_quantizer_.get(); }
    Module* input_quantizer() const { return input_quantizer_.get(); }
    const std::shared_ptr<Module>& weight_quantizer_ptr() const { return weight_quantizer_; }

    // The weight the layer computes with (quantized if a quantizer is set), and its input after the input slot.
    Tensor effective_weight() { return weight_quantizer_ ? weight_quantizer_->forward(weight) : weight; }
    Tensor quantized_input(const Tensor& x) { return input_quantizer_ ? input_quantizer_->forward(x) : x; }

private:
    void set_slot(std::shared_ptr<Module>& slot, const char* name, std::shared_ptr<Module> q) {
        slot = q;
        if (q) replace_module(name, std::move(q));
        else remove_module(name);
    }
    std::shared_ptr<Module> weight_quantizer_, input_quantizer_;
};

}  // namespace tern
