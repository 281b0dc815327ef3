// core/tensor.h — Tensor: tern's float32 n-dimensional array, which can also carry a gradient.
//
// What a reader needs to know:
// - A Tensor is a handle. Copying it shares the array (like a PyTorch tensor); `clone()` copies the data.
// - The numbers live in a Storage: one block from the caching allocator (core/allocator.h). A view (reshape,
//   permute, slice) shares the storage and has its own shape, strides (in elements) and offset.
// - Images are NHWC: (batch, height, width, channels). Channels are innermost because tern's kernels vectorize
//   over channels (16 floats fill one AVX-512 register). Weights keep PyTorch's layout (out, in, kh, kw), so a
//   PyTorch state dict loads unchanged.
// - Autograd (core/autograd.h): a tensor computed by an op from inputs that require grad remembers that op in
//   `grad_fn`; `backward()` walks those records in reverse and fills `.grad()` of the leaves.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"

namespace tern {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "(3, 5, 7)"
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

struct Node;  // core/autograd.h

// One allocation, shared by a tensor and all its views.
struct Storage {
    MemoryBlock block;
    explicit Storage(size_t bytes) : block(allocate(bytes)) {}
    ~Storage() { release(block); }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    float* data() const { return static_cast<float*>(block.ptr); }
};

struct TensorImpl {
    std::shared_ptr<Storage> storage;
    int64_t offset = 0;  // elements from the start of storage to element [0, 0, ...]
    Shape shape;
    Shape strides;  // in elements
    bool requires_grad = false;
    std::shared_ptr<TensorImpl> grad;  // ∂L/∂(this tensor), filled by backward()
    std::shared_ptr<Node> grad_fn;     // the op that computed this tensor; null for leaves
};

class Tensor {
public:
    Tensor() = default;  // an undefined tensor (like a null pointer)
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    // Factories. Contents of empty() are uninitialized.
    static Tensor empty(const Shape& shape);
    static Tensor zeros(const Shape& shape);
    static Tensor ones(const Shape& shape);
    static Tensor full(const Shape& shape, float value);
    static Tensor from_vector(const Shape& shape, const std::vector<float>& values);
    static Tensor scalar(float value) { return full({}, value); }

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const { return impl_->shape; }
    const Shape& strides() const { return impl_->strides; }
    int64_t dim() const { return int64_t(impl_->shape.size()); }
    int64_t size(int64_t d) const;  // d may be negative: size(-1) is the last dimension
    int64_t numel() const { return shape_numel(impl_->shape); }
    std::string shape_str() const { return tern::shape_str(shape()); }
    bool is_contiguous() const;

    // Pointer to element [0, 0, ...]. Tensors are handles, so a const handle still reaches mutable data.
    float* data() const { return impl_->storage->data() + impl_->offset; }
    std::vector<float> to_vector() const;  // the elements in row-major order
    float item() const;                    // the value of a one-element tensor
    float at(std::initializer_list<int64_t> index) const;

    // In-place writes (never recorded by autograd; use on leaves or under NoGradGuard).
    void fill_(float value) const;
    void copy_(const Tensor& src) const;  // same shape; src may be any layout

    // Autograd.
    bool requires_grad() const { return impl_->requires_grad; }
    const Tensor& set_requires_grad(bool on = true) const;
    bool is_leaf() const { return impl_->grad_fn == nullptr; }
    Tensor grad() const { return Tensor(impl_->grad); }
    void set_grad(const Tensor& g) const { impl_->grad = g.impl_; }
    void zero_grad() const { impl_->grad.reset(); }
    void backward() const;                     // seeds ∂L/∂L = 1; this tensor must have one element
    void backward(const Tensor& grad) const;   // seeds the given ∂L/∂(this)
    Tensor detach() const;                     // same data, no history, requires_grad = false
    Tensor clone() const;                      // copy of the data, contiguous; differentiable
    Tensor contiguous() const;                 // this tensor if contiguous, else a copy; differentiable

    TensorImpl* impl() const { return impl_.get(); }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

private:
    std::shared_ptr<TensorImpl> impl_;
};

// A view of `base`'s storage with a new shape, strides and offset (no data is copied, no history recorded).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

}  // namespace tern

namespace tern {
// x itself when it is contiguous, else a contiguous copy without autograd history. For op implementations
// that read raw data (the op records its own backward).
Tensor contiguous_data(const Tensor& x);
}  // namespace tern
