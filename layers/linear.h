// layers/linear.h — Linear: y = x·Wᵀ + b, with optional weight and input quantizers (layers/quantizable.h).
#pragma once
#include <memory>

#include "core/ops/matmul.h"
#include "core/rng.h"
#include "layers/quantizable.h"

namespace tern {

class Linear : public QuantizableLayer {
public:
    Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng);  // PyTorch's default init
    Tensor forward(const Tensor& x) override;  // (N, in) → (N, out)


    int64_t in_features, out_features;  // weight (out, in), bias (out) if requested
};

}  // namespace tern
