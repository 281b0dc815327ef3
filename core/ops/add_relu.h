// core/ops/add_relu.h — y = max(a + b, 0) in one pass: the end of every residual block.
#pragma once
#include "core/tensor.h"

namespace tern {

// a, b of the same shape. ∂L/∂a = ∂L/∂b = ∂L/∂y · 1[y > 0].
Tensor add_relu(const Tensor& a, const Tensor& b);

}  // namespace tern
