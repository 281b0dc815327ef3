// layers/conv2d.h — Conv2d: a convolution layer, with optional quantizers for its weight and its input
// (the slots of layers/quantizable.h).
#pragma once
#include <memory>

#include "core/ops/conv2d.h"
#include "core/rng.h"
#include "layers/quantizable.h"

namespace tern {

struct Conv2dConfig {
    int64_t in_channels, out_channels, kernel;
    int64_t stride = 1, padding = 0, groups = 1;
    bool bias = false;
};

class Conv2d : public QuantizableLayer {
public:
    Conv2d(const Conv2dConfig& config, Rng& rng);  // PyTorch's default init (kaiming_uniform, a = √5)
    Tensor forward(const Tensor& x) override;      // x (N, H, W, C_in) → (N, OH, OW, C_out)

    Conv2dConfig config;  // weight (out, in / groups, k, k), bias (out) if config.bias
};

}  // namespace tern
