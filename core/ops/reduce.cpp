// core/ops/reduce.cpp — sum/mean over axes. Accumulates in double so that gradient checks see float-exact sums.
#include "core/ops/reduce.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/shape_ops.h"
#include "core/parallel.h"

namespace tern {

static std::vector<int64_t> normalize_axes(std::vector<int64_t> axes, int64_t nd) {
    if (axes.empty())
        for (int64_t d = 0; d < nd; ++d) axes.push_back(d);
    for (int64_t& a : axes) {
        if (a < 0) a += nd;
        TERN_CHECK(a >= 0 && a < nd, "reduction axis out of range for a " << nd << "-d tensor");
    }
    std::sort(axes.begin(), axes.end());
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
    return axes;
}

// Sums a contiguous x over `axes` into the keepdim shape. Two fast layouts, else permute-and-copy.
static Tensor sum_keepdim(const Tensor& x_in, const std::vector<int64_t>& axes) {
    const Tensor x = contiguous_data(x_in);
    const int64_t nd = x.dim();
    Shape out_shape = x.shape();
    std::vector<bool> reduced(nd, false);
    for (int64_t a : axes) {
        reduced[a] = true;
        out_shape[a] = 1;
    }
    Tensor out = Tensor::empty(out_shape);
    // Is the reduced set a prefix (sum of rows: out[j] = Σ_i x[i, j]) or a suffix (out[i] = Σ_j x[i, j])?
    int64_t first_kept = 0;
    while (first_kept < nd && reduced[first_kept]) ++first_kept;
    bool prefix = true, suffix = true;
    for (int64_t d = first_kept; d < nd; ++d) prefix = prefix && !reduced[d];
    int64_t last_kept = nd - 1;
    while (last_kept >= 0 && reduced[last_kept]) --last_kept;
    for (int64_t d = 0; d <= last_kept; ++d) suffix = suffix && !reduced[d];

    const float* px = x.data();
    float* po = out.data();
    const int64_t cols = out.numel();
    if (suffix) {  // rows of length R = numel / cols, one output each
        const int64_t R = cols ? x.numel() / cols : 0;
#pragma omp parallel for if (x.numel() >= kParallelGrain)
        for (int64_t i = 0; i < cols; ++i) {
            double s = 0;
            for (int64_t j = 0; j < R; ++j) s += px[i * R + j];
            po[i] = float(s);
        }
        return out;
    }
    if (prefix) {  // out[j] = Σ_i x[i, j]: accumulate whole rows
        const int64_t rows = cols ? x.numel() / cols : 0;
        std::vector<double> acc(static_cast<size_t>(cols), 0.0);
        for (int64_t i = 0; i < rows; ++i) {
            const float* row = px + i * cols;
            for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
        }
        for (int64_t j = 0; j < cols; ++j) po[j] = float(acc[j]);
        return out;
    }
    // General: move the reduced axes to the end, then it is the suffix case.
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < nd; ++d)
        if (!reduced[d]) perm.push_back(d);
    for (int64_t d = 0; d < nd; ++d)
        if (reduced[d]) perm.push_back(d);
    Tensor moved = contiguous_data(permute(x.detach(), perm));
    std::vector<int64_t> tail;
    for (int64_t d = nd - int64_t(axes.size()); d < nd; ++d) tail.push_back(d);
    Tensor r = sum_keepdim(moved, tail);
    std::copy(r.data(), r.data() + r.numel(), po);
    return out;
}

// out = Σ_axes x;   ∂L/∂x = ∂L/∂out broadcast back over the summed axes
Tensor sum(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
    axes = normalize_axes(axes, x.dim());
    Tensor kept = sum_keepdim(x, axes);
    Shape out_shape;
    for (int64_t d = 0; d < x.dim(); ++d)
        if (keepdim || !std::binary_search(axes.begin(), axes.end(), d)) out_shape.push_back(kept.shape()[d]);
    Tensor out = make_view(kept, out_shape, contiguous_strides(out_shape), 0);
    record(out, "sum", {x}, [x_shape = x.shape(), kept_shape = kept.shape()](const Tensor& g) {
        return std::vector<Tensor>{broadcast_to(reshape(g, kept_shape), x_shape)};
    });
    return out;
}

Tensor mean(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
    axes = normalize_axes(axes, x.dim());
    int64_t count = 1;
    for (int64_t a : axes) count *= x.shape()[a];
    return mul(sum(x, axes, keepdim), 1.f / float(count));
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
    if (g.shape() == shape) return g;
    const int64_t lead = g.dim() - int64_t(shape.size());
    TERN_CHECK(lead >= 0, "sum_to_shape: cannot reduce " << g.shape_str() << " to " << shape_str(shape));
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < g.dim(); ++d)
        if (d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1)) axes.push_back(d);
    return reshape(sum(g, axes, true), shape);
}

}  // namespace tern
