// core/ops/batch_norm.cpp — batch norm forward and backward. Data is (M rows × C channels), channels innermost,
// so every loop below runs over channels in its inner loop (vectorized) and over rows in parallel.
//
// Passes over memory are what this op costs (it does few flops per byte), so each pass does as much as it can:
//   forward:  1 pass for Σ(x − k) and Σ(x − k)² together (k = the first row: a shift that keeps the variance
//             formula E[(x−k)²] − E[x−k]² free of cancellation), 1 pass to write y.
//   backward: 1 pass for Σg and Σg·(x − μ), 1 pass to write ∂L/∂x.
#include "core/ops/batch_norm.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace tern {

namespace {

// Per-channel sums of two quantities over all rows: s1[c] = Σ_r a(r, c), s2[c] = Σ_r b(r, c), where
// a, b are computed by `Terms` from the row pointers. Rows are summed in float in blocks of 32 (exact enough),
// blocks in double; each thread owns a fixed block of rows, so results do not depend on timing.
struct ChannelSums {
    std::vector<double> s1, s2;
};

template <class Terms>
ChannelSums channel_sums(int64_t M, int64_t C, Terms terms) {
    const int T = M * C >= kParallelGrain ? num_threads() : 1;
    std::vector<double> partial(size_t(2 * T * C), 0.0);
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        const int64_t r0 = M * t / T, r1 = M * (t + 1) / T;
        double* p1 = partial.data() + 2 * t * C;
        double* p2 = p1 + C;
        std::vector<float> b1(static_cast<size_t>(C)), b2(static_cast<size_t>(C));
        float* a1 = b1.data();
        float* a2 = b2.data();
        for (int64_t r = r0; r < r1; r += 32) {
            const int64_t r_end = std::min(r + 32, r1);
            for (int64_t c = 0; c < C; ++c) a1[c] = a2[c] = 0.f;
            for (int64_t rr = r; rr < r_end; ++rr) terms.accumulate(rr, a1, a2);
            for (int64_t c = 0; c < C; ++c) p1[c] += a1[c], p2[c] += a2[c];
        }
    }
    ChannelSums out{std::vector<double>(static_cast<size_t>(C), 0.0), std::vector<double>(static_cast<size_t>(C), 0.0)};
    for (int t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) out.s1[c] += partial[2 * t * C + c], out.s2[c] += partial[(2 * t + 1) * C + c];
    return out;
}

// Forward statistics: a1 += x − k, a2 += (x − k)²
struct ShiftedMoments {
    const float* x;
    const float* k;
    int64_t C;
    void accumulate(int64_t r, float* __restrict a1, float* __restrict a2) const {
        const float* xr = x + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            const float d = xr[c] - k[c];
            a1[c] += d;
            a2[c] += d * d;
        }
    }
};

// Backward statistics: a1 += g, a2 += g·(x − μ), with g masked by y > 0 when ReLU is fused.
template <bool Relu>
struct GradMoments {
    const float *g, *x, *y, *mean;
    int64_t C;
    void accumulate(int64_t r, float* __restrict a1, float* __restrict a2) const {
        const float *gr = g + r * C, *xr = x + r * C, *yr = y + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            const float gv = Relu ? (yr[c] > 0.f ? gr[c] : 0.f) : gr[c];
            a1[c] += gv;
            a2[c] += gv * (xr[c] - mean[c]);
        }
    }
};

// y = x·a + b per channel (then max(·, 0) when Relu).
template <bool Relu>
void affine_rows(const float* x, float* y, const float* a, const float* b, int64_t M, int64_t C) {
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r) {
        const float* xr = x + r * C;
        float* yr = y + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            const float v = xr[c] * a[c] + b[c];
            yr[c] = Relu ? (v > 0.f ? v : 0.f) : v;
        }
    }
}

