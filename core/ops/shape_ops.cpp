// core/ops/shape_ops.cpp — views and copies that rearrange elements; each backward routes the gradient back.
#include "core/ops/shape_ops.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops/reduce.h"

namespace tern {

// ---- reshape: same elements, new shape --------------------------------------------------------------------
Tensor reshape(const Tensor& x, Shape shape) {
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            TERN_CHECK(infer < 0, "reshape: more than one -1 in " << shape_str(shape));
            infer = int64_t(i);
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        TERN_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot infer -1 for " << x.shape_str() << " → "
                                                                                       << shape_str(shape));
        shape[infer] = x.numel() / known;
    }
    TERN_CHECK(shape_numel(shape) == x.numel(),
               "reshape: " << x.shape_str() << " has " << x.numel() << " elements, " << shape_str(shape) << " has "
                           << shape_numel(shape));
    const Tensor src = contiguous_data(x);
    Tensor out = make_view(src, shape, contiguous_strides(shape), src.impl()->offset);
    record(out, "reshape", {x}, [x_shape = x.shape()](const Tensor& g) {
        return std::vector<Tensor>{reshape(g, x_shape)};
    });
    return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
    Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
    shape.push_back(-1);
    return reshape(x, shape);
}

// ---- permute: a strided view; the gradient is permuted back with the inverse permutation ------------------
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
    const int64_t nd = x.dim();
    TERN_CHECK(int64_t(dims.size()) == nd, "permute: " << dims.size() << " dims for a " << nd << "-d tensor");
    Shape shape(nd), strides(nd);
    std::vector<int64_t> inverse(nd, -1);
    for (int64_t i = 0; i < nd; ++i) {
        const int64_t d = dims[i] < 0 ? dims[i] + nd : dims[i];
        TERN_CHECK(d >= 0 && d < nd && inverse[d] < 0, "permute: invalid permutation");
        inverse[d] = i;
        shape[i] = x.shape()[d];
        strides[i] = x.strides()[d];
    }
    Tensor out = make_view(x, shape, strides, x.impl()->offset);
    record(out, "permute", {x}, [inverse](const Tensor& g) {
        return std::vector<Tensor>{contiguous_data(permute(g, inverse))};
    });
    return out;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
    std::vector<int64_t> dims(x.dim());
    for (int64_t i = 0; i < x.dim(); ++i) dims[i] = i;
    if (d0 < 0) d0 += x.dim();
    if (d1 < 0) d1 += x.dim();
    std::swap(dims[d0], dims[d1]);
    return permute(x, dims);
}

// ---- slice: a strided view; the gradient lands in the selected positions of a zero tensor -----------------
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
    if (dim < 0) dim += x.dim();
    TERN_CHECK(dim >= 0 && dim < x.dim(), "slice: dimension out of range for " << x.shape_str());
    TERN_CHECK(step > 0, "slice: step must be positive");
    const int64_t n = x.shape()[dim];
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::min(std::max<int64_t>(start, 0), n);
    end = std::min(std::max<int64_t>(end, start), n);
    Shape shape = x.shape(), strides = x.strides();
    shape[dim] = (end - start + step - 1) / step;
    strides[dim] *= step;
    Tensor out = make_view(x, shape, strides, x.impl()->offset + start * x.strides()[dim]);
    record(out, "slice", {x}, [x_shape = x.shape(), dim, start, end, step](const Tensor& g) {
        Tensor gx = Tensor::zeros(x_shape);
        slice(gx, dim, start, end, step).copy_(g);
        return std::vector<Tensor>{gx};
    });
    return out;
}

// ---- pad: x copied into the middle of a constant tensor; the gradient is the middle of ∂L/∂out --------------
Tensor pad(const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& pads, float value) {
    TERN_CHECK(int64_t(pads.size()) == x.dim(), "pad: " << pads.size() << " pad pairs for a " << x.dim()
                                                        << "-d tensor");
    Shape shape = x.shape();
    for (size_t d = 0; d < pads.size(); ++d) {
        TERN_CHECK(pads[d].first >= 0 && pads[d].second >= 0, "pad: negative padding");
        shape[d] += pads[d].first + pads[d].second;
    }
    Tensor out = Tensor::full(shape, value);
    auto interior = [pads](Tensor t) {
        for (size_t d = 0; d < pads.size(); ++d)
            t = slice(t, int64_t(d), pads[d].first, t.shape()[d] - pads[d].second);
        return t;
    };
    {
        NoGradGuard no_grad;
        interior(out).copy_(x);
    }
    record(out, "pad", {x}, [interior](const Tensor& g) {
        return std::vector<Tensor>{contiguous_data(interior(g))};
    });
    return out;
}

// ---- concat: inputs side by side along dim; each gets back its own slice of the gradient ------------------
Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
    TERN_CHECK(!xs.empty(), "concat: no tensors");
    const int64_t nd = xs[0].dim();
    if (dim < 0) dim += nd;
    TERN_CHECK(dim >= 0 && dim < nd, "concat: dimension out of range");
    Shape shape = xs[0].shape();
    shape[dim] = 0;
    std::vector<int64_t> starts;
    for (const Tensor& x : xs) {
        Shape s = x.shape();
        TERN_CHECK(x.dim() == nd, "concat: tensors of different rank");
        s[dim] = shape[dim];
        TERN_CHECK(s == shape, "concat: shape " << x.shape_str() << " does not match " << xs[0].shape_str()
                                                << " outside dimension " << dim);
        starts.push_back(shape[dim]);
        shape[dim] += x.shape()[dim];
    }
    Tensor out = Tensor::empty(shape);
    {
        NoGradGuard no_grad;
        for (size_t i = 0; i < xs.size(); ++i)
            slice(out, dim, starts[i], starts[i] + xs[i].shape()[dim]).copy_(xs[i]);
    }
    std::vector<int64_t> sizes;
    for (const Tensor& x : xs) sizes.push_back(x.shape()[dim]);
    record(out, "concat", xs, [dim, starts, sizes](const Tensor& g) {
        std::vector<Tensor> grads;
        for (size_t i = 0; i < starts.size(); ++i)
            grads.push_back(contiguous_data(slice(g, dim, starts[i], starts[i] + sizes[i])));
        return grads;
    });
    return out;
}

// ---- broadcast_to: a copy that repeats x; the gradient sums the repeats -----------------------------------
Tensor broadcast_to(const Tensor& x, const Shape& shape) {
    TERN_CHECK(shape.size() >= x.shape().size(), "broadcast_to: " << x.shape_str() << " → " << shape_str(shape));
    const size_t lead = shape.size() - x.shape().size();
    Shape strides(shape.size(), 0);
    for (size_t i = 0; i < x.shape().size(); ++i) {
        TERN_CHECK(x.shape()[i] == shape[lead + i] || x.shape()[i] == 1,
                   "broadcast_to: cannot broadcast " << x.shape_str() << " to " << shape_str(shape));
        strides[lead + i] = x.shape()[i] == 1 ? 0 : x.strides()[i];
    }
    Tensor out = Tensor::empty(shape);
    out.copy_(make_view(x, shape, strides, x.impl()->offset));
    record(out, "broadcast_to", {x}, [x_shape = x.shape()](const Tensor& g) {
        return std::vector<Tensor>{sum_to_shape(g, x_shape)};
    });
    return out;
}

}  // namespace tern
