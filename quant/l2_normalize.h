// quant/l2_normalize.h — PTQ's weight normalization: each output unit's weights divided by their L2 norm.
// Paper: ../shared/papers/000_7cf73ad03b44f317.txt, Section 4.1, Eq. (17)–(21).
//
//   w̃ = w / ‖w‖   per output unit (a conv's output channel: w[o, :, :, :]; a linear's row: w[o, :])
//   ∂E/∂w = M_w · ∂E/∂w̃,   M_w = (I − w wᵀ/‖w‖²) / ‖w‖                                    PTQ Eq. (20), (21)
// i.e. the gradient loses its component along w and is divided by ‖w‖ (Weight Normalization's Jacobian).
// An all-zero row (every weight pruned) has no direction: its output is 0 and its gradient 0.
#pragma once
#include "core/tensor.h"

namespace tern {

// w (out, ...) → w̃, same shape. Differentiable (backward = Eq. 21).
Tensor l2_normalize_rows(const Tensor& w);

// The refined straight-through estimator of Eq. (24): a forward value computed elsewhere (ŵ/‖ŵ‖ of the
// ternarized weights) paired with the backward of l2_normalize_rows at the full-precision w:
//   forward: returns `forward_value`;   backward: ∂E/∂w = M_w · ∂E/∂(forward_value)
Tensor refined_ste(const Tensor& w, const Tensor& forward_value);

// M_w · g for each row (the backward of Eq. 21), exposed for tests: g, w (out, ...) → (out, ...).
Tensor l2_normalize_backward(const Tensor& w, const Tensor& g);

}  // namespace tern
