// core/ops/elementwise.cpp — broadcasting binary ops and unary functions, each backward beside its forward.
#include "core/ops/elementwise.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops/reduce.h"
#include "core/parallel.h"

namespace tern {

Shape broadcast_shapes(const Shape& a, const Shape& b) {
    const size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t i = 0; i < n; ++i) {
        const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        TERN_CHECK(da == db || da == 1 || db == 1,
                   "cannot broadcast shapes " << shape_str(a) << " and " << shape_str(b));
        out[i] = da == 1 ? db : da;
    }
    return out;
}

// Strides that read x as if it had shape `out` (0 along broadcast dimensions).
static Shape broadcast_strides(const Tensor& x, const Shape& out) {
    Shape s(out.size(), 0);
    const size_t lead = out.size() - x.shape().size();
    for (size_t i = 0; i < x.shape().size(); ++i)
        s[lead + i] = x.shape()[i] == 1 ? 0 : x.strides()[i];
    return s;
}

// out[i] = f(a[i], b[i]) over the broadcast shape. Three paths: same-shape dense, scalar operand, general strided.
template <class F>
static Tensor binary_kernel(const Tensor& a, const Tensor& b, F f) {
    const Shape shape = broadcast_shapes(a.shape(), b.shape());
    Tensor out = Tensor::empty(shape);
    float* o = out.data();
    const float* pa = a.data();
    const float* pb = b.data();
    const int64_t n = out.numel();
    if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for simd if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
        return out;
    }
    if (b.numel() == 1 && a.shape() == shape && a.is_contiguous()) {
        const float vb = pb[0];
#pragma omp parallel for simd if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], vb);
        return out;
    }
    if (a.numel() == 1 && b.shape() == shape && b.is_contiguous()) {
        const float va = pa[0];
#pragma omp parallel for simd if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) o[i] = f(va, pb[i]);
        return out;
    }
    if (n == 0) return out;
    // General case: rows of the last dimension; each row finds its start offsets from its index.
    const Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
    const int64_t nd = int64_t(shape.size());
    const int64_t inner = nd ? shape[nd - 1] : 1;
    const int64_t ia = nd ? sa[nd - 1] : 0, ib = nd ? sb[nd - 1] : 0;
    const int64_t rows = n / inner;
#pragma omp parallel for if (n >= kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
        int64_t offa = 0, offb = 0, rem = r;
        for (int64_t d = nd - 2; d >= 0; --d) {
            const int64_t idx = rem % shape[d];
            rem /= shape[d];
            offa += idx * sa[d];
            offb += idx * sb[d];
        }
        float* orow = o + r * inner;
        for (int64_t i = 0; i < inner; ++i) orow[i] = f(pa[offa + i * ia], pb[offb + i * ib]);
    }
    return out;
}

template <class F>
static Tensor unary_kernel(const Tensor& x_in, F f) {
    const Tensor x = contiguous_data(x_in);
    Tensor out = Tensor::empty(x.shape());
    const float* px = x.data();
    float* o = out.data();
    const int64_t n = x.numel();
#pragma omp parallel for simd if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) o[i] = f(px[i]);
    return out;
}

// ---- binary ops ---------------------------------------------------------------------------------------------

// out = a + b;   ∂L/∂a = Σ_broadcast ∂L/∂out,   ∂L/∂b = Σ_broadcast ∂L/∂out
Tensor add(const Tensor& a, const Tensor& b) {
    Tensor out = binary_kernel(a, b, [](float x, float y) { return x + y; });
    record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
        return std::vector<Tensor>{sum_to_shape(g, sa), sum_to_shape(g, sb)};
    });
    return out;
}

// out = a − b;   ∂L/∂a = Σ ∂L/∂out,   ∂L/∂b = −Σ ∂L/∂out
Tensor sub(const Tensor& a, const Tensor& b) {
    Tensor out = binary_kernel(a, b, [](float x, float y) { return x - y; });
    record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
        return std::vector<Tensor>{sum_to_shape(g, sa), neg(sum_to_shape(g, sb))};
    });
    return out;
}

// out = a · b;   ∂L/∂a = Σ ∂L/∂out · b,   ∂L/∂b = Σ ∂L/∂out · a
Tensor mul(const Tensor& a, const Tensor& b) {
    Tensor out = binary_kernel(a, b, [](float x, float y) { return x * y; });
    record(out, "mul", {a, b}, [a = a.detach(), b = b.detach(), ga = a.requires_grad(), gb = b.requires_grad()](
                                   const Tensor& g) {
        return std::vector<Tensor>{ga ? sum_to_shape(mul(g, b), a.shape()) : Tensor(),
                                   gb ? sum_to_shape(mul(g, a), b.shape()) : Tensor()};
    });
    return out;
}

