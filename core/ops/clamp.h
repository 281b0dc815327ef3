// core/ops/clamp.h — clamp(x, lo, hi) = min(max(x, lo), hi), and ReLU6 = clamp(x, 0, 6) (MobileNetV2's activation).
#pragma once
#include "core/tensor.h"

namespace tern {

// y = min(max(x, lo), hi) elementwise; ∂L/∂x = ∂L/∂y · 1[lo < x < hi].
// At exactly lo or hi the gradient is taken as 0, as PyTorch's relu6/hardtanh (and tern's relu at 0) do;
// torch.clamp itself passes it there — the two differ only on that measure-zero set.
Tensor clamp(const Tensor& x, float lo, float hi);

// ReLU6 (Howard et al. 2017): a ReLU capped at 6, which keeps activations in a range low-precision
// arithmetic can hold.
inline Tensor relu6(const Tensor& x) { return clamp(x, 0.f, 6.f); }

}  // namespace tern
