// core/ops/batch_norm.cpp — batch norm forward and backward. Data is (M rows × C channels), channels innermost,
// so every loop below runs over channels in its inner loop (vectorized) and over rows in parallel.
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

// out[c] = Σ_rows f(row, c), accumulated in double per thread and then combined (deterministic for a given
// thread count: each thread owns a fixed block of rows).
template <class F>
void channel_sums(int64_t M, int64_t C, std::vector<double>& out, F f) {
    out.assign(static_cast<size_t>(C), 0.0);
    const int T = M * C >= kParallelGrain ? num_threads() : 1;
    std::vector<double> partial(size_t(T * C), 0.0);
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        const int64_t r0 = M * t / T, r1 = M * (t + 1) / T;
        double* acc = partial.data() + t * C;
        std::vector<float> row_acc(static_cast<size_t>(C));
        // Rows are summed in float in blocks of 64, then added to the double accumulator: fast and accurate.
        for (int64_t r = r0; r < r1; r += 64) {
            std::fill(row_acc.begin(), row_acc.end(), 0.f);
            const int64_t r_end = std::min(r + 64, r1);
            for (int64_t rr = r; rr < r_end; ++rr) {
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) row_acc[c] += f(rr, c);
            }
            for (int64_t c = 0; c < C; ++c) acc[c] += row_acc[c];
        }
    }
    for (int t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) out[c] += partial[t * C + c];
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

    // Per-channel statistics: batch ones in training (two passes: mean, then variance about the mean).
    std::vector<float> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
    const float* px = x.data();
    if (o.training) {
        std::vector<double> s;
        channel_sums(M, C, s, [px, C](int64_t r, int64_t c) { return px[r * C + c]; });
        for (int64_t c = 0; c < C; ++c) mean[c] = float(s[c] / double(M));
        const float* pm = mean.data();
        channel_sums(M, C, s, [px, pm, C](int64_t r, int64_t c) {
            const float d = px[r * C + c] - pm[c];
            return d * d;
        });
        float* rm = running_mean.defined() ? running_mean.data() : nullptr;
        float* rv = running_var.defined() ? running_var.data() : nullptr;
        for (int64_t c = 0; c < C; ++c) {
            const double var = s[c] / double(M);  // biased: used to normalize
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
    float* py = y.data();
    const float *psc = scale.data(), *psh = shift.data();
    const bool relu = o.relu;
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r) {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            const float v = px[r * C + c] * psc[c] + psh[c];
            py[r * C + c] = relu ? (v > 0.f ? v : 0.f) : v;
        }
    }

    // Backward. With x̂ = (x − μ)·invstd and g = ∂L/∂y (masked by y > 0 when fused with ReLU):
    //   ∂L/∂β = Σ g,   ∂L/∂γ = Σ g·x̂
    //   training: ∂L/∂x = γ·invstd·(g − Σg/M − x̂·Σ(g·x̂)/M)   (μ and σ² depend on x)
    //   eval:     ∂L/∂x = γ·invstd·g                          (running statistics are constants)
    record(y, "batch_norm", {x_in, gamma, beta},
           [x = x.detach(), y = y.detach(), mean, invstd, gamma = gamma.detach(), has_gamma = gamma.defined(),
            has_beta = beta.defined(), training = o.training, relu, M, C](const Tensor& gy) {
               ProfileScope scope(OpKind::BatchNorm);
               const float *px = x.data(), *py = y.data(), *pg = gy.data();
               const float *pm = mean.data(), *pis = invstd.data();
               auto g_at = [px, py, pg, relu, C](int64_t r, int64_t c) {
                   const int64_t i = r * C + c;
                   return relu && !(py[i] > 0.f) ? 0.f : pg[i];
               };
               std::vector<double> sum_g, sum_gx;
               channel_sums(M, C, sum_g, g_at);
               channel_sums(M, C, sum_gx, [&](int64_t r, int64_t c) {
                   return g_at(r, c) * (px[r * C + c] - pm[c]) * pis[c];
               });
               Tensor gx = Tensor::empty(x.shape());
               std::vector<float> k1(static_cast<size_t>(C)), k2(static_cast<size_t>(C)), k3(static_cast<size_t>(C));
               for (int64_t c = 0; c < C; ++c) {
                   const float gscale = (has_gamma ? gamma.data()[c] : 1.f) * pis[c];
                   k1[c] = gscale;                                                      // multiplies g
                   k2[c] = training ? -gscale * float(sum_g[c] / double(M)) : 0.f;      // constant term
                   k3[c] = training ? -gscale * float(sum_gx[c] / double(M)) * pis[c] : 0.f;  // × (x − μ)
               }
               float* pgx = gx.data();
               const float *a = k1.data(), *b = k2.data(), *d = k3.data();
#pragma omp parallel for if (M * C >= kParallelGrain)
               for (int64_t r = 0; r < M; ++r) {
#pragma omp simd
                   for (int64_t c = 0; c < C; ++c) {
                       const int64_t i = r * C + c;
                       const float g = relu && !(py[i] > 0.f) ? 0.f : pg[i];
                       pgx[i] = a[c] * g + b[c] + d[c] * (px[i] - pm[c]);
                   }
               }
               Tensor ggamma, gbeta;
               if (has_gamma) {
                   ggamma = Tensor::empty({C});
                   for (int64_t c = 0; c < C; ++c) ggamma.data()[c] = float(sum_gx[c]);
               }
               if (has_beta) {
                   gbeta = Tensor::empty({C});
                   for (int64_t c = 0; c < C; ++c) gbeta.data()[c] = float(sum_g[c]);
               }
               return std::vector<Tensor>{gx, ggamma, gbeta};
           });
    return y;
}

}  // namespace tern