// out = a / b;   ∂L/∂a = Σ ∂L/∂out / b,   ∂L/∂b = −Σ ∂L/∂out · out / b
Tensor div(const Tensor& a, const Tensor& b) {
    Tensor out = binary_kernel(a, b, [](float x, float y) { return x / y; });
    record(out, "div", {a, b}, [sa = a.shape(), b = b.detach(), out = out.detach(), gb = b.requires_grad()](
                                   const Tensor& g) {
        Tensor g_over_b = div(g, b);
        return std::vector<Tensor>{sum_to_shape(g_over_b, sa),
                                   gb ? neg(sum_to_shape(mul(g_over_b, out), b.shape())) : Tensor()};
    });
    return out;
}

// ---- scalar ops ---------------------------------------------------------------------------------------------

Tensor add(const Tensor& x, float s) {
    Tensor out = unary_kernel(x, [s](float v) { return v + s; });
    record(out, "add_scalar", {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
    return out;
}

Tensor mul(const Tensor& x, float s) {
    Tensor out = unary_kernel(x, [s](float v) { return v * s; });
    record(out, "mul_scalar", {x}, [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
    return out;
}

Tensor rsub(float s, const Tensor& x) {
    Tensor out = unary_kernel(x, [s](float v) { return s - v; });
    record(out, "rsub_scalar", {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
    return out;
}

// out = s / x;   ∂L/∂x = −∂L/∂out · out / x
Tensor rdiv(float s, const Tensor& x) {
    Tensor out = unary_kernel(x, [s](float v) { return s / v; });
    record(out, "rdiv_scalar", {x}, [x = x.detach(), out = out.detach()](const Tensor& g) {
        return std::vector<Tensor>{neg(div(mul(g, out), x))};
    });
    return out;
}

// ---- unary functions ----------------------------------------------------------------------------------------

Tensor neg(const Tensor& x) {
    Tensor out = unary_kernel(x, [](float v) { return -v; });
    record(out, "neg", {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
    return out;
}

// out = max(x, 0);   ∂L/∂x = ∂L/∂out · 1[out > 0]
Tensor relu(const Tensor& x) {
    Tensor out = unary_kernel(x, [](float v) { return v > 0.f ? v : 0.f; });
    record(out, "relu", {x}, [out = out.detach()](const Tensor& g) {
        return std::vector<Tensor>{binary_kernel(g, out, [](float gv, float o) { return o > 0.f ? gv : 0.f; })};
    });
    return out;
}

// out = eˣ;   ∂L/∂x = ∂L/∂out · out
Tensor exp(const Tensor& x) {
    Tensor out = unary_kernel(x, [](float v) { return std::exp(v); });
    record(out, "exp", {x}, [out = out.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, out)}; });
    return out;
}

// out = ln x;   ∂L/∂x = ∂L/∂out / x
Tensor log(const Tensor& x) {
    Tensor out = unary_kernel(x, [](float v) { return std::log(v); });
    record(out, "log", {x}, [x = x.detach()](const Tensor& g) { return std::vector<Tensor>{div(g, x)}; });
    return out;
}

// out = √x;   ∂L/∂x = ∂L/∂out / (2·out)
Tensor sqrt(const Tensor& x) {
    Tensor out = unary_kernel(x, [](float v) { return std::sqrt(v); });
    record(out, "sqrt", {x}, [out = out.detach()](const Tensor& g) {
        return std::vector<Tensor>{binary_kernel(g, out, [](float gv, float o) { return gv / (2.f * o); })};
    });
    return out;
}

// out = |x|;   ∂L/∂x = ∂L/∂out · sign(x)
Tensor abs(const Tensor& x) {
    Tensor out = unary_kernel(x, [](float v) { return std::fabs(v); });
    record(out, "abs", {x}, [x = x.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, sign(x))}; });
    return out;
}

Tensor greater(const Tensor& x, float s) {
    return unary_kernel(x, [s](float v) { return v > s ? 1.f : 0.f; });
}

Tensor sign(const Tensor& x) {
    return unary_kernel(x, [](float v) { return v > 0.f ? 1.f : (v < 0.f ? -1.f : 0.f); });
}

void add_inplace(const Tensor& a, const Tensor& b, float alpha) {
    TERN_CHECK(a.is_contiguous(), "add_inplace: destination must be contiguous");
    TERN_CHECK(broadcast_shapes(a.shape(), b.shape()) == a.shape(),
               "add_inplace: cannot broadcast " << b.shape_str() << " into " << a.shape_str());
    float* pa = a.data();
    const int64_t n = a.numel();
    if (b.shape() == a.shape() && b.is_contiguous()) {
        const float* pb = b.data();
#pragma omp parallel for simd if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) pa[i] += alpha * pb[i];
        return;
    }
    Tensor tmp = binary_kernel(a, b, [alpha](float x, float y) { return x + alpha * y; });
    a.copy_(tmp);
}

}  // namespace tern
