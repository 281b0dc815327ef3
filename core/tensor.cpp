// core/tensor.cpp — Tensor construction, element access and the strided copy behind contiguous().
#include "core/tensor.h"

#include <cstring>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"

namespace tern {

std::string shape_str(const Shape& shape) {
    std::ostringstream os;
    os << "(";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << (shape.size() == 1 ? ",)" : ")");
    return os.str();
}

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    int64_t s = 1;
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
        strides[d] = s;
        s *= shape[d];
    }
    return strides;
}

Tensor Tensor::empty(const Shape& shape) {
    for (int64_t s : shape) TERN_CHECK(s >= 0, "tensor shape " << tern::shape_str(shape) << " has a negative size");
    auto impl = std::make_shared<TensorImpl>();
    const int64_t n = shape_numel(shape);
    impl->storage = std::make_shared<Storage>(size_t(n > 0 ? n : 1) * sizeof(float));
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.f); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.f); }

Tensor Tensor::full(const Shape& shape, float value) {
    Tensor t = empty(shape);
    float* p = t.data();
    const int64_t n = t.numel();
    if (value == 0.f) {
        std::memset(p, 0, size_t(n) * sizeof(float));
    } else {
        for (int64_t i = 0; i < n; ++i) p[i] = value;
    }
    return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
    TERN_CHECK(int64_t(values.size()) == shape_numel(shape),
               "from_vector: " << values.size() << " values do not fill shape " << tern::shape_str(shape));
    Tensor t = empty(shape);
    if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
    return t;
}

int64_t Tensor::size(int64_t d) const {
    const int64_t n = dim();
    if (d < 0) d += n;
    TERN_CHECK(d >= 0 && d < n, "dimension " << d << " out of range for shape " << shape_str());
    return impl_->shape[d];
}

bool Tensor::is_contiguous() const {
    int64_t expected = 1;
    for (int64_t d = dim() - 1; d >= 0; --d) {
        if (impl_->shape[d] == 1) continue;  // the stride of a size-1 dimension never matters
        if (impl_->strides[d] != expected) return false;
        expected *= impl_->shape[d];
    }
    return true;
}

// Calls fn(element offset) for every element of (shape, strides), in row-major order.
template <class Fn>
static void for_each_offset(const Shape& shape, const Shape& strides, int64_t offset, Fn fn) {
    const int64_t nd = int64_t(shape.size());
    if (shape_numel(shape) == 0) return;
    if (nd == 0) {
        fn(offset);
        return;
    }
    std::vector<int64_t> index(nd, 0);
    const int64_t inner = shape[nd - 1], inner_stride = strides[nd - 1];
    while (true) {
        for (int64_t i = 0; i < inner; ++i) fn(offset + i * inner_stride);
        int64_t d = nd - 2;
        for (; d >= 0; --d) {  // odometer increment over the outer dimensions
            offset += strides[d];
            if (++index[d] < shape[d]) break;
            offset -= strides[d] * shape[d];
            index[d] = 0;
        }
        if (d < 0) return;
    }
}

std::vector<float> Tensor::to_vector() const {
    std::vector<float> out(static_cast<size_t>(numel()));
    if (is_contiguous()) {
        if (!out.empty()) std::memcpy(out.data(), data(), out.size() * sizeof(float));
        return out;
    }
    const float* base = impl_->storage->data();
    size_t i = 0;
    for_each_offset(shape(), strides(), impl_->offset, [&](int64_t off) { out[i++] = base[off]; });
    return out;
}

float Tensor::item() const {
    TERN_CHECK(numel() == 1, "item(): tensor of shape " << shape_str() << " has " << numel() << " elements, not 1");
    return data()[0];
}

float Tensor::at(std::initializer_list<int64_t> index) const {
    TERN_CHECK(int64_t(index.size()) == dim(), "at(): " << index.size() << " indices for shape " << shape_str());
    int64_t off = 0, d = 0;
    for (int64_t i : index) {
        TERN_CHECK(i >= 0 && i < impl_->shape[d], "at(): index " << i << " out of range in dim " << d);
        off += i * impl_->strides[d++];
    }
    return data()[off];
}

void Tensor::fill_(float value) const {
    float* base = impl_->storage->data();
    for_each_offset(shape(), strides(), impl_->offset, [&](int64_t off) { base[off] = value; });
}

void Tensor::copy_(const Tensor& src) const {
    TERN_CHECK(src.shape() == shape(), "copy_: source shape " << src.shape_str() << " differs from " << shape_str());
    if (is_contiguous() && src.is_contiguous()) {
        std::memmove(data(), src.data(), size_t(numel()) * sizeof(float));
        return;
    }
    const std::vector<float> values = src.to_vector();
    float* base = impl_->storage->data();
    size_t i = 0;
    for_each_offset(shape(), strides(), impl_->offset, [&](int64_t off) { base[off] = values[i++]; });
}

const Tensor& Tensor::set_requires_grad(bool on) const {
    TERN_CHECK(is_leaf() || on, "set_requires_grad(false) on a non-leaf tensor: use detach()");
    impl_->requires_grad = on;
    return *this;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = base.impl()->storage;
    impl->shape = std::move(shape);
    impl->strides = std::move(strides);
    impl->offset = offset;
    return Tensor(std::move(impl));
}

Tensor Tensor::detach() const { return impl_ ? make_view(*this, shape(), strides(), impl_->offset) : Tensor(); }

Tensor Tensor::clone() const {
    Tensor out = empty(shape());
    out.copy_(*this);
    record(out, "clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
    return out;
}

Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    return clone();
}

void Tensor::backward() const {
    TERN_CHECK(numel() == 1, "backward() without a gradient needs a one-element tensor, got " << shape_str());
    tern::backward(*this, Tensor::ones(shape()));
}

void Tensor::backward(const Tensor& grad) const { tern::backward(*this, grad); }

}  // namespace tern

namespace tern {
Tensor contiguous_data(const Tensor& x) {
    if (x.is_contiguous()) return x;
    Tensor out = Tensor::empty(x.shape());
    out.copy_(x);
    return out;
}
}  // namespace tern
