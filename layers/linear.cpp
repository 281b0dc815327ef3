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

Tensor Linear::forward(const Tensor& x) {
    return linear(quantized_input(x), effective_weight(), bias);
}

}  // namespace tern