// ∂L/∂x = k1·g + k2 + k3·(x − μ), g masked by y > 0 when Relu.
template <bool Relu>
void grad_rows(const float* g, const float* x, const float* y, const float* mean, const float* k1, const float* k2,
               const float* k3, float* gx, int64_t M, int64_t C) {
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r) {
        const float *gr = g + r * C, *xr = x + r * C, *yr = y + r * C;
        float* o = gx + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            const float gv = Relu ? (yr[c] > 0.f ? gr[c] : 0.f) : gr[c];
            o[c] = k1[c] * gv + k2[c] + k3[c] * (xr[c] - mean[c]);
        }
    }
}

}  // namespace

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
        const ChannelSums s = channel_sums(M, C, ShiftedMoments{px, px, C});  // shift k = row 0
        float* rm = running_mean.defined() ? running_mean.data() : nullptr;
        float* rv = running_var.defined() ? running_var.data() : nullptr;
        for (int64_t c = 0; c < C; ++c) {
            const double d_mean = s.s1[c] / double(M);                          // E[x − k]
            const double var = std::max(0.0, s.s2[c] / double(M) - d_mean * d_mean);  // biased: normalizes
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
    Tensor y = Tensor::empty(x.shape());
    if (o.relu) affine_rows<true>(px, y.data(), scale.data(), shift.data(), M, C);
    else affine_rows<false>(px, y.data(), scale.data(), shift.data(), M, C);

    // Backward. With x̂ = (x − μ)·invstd and g = ∂L/∂y (masked by y > 0 when fused with ReLU):
    //   ∂L/∂β = Σ g,   ∂L/∂γ = Σ g·x̂
    //   training: ∂L/∂x = γ·invstd·(g − Σg/M − x̂·Σ(g·x̂)/M)   (μ and σ² depend on x)
    //   eval:     ∂L/∂x = γ·invstd·g                          (running statistics are constants)
    record(y, "batch_norm", {x_in, gamma, beta},
           [x = x.detach(), y = y.detach(), mean, invstd, gamma = gamma.detach(), has_gamma = gamma.defined(),
            has_beta = beta.defined(), training = o.training, relu = o.relu, M, C](const Tensor& gy) {
               ProfileScope scope(OpKind::BatchNorm);
               const float *px = x.data(), *py = y.data(), *pg = gy.data(), *pm = mean.data();
               const ChannelSums s = relu ? channel_sums(M, C, GradMoments<true>{pg, px, py, pm, C})
                                          : channel_sums(M, C, GradMoments<false>{pg, px, py, pm, C});
               // s.s1 = Σg, s.s2 = Σ g·(x − μ) = Σ g·x̂ / invstd
               std::vector<float> k1(static_cast<size_t>(C)), k2(static_cast<size_t>(C)), k3(static_cast<size_t>(C));
               for (int64_t c = 0; c < C; ++c) {
                   const float is = invstd[c];
                   const float gscale = (has_gamma ? gamma.data()[c] : 1.f) * is;
                   k1[c] = gscale;                                                         // multiplies g
                   k2[c] = training ? -gscale * float(s.s1[c] / double(M)) : 0.f;          // constant term
                   k3[c] = training ? -gscale * float(s.s2[c] / double(M)) * is * is : 0.f;  // multiplies (x − μ)
               }
               Tensor gx = Tensor::empty(x.shape());
               if (relu) grad_rows<true>(pg, px, py, pm, k1.data(), k2.data(), k3.data(), gx.data(), M, C);
               else grad_rows<false>(pg, px, py, pm, k1.data(), k2.data(), k3.data(), gx.data(), M, C);
               Tensor ggamma, gbeta;
               if (has_gamma) {
                   ggamma = Tensor::empty({C});
                   for (int64_t c = 0; c < C; ++c) ggamma.data()[c] = float(s.s2[c] * double(invstd[c]));
               }
               if (has_beta) {
                   gbeta = Tensor::empty({C});
                   for (int64_t c = 0; c < C; ++c) gbeta.data()[c] = float(s.s1[c]);
               }
               return std::vector<Tensor>{gx, ggamma, gbeta};
           });
    return y;
}

}  // namespace tern
