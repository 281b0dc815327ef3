// core/ops/batch_norm.cpp — batch norm forward and backward. Data is (M rows × C channels), channels innermost,
// so every loop below runs over channels in its inner loop (vectorized) and over rows in parallel.
//
// Passes over memory are what this op costs (it does few flops per byte), so each pass does as much as it can:
//   forward:  1 pass for Σ(x − k) and Σ(x − k)² together (k = the first row: a shift that keeps the variance
//             formula E[(x−k)²] − E[x−k]² free of cancellation), 1 pass to write y.
//   backward: 1 pass for Σg and Σg·(x − μ), 1 pass to write ∂L/∂x; the fused ReLU's mask is recomputed from x.
//   With a fused output quantizer the same passes also quantize (forward) and recompute its mask and step
//   gradient (backward).
// The passes themselves are in core/kernels/batch_norm.h.
#include "core/ops/batch_norm.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/batch_norm.h"
#include "core/profiler.h"

namespace tern {

Tensor batch_norm(const Tensor& x_in, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, BatchNormOptions o) {
    ProfileScope scope(OpKind::BatchNorm);
    TERN_CHECK(x_in.dim() >= 2, "batch_norm: input must have a channel dimension, got " << x_in.shape_str());
    const Tensor x = contiguous_data(x_in);
    const int64_t C = x.size(-1), M = x.numel() / C;
    for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var})
        TERN_CHECK(!t->defined() || (t->dim() == 1 && t->size(0) == C),
                   "batch_norm: parameters and statistics must be (" << C << ",), got " << t->shape_str());
    TERN_CHECK(o.training || (running_mean.defined() && running_var.defined()),
               "batch_norm: eval mode needs running statistics");
    TERN_CHECK(!o.training || M > 1, "batch_norm: training needs more than one value per channel, got input "
                                         << x.shape_str());

    // Per-channel statistics: the batch's in training, the running ones in eval.
    std::vector<float> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
    const float* px = x.data();
    if (o.training) {
        std::vector<double> s1(static_cast<size_t>(C)), s2(static_cast<size_t>(C));
        kernels::bn_moments(px, px, M, C, s1.data(), s2.data());  // shift k = row 0
        float* rm = running_mean.defined() ? running_mean.data() : nullptr;
        float* rv = running_var.defined() ? running_var.data() : nullptr;
        for (int64_t c = 0; c < C; ++c) {
            const double d_mean = s1[c] / double(M);                           // E[x − k]
            const double var = std::max(0.0, s2[c] / double(M) - d_mean * d_mean);  // biased: normalizes
            mean[c] = float(double(px[c]) + d_mean);
            invstd[c] = float(1.0 / std::sqrt(var + double(o.eps)));
            if (rm) rm[c] = (1.f - o.momentum) * rm[c] + o.momentum * mean[c];
            if (rv) rv[c] = (1.f - o.momentum) * rv[c] + o.momentum * float(var * double(M) / double(M - 1));
        }
    } else {
        for (int64_t c = 0; c < C; ++c) {
            mean[c] = running_mean.data()[c];
            invstd[c] = 1.f / std::sqrt(running_var.data()[c] + o.eps);
        }
    }

    // y = x · scale + shift, scale = γ·invstd, shift = β − μ·scale   (then max(·, 0) if fused with ReLU)
    std::vector<float> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
        scale[c] = (gamma.defined() ? gamma.data()[c] : 1.f) * invstd[c];
        shift[c] = (beta.defined() ? beta.data()[c] : 0.f) - mean[c] * scale[c];
    }
    kernels::FakeQuant quant;
    if (o.quant_step.defined()) {
        TERN_CHECK(o.quant_step.numel() == 1, "batch_norm: the output quantizer's step must be one value, got "
                                                  << o.quant_step.shape_str());
        const float step = o.quant_step.item();
        TERN_CHECK(step > 0.f && std::isfinite(step), "batch_norm: the output quantizer's step is " << step);
        TERN_CHECK(o.quant_lo < o.quant_hi, "batch_norm: the output quantizer's range is empty");
        quant = kernels::make_fake_quant(step, o.quant_lo, o.quant_hi);
    }
    Tensor y = Tensor::empty(x.shape());
    kernels::bn_apply(px, y.data(), M, C, {scale.data(), shift.data(), o.relu, quant});

    // Backward. With x̂ = (x − μ)·invstd and g = ∂L/∂y (masked by y > 0 when fused with ReLU):
    //   ∂L/∂β = Σ g,   ∂L/∂γ = Σ g·x̂
    //   training: ∂L/∂x = γ·invstd·(g − Σg/M − x̂·Σ(g·x̂)/M)   (μ and σ² depend on x)
    //   eval:     ∂L/∂x = γ·invstd·g                          (running statistics are constants)
    // With the output quantizer, g = ∂L/∂ŷ masked where the quantizer clipped, and ∂L/∂s = scale·Σ ∂L/∂ŷ·∂ŷ/∂s.
    record(y, "batch_norm", {x_in, gamma, beta, o.quant_step},
           [x = x.detach(), mean, invstd, scale, shift, gamma = gamma.detach(), has_gamma = gamma.defined(),
            has_beta = beta.defined(), training = o.training, relu = o.relu, quant, grad_scale = o.quant_grad_scale,
            M, C](const Tensor& gy) {
               ProfileScope scope(OpKind::BatchNorm);
               const float *px = x.data(), *pg = gy.data(), *pm = mean.data();
               const kernels::BnAffine f{scale.data(), shift.data(), relu, quant};  // the forward's decisions
               std::vector<double> s1(static_cast<size_t>(C)), s2(static_cast<size_t>(C)), s3(static_cast<size_t>(C));
               kernels::bn_grad_sums(pg, px, pm, M, C, f, s1.data(), s2.data(), s3.data());  // Σg, Σ g·(x − μ), Σ g·∂ŷ/∂s
               std::vector<float> k1(static_cast<size_t>(C)), k2(static_cast<size_t>(C)), k3(static_cast<size_t>(C));
               for (int64_t c = 0; c < C; ++c) {
                   const float is = invstd[c];
                   const float gscale = (has_gamma ? gamma.data()[c] : 1.f) * is;
                   k1[c] = gscale;                                                       // multiplies g
                   k2[c] = training ? -gscale * float(s1[c] / double(M)) : 0.f;          // constant term
                   k3[c] = training ? -gscale * float(s2[c] / double(M)) * is * is : 0.f;  // multiplies (x − μ)
               }
               Tensor gx = Tensor::empty(x.shape());
               kernels::bn_grad_apply(pg, px, pm, k1.data(), k2.data(), k3.data(), gx.data(), M, C, f);
               Tensor ggamma, gbeta;
               if (has_gamma) {  // Σ g·x̂ = invstd · Σ g·(x − μ)
                   ggamma = Tensor::empty({C});
                   for (int64_t c = 0; c < C; ++c) ggamma.data()[c] = float(s2[c] * double(invstd[c]));
               }
               if (has_beta) {
                   gbeta = Tensor::empty({C});
                   for (int64_t c = 0; c < C; ++c) gbeta.data()[c] = float(s1[c]);
               }
               Tensor gstep;
               if (quant.on()) {
                   double sum = 0;
                   for (int64_t c = 0; c < C; ++c) sum += s3[c];
                   gstep = Tensor::full({1}, float(sum * double(grad_scale)));
               }
               return std::vector<Tensor>{gx, ggamma, gbeta, gstep};
           });
    return y;
}

}  // namespace tern
