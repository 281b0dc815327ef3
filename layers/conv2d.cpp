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

Tensor Conv2d::forward(const Tensor& x) {
    return conv2d(quantized_input(x), effective_weight(), bias, {config.stride, config.padding, config.groups});
}

}  // namespace tern
