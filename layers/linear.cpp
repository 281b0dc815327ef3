// layers/linear.cpp — Linear: parameters, init, forward through the optional quantizers.
#include "layers/linear.h"

#include "layers/init.h"

namespace tern {

Linear::Linear(int64_t in, int64_t out, bool has_bias, Rng& rng) : in_features(in), out_features(out) {
    weight = Tensor::empty({out, in});
    default_uniform_(weight, in, rng);
    register_parameter("weight", &weight);
    if (has_bias) {
        bias = Tensor::empty({out});
        default_uniform_(bias, in, rng);
        register_parameter("bias", &bias);
    }
}

void Linear::set_weight_quantizer(std::shared_ptr<Module> q) {
    weight_quantizer_ = q;
    if (q) replace_module("weight_quantizer", q);
    else remove_module("weight_quantizer");
}

void Linear::set_input_quantizer(std::shared_ptr<Module> q) {
    input_quantizer_ = q;
    if (q) replace_module("input_quantizer", q);
    else remove_module("input_quantizer");
}

Tensor Linear::effective_weight() { return weight_quantizer_ ? weight_quantizer_->forward(weight) : weight; }

Tensor Linear::forward(const Tensor& x) {
    const Tensor input = input_quantizer_ ? input_quantizer_->forward(x) : x;
    return linear(input, effective_weight(), bias);
}

}  // namespace tern
