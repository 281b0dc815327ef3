// core/ops/matmul.h — matrix products through OpenBLAS sgemm.
#pragma once
#include "core/tensor.h"

namespace tern {

// (M, K) · (K, N) → (M, N)
Tensor matmul(const Tensor& a, const Tensor& b);
// The fully connected layer as PyTorch defines it: x (N, in), weight (out, in), bias (out) or undefined →
// y = x · weightᵀ + bias, (N, out).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace tern
