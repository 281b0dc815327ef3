// core/ops/shape_ops.h — ops that move or select elements without arithmetic: reshape, permute, slice, pad,
// concat. reshape/permute/slice return views (shared storage) where possible; their backward puts the
// gradient back where each element came from.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace tern {

Tensor reshape(const Tensor& x, Shape shape);   // one size may be −1 (inferred); copies if x is not contiguous
Tensor flatten(const Tensor& x, int64_t start_dim = 1);  // (N, ...) → (N, prod(...))
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // view with dimensions reordered
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
// Elements start, start+step, … < end along dim (a view). Negative start/end count from the end.
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
// Zero padding: pads[d] = {before, after} for each dimension d (pads.size() == x.dim()).
Tensor pad(const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& pads, float value = 0.f);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
// x repeated along the dimensions where it has size 1 (or is missing) to fill `shape` (a copy).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace tern
