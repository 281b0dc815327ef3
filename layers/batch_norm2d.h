// layers/batch_norm2d.h — BatchNorm2d (and, on (N, C) input, BatchNorm1d): γ, β and running statistics.
#pragma once
#include "core/ops/batch_norm.h"
#include "layers/module.h"

namespace tern {

class BatchNorm2d : public Module {
public:
    // fused_relu: forward returns max(bn(x), 0) in one pass (the usual "BN then ReLU" of a ResNet).
    explicit BatchNorm2d(int64_t channels, bool fused_relu = false, float eps = 1e-5f, float momentum = 0.1f);
    Tensor forward(const Tensor& x) override;  // x (..., C)

    int64_t channels;
    bool fused_relu;
    float eps, momentum;
    Tensor weight, bias;                // γ = 1, β = 0 at init
    Tensor running_mean, running_var;   // 0 and 1 at init
};

}  // namespace tern
