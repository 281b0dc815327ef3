// core/ops/reduce.h — sums and means over chosen axes.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace tern {

// Sum over `axes` (negative axes count from the end; empty = all axes). keepdim keeps them as size 1.
Tensor sum(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);

// Sums g over the dimensions along which a tensor of `shape` was broadcast to g's shape (the backward of
// broadcasting). Returns g itself when the shapes already match.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

}  // namespace tern
