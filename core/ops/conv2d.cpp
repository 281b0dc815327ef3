// core/ops/conv2d.cpp — conv2d forward and its backward (data and weight gradients) side by side.
#include "core/ops/conv2d.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/conv2d.h"
#include "core/ops/reduce.h"
#include "core/profiler.h"

namespace tern {

Tensor conv2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias, Conv2dOptions o) {
    TERN_CHECK(x_in.dim() == 4, "conv2d: input must be (N, H, W, C), got " << x_in.shape_str());
    TERN_CHECK(weight_in.dim() == 4, "conv2d: weight must be (OC, C/groups, KH, KW), got " << weight_in.shape_str());
    const Tensor x = contiguous_data(x_in), w = contiguous_data(weight_in);
    const int64_t OC = w.size(0), C = x.size(3);
    TERN_CHECK(o.groups >= 1 && C % o.groups == 0 && OC % o.groups == 0 && w.size(1) * o.groups == C,
               "conv2d: input has " << C << " channels, weight " << w.shape_str() << " with groups=" << o.groups);
    TERN_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == OC),
               "conv2d: bias must be (" << OC << ",), got " << bias.shape_str());
    TERN_CHECK(o.stride >= 1 && o.padding >= 0, "conv2d: stride must be ≥ 1 and padding ≥ 0");
    const auto s = kernels::ConvShape::make(x.size(0), x.size(1), x.size(2), C, OC, w.size(2), w.size(3), o.stride,
                                            o.stride, o.padding, o.padding, o.groups);
    TERN_CHECK(s.OH > 0 && s.OW > 0, "conv2d: a " << s.KH << "×" << s.KW << " kernel does not fit a " << s.H << "×"
                                                  << s.W << " input with padding " << o.padding);

    // Forward: y = x ⋆ w + b                                                 x (N,H,W,C) → y (N,OH,OW,OC)
    Tensor y = Tensor::empty({s.N, s.OH, s.OW, OC});
    {
        ProfileScope scope(OpKind::ConvForward);
        kernels::conv2d_forward(s, x.data(), w.data(), bias.defined() ? contiguous_data(bias).data() : nullptr,
                                y.data());
    }

    // Backward: ∂L/∂x = ∂L/∂y ⋆ᵀ w (the transposed convolution), ∂L/∂w = Σ_pixels ∂L/∂y ⊗ x-patch,
    // ∂L/∂b = Σ_{n,oh,ow} ∂L/∂y.
    const bool need_dx = x_in.requires_grad(), need_dw = weight_in.requires_grad();
    const bool need_db = bias.defined() && bias.requires_grad();
    record(y, "conv2d", {x_in, weight_in, bias},
           [s, x = x.detach(), w = w.detach(), need_dx, need_dw, need_db](const Tensor& gy) {
               Tensor gx, gw, gb;
               if (need_dx) {
                   ProfileScope scope(OpKind::ConvBackwardData);
                   gx = Tensor::empty({s.N, s.H, s.W, s.C});
                   kernels::conv2d_backward_data(s, gy.data(), w.data(), gx.data());
               }
               if (need_dw) {
                   ProfileScope scope(OpKind::ConvBackwardWeight);
                   gw = Tensor::empty(w.shape());
                   kernels::conv2d_backward_weight(s, x.data(), gy.data(), gw.data());
               }
               if (need_db) gb = sum(gy, {0, 1, 2});
               return std::vector<Tensor>{gx, gw, gb};
           });
    return y;
}

}  // namespace tern
