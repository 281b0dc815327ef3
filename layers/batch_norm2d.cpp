// layers/batch_norm2d.cpp — BatchNorm2d parameters and forward (train or eval statistics).
#include "layers/batch_norm2d.h"

namespace tern {

BatchNorm2d::BatchNorm2d(int64_t c, bool relu, float e, float m)
    : channels(c), fused_relu(relu), eps(e), momentum(m) {
    weight = Tensor::ones({c});
    bias = Tensor::zeros({c});
    running_mean = Tensor::zeros({c});
    running_var = Tensor::ones({c});
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
    register_buffer("running_mean", &running_mean);
    register_buffer("running_var", &running_var);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
    return batch_norm(x, weight, bias, running_mean, running_var,
                      {.training = training_, .momentum = momentum, .eps = eps, .relu = fused_relu});
}

}  // namespace tern
