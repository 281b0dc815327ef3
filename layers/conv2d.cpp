// layers/conv2d.cpp — Conv2d: parameters, init, and forward through the optional quantizers.
#include "layers/conv2d.h"

#include "core/error.h"
#include "layers/init.h"

namespace tern {

Conv2d::Conv2d(const Conv2dConfig& c, Rng& rng) : config(c) {
    TERN_CHECK(c.in_channels % c.groups == 0 && c.out_channels % c.groups == 0,
               "Conv2d: channels " << c.in_channels << "→" << c.out_channels << " not divisible by groups " << c.groups);
    weight = Tensor::empty({c.out_channels, c.in_channels / c.groups, c.kernel, c.kernel});
    default_uniform_(weight, fan_in(weight), rng);
    register_parameter("weight", &weight);
    if (c.bias) {
        bias = Tensor::empty({c.out_channels});
        default_uniform_(bias, fan_in(weight), rng);
        register_parameter("bias", &bias);
    }
}

void Conv2d::set_weight_quantizer(std::shared_ptr<Module> q) {
    weight_quantizer_ = q;
    if (q) replace_module("weight_quantizer", q);
    else remove_module("weight_quantizer");
}

void Conv2d::set_input_quantizer(std::shared_ptr<Module> q) {
    input_quantizer_ = q;
    if (q) replace_module("input_quantizer", q);
    else remove_module("input_quantizer");
}

Tensor Conv2d::effective_weight() { return weight_quantizer_ ? weight_quantizer_->forward(weight) : weight; }

Tensor Conv2d::forward(const Tensor& x) {
    const Tensor input = input_quantizer_ ? input_quantizer_->forward(x) : x;
    return conv2d(input, effective_weight(), bias, {config.stride, config.padding, config.groups});
}

}  // namespace tern
