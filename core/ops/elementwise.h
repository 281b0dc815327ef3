// core/ops/elementwise.h — elementwise arithmetic with NumPy/PyTorch broadcasting, and unary functions.
// Broadcasting: shapes are aligned at the right; a dimension of size 1 (or a missing one) stretches to match.
// The gradient of a broadcast input is summed over the dimensions it was stretched along (sum_to_shape).
#pragma once
#include "core/tensor.h"

namespace tern {

Shape broadcast_shapes(const Shape& a, const Shape& b);

Tensor add(const Tensor& a, const Tensor& b);  // a + b
Tensor sub(const Tensor& a, const Tensor& b);  // a − b
Tensor mul(const Tensor& a, const Tensor& b);  // a · b
Tensor div(const Tensor& a, const Tensor& b);  // a / b

Tensor add(const Tensor& x, float s);      // x + s
Tensor mul(const Tensor& x, float s);      // x · s
Tensor rsub(float s, const Tensor& x);     // s − x
Tensor rdiv(float s, const Tensor& x);     // s / x

Tensor neg(const Tensor& x);
Tensor relu(const Tensor& x);   // max(x, 0); the gradient at exactly 0 is taken as 0 (as PyTorch)
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);    // the gradient at 0 is taken as 0

// Not differentiable (the result carries no history): 1 where x > s, else 0; and sign(x) ∈ {−1, 0, +1}.
Tensor greater(const Tensor& x, float s);
Tensor sign(const Tensor& x);

// a += b in place, b broadcast to a's shape. Not recorded by autograd: for optimizers and gradient buffers.
void add_inplace(const Tensor& a, const Tensor& b, float alpha = 1.f);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& x, float s) { return add(x, s); }
inline Tensor operator+(float s, const Tensor& x) { return add(x, s); }
inline Tensor operator-(const Tensor& x, float s) { return add(x, -s); }
inline Tensor operator-(float s, const Tensor& x) { return rsub(s, x); }
inline Tensor operator*(const Tensor& x, float s) { return mul(x, s); }
inline Tensor operator*(float s, const Tensor& x) { return mul(x, s); }
inline Tensor operator/(const Tensor& x, float s) { return mul(x, 1.f / s); }
inline Tensor operator/(float s, const Tensor& x) { return rdiv(s, x); }
inline Tensor operator-(const Tensor& x) { return neg(x); }

}  // namespace tern
