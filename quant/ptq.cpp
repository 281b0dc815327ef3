// quant/ptq.cpp — PTQ's stages: L2-normalized forward, pruning with the resetting trick, learned-Δ ternary.
#include "quant/ptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/double_sum.h"
#include "core/ops/elementwise.h"
#include "core/profiler.h"
#include "quant/l2_normalize.h"

namespace tern {

Tensor ternarize(const Tensor& w_in, float delta) {
    const Tensor w = contiguous_data(w_in);
    Tensor out = Tensor::empty(w.shape());
    for (int64_t i = 0; i < w.numel(); ++i) {
        const float v = w.data()[i];
        out.data()[i] = v > delta ? 1.f : (v < -delta ? -1.f : 0.f);  // Eq. (1)
    }
    return out;
}

PtqQuantizer::PtqQuantizer(const Tensor& w, PtqOptions o) : options(o) {
    TERN_CHECK(o.prune_ratio >= 0 && o.prune_ratio < 1, "PTQ: the pruning ratio must be in [0, 1)");
    delta_ratio = Tensor::zeros({1});
    stage_ = Tensor::ones({1});
    mask = Tensor::ones(w.shape());
    register_parameter("delta_ratio", &delta_ratio);
    register_buffer("stage", &stage_);
    register_buffer("mask", &mask);
}

Tensor PtqQuantizer::forward(const Tensor& w) {
    ProfileScope scope(OpKind::Quantizer);
    TERN_CHECK(mask.shape() == w.shape(), "PTQ: weight " << w.shape_str() << " does not match the quantizer's mask");
    if (stage() < 3) {
        // Stages 1–2: w̃ = w/‖w‖ (Eq. 17), on the kept weights when the mask is fixed (their gradient is masked too).
        return l2_normalize_rows(options.fixed_mask && stage() == 2 ? mul(w, mask) : w);
    }
    // Stage 3: ŵ = Quant(w, Δ) (Eq. 22), the layer computes with ŵ/‖ŵ‖ (Eq. 23).
    const Tensor wc = contiguous_data(w);
    const float m = kept_mean_abs(wc);
    Tensor q = ternarize(wc, std::fabs(delta_ratio.item()) * m);  // Δ = ρ·m
    if (options.fixed_mask) q = mul(q, mask);
    Tensor out = contiguous_data(l2_normalize_rows(q.detach())).detach();
    const float blend = ternary_blend;
    // The gradual entry (see ptq.h): out = (1 − λ)·w̃ + λ·ŵ/‖ŵ‖. Measured on ResNet-20 (README "PTQ with
    // distillation"): it removes the drop at the switch, but the runs end ~0.5 point lower than with λ = 1.
    if (blend < 1.f) {
        TERN_CHECK(blend >= 0.f, "PTQ: ternary_blend must be in [0, 1], got " << blend);
        NoGradGuard no_grad;
        const Tensor wn = contiguous_data(l2_normalize_rows(options.fixed_mask ? mul(wc, mask) : wc));
        float* po = out.data();
        const float* pn = wn.data();
        for (int64_t i = 0; i < out.numel(); ++i) po[i] = (1.f - blend) * pn[i] + blend * po[i];
    }
    record(out, "ptq_ternary", {w, delta_ratio},
           [w = wc.detach(), q = q.detach(), mask = mask.detach(), fixed = options.fixed_mask, m, blend](const Tensor& g) {
               ProfileScope scope(OpKind::Quantizer);
               // Refined STE, Eq. (24): ∂E/∂w ≈ ∂E/∂ŵ · M_w, M_w from the full-precision weights. (With λ < 1:
               // (1 − λ)·M_w·g exactly through w̃ plus λ·M_w·g through the STE — the same sum.)
               Tensor gw = l2_normalize_backward(fixed ? mul(w, mask) : w, g);
               if (fixed) gw = mul(gw, mask);
               // Eq. (25), our reading (see ptq.h): ∂L/∂Δ = −Σ_{ŵ_i≠0} sign(ŵ_i)·∂L/∂w_i
               const float *pq = q.data(), *pg = gw.data();
               const double gd = -kernels::double_sum(q.numel(), [pq, pg](int64_t i) { return double(pq[i]) * pg[i]; });
               // ∂L/∂ρ = m·∂L/∂Δ; only the λ·ŵ/‖ŵ‖ term depends on Δ
               return std::vector<Tensor>{gw, Tensor::full({1}, float(blend * m * gd))};
           });
    return out;
}

void PtqQuantizer::prune(const Tensor& w) {
    NoGradGuard no_grad;
    TERN_CHECK(w.is_contiguous(), "PTQ prune: weight must be contiguous");
    const int64_t n = w.numel();
    const int64_t keep = int64_t(std::llround((1.0 - options.prune_ratio) * double(n)));
    // t = Top(W, k): order by |w| (ties by index, so exactly `keep` survive), Eq. (2)–(3).
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    const float* p = w.data();
    std::nth_element(order.begin(), order.begin() + keep, order.end(), [p](int64_t a, int64_t b) {
        const float fa = std::fabs(p[a]), fb = std::fabs(p[b]);
        return fa > fb || (fa == fb && a < b);
    });
    mask.fill_(0.f);
    for (int64_t i = 0; i < keep; ++i) mask.data()[order[size_t(i)]] = 1.f;
    // The reset's magnitude (see ptq.h): 1, or the RMS of the layer's kept weights.
    float* pw = w.data();
    const float* pm = mask.data();
    double kept_sq = 0;
    for (int64_t i = 0; i < n; ++i)
        if (pm[i] != 0.f) kept_sq += double(pw[i]) * pw[i];
    const float c = options.reset_keeps_norm ? (keep ? float(std::sqrt(kept_sq / double(keep))) : 0.f) : 1.f;
    for (int64_t i = 0; i < n; ++i) {
        if (pm[i] == 0.f) pw[i] = 0.f;                                           // Prune(w, t)
        else if (options.reset) pw[i] = pw[i] > 0 ? c : (pw[i] < 0 ? -c : 0.f);  // resetting: c·Quant(w, 0)
    }
    stage_.fill_(2.f);
}

float PtqQuantizer::kept_mean_abs(const Tensor& wc) const {
    const float *w = wc.data(), *m = mask.data();
    const auto kept = [w, m](int64_t i) { return w[i] != 0.f && m[i] != 0.f; };
    const double s = kernels::double_sum(wc.numel(), [w, kept](int64_t i) { return kept(i) ? std::fabs(double(w[i])) : 0.0; });
    const double nz = kernels::double_sum(wc.numel(), [kept](int64_t i) { return kept(i) ? 1.0 : 0.0; });
    return nz > 0 ? float(s / nz) : 0.f;
}

float PtqQuantizer::threshold(const Tensor& w) const {
    return std::fabs(delta_ratio.item()) * kept_mean_abs(contiguous_data(w));
}

void PtqQuantizer::start_ternary(const Tensor& w) {
    delta_ratio.fill_(float(options.delta_init));
    stage_.fill_(3.f);
}

Tensor PtqQuantizer::codes(const Tensor& w) {
    Tensor c = stage() == 3 ? ternarize(w, threshold(w)) : ternarize(w, 0.f);
    if (options.fixed_mask && stage() >= 2) {
        NoGradGuard no_grad;
        c = mul(c, mask);
    }
    return c;
}

Tensor PtqQuantizer::scales(const Tensor& w) {
    const Tensor c = codes(w);
    const int64_t rows = c.size(0), n = c.numel() / rows;
    Tensor s = Tensor::empty({rows});
    for (int64_t r = 0; r < rows; ++r) {
        int64_t nnz = 0;
        for (int64_t i = 0; i < n; ++i) nnz += c.data()[r * n + i] != 0.f;
        s.data()[r] = nnz ? float(1.0 / std::sqrt(double(nnz))) : 0.f;  // ‖ŵ_row‖ = √(number of ±1)
    }
    return s;
}

// Oscillation dampening's target (not in the PTQ paper; quant/oscillation_dampening.h). The layer computes with
// ŵ/‖ŵ‖, which does not depend on w's scale, so "the value w is quantized to" needs a magnitude in w's units. We
// take TGA's answer (its Eq. 10: the scale is the mean of the weights beyond the threshold): a = the layer's mean
// |w| over the weights with a non-zero code, target = Quant(w, Δ)·a. One a per layer, as Δ is one per layer. a is a
// mean of values above Δ, so it lies beyond Δ, as 0 lies inside: both pulls point away from the threshold.
// Stages 1–2 have no threshold to oscillate across (the forward is continuous): undefined, nothing to dampen.
Tensor PtqQuantizer::dampening_target(const Tensor& w) {
    if (stage() < 3) return Tensor();
    NoGradGuard no_grad;
    const Tensor wc = contiguous_data(w);
    Tensor target = codes(wc);
    float* pt = target.data();
    const float* pw = wc.data();
    const int64_t n = wc.numel();
    const double nz = kernels::double_sum(n, [pt](int64_t i) { return pt[i] != 0.f ? 1.0 : 0.0; });
    const double abs_sum = kernels::double_sum(n, [pt, pw](int64_t i) { return pt[i] != 0.f ? std::fabs(double(pw[i])) : 0.0; });
    const float a = nz > 0 ? float(abs_sum / nz) : 0.f;
    for (int64_t i = 0; i < n; ++i) pt[i] *= a;
    return target;
}

nlohmann::json PtqQuantizer::stats(const Tensor& w) {
    // The paper's Figure 2 quantity: the mean L2-normalized magnitude of the remaining (non-zero) weights, next
    // to √n/n (n = non-zero weights of the output unit), the value ternary weights would have.
    const Tensor wc = contiguous_data(w);
    const Tensor c = codes(w);
    const int64_t rows = wc.size(0), n = wc.numel() / rows;
    double mag = 0, ideal = 0;
    int64_t counted = 0, rows_counted = 0;
    for (int64_t r = 0; r < rows; ++r) {
        double norm = 0;
        int64_t nnz = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double v = c.data()[r * n + i] != 0.f ? wc.data()[r * n + i] : 0.0;
            norm += v * v;
            nnz += c.data()[r * n + i] != 0.f;
        }
        if (nnz == 0 || norm == 0) continue;
        norm = std::sqrt(norm);
        for (int64_t i = 0; i < n; ++i)
            if (c.data()[r * n + i] != 0.f) mag += std::fabs(wc.data()[r * n + i]) / norm, ++counted;
        ideal += 1.0 / std::sqrt(double(nnz));
        ++rows_counted;
    }
    return {{"sparsity", sparsity(c)}, {"delta", stage() == 3 ? double(threshold(w)) : 0.0},
            {"delta_ratio", std::fabs(double(delta_ratio.item()))}, {"stage", stage()},
            {"mean_normalized_magnitude", counted ? mag / double(counted) : 0.0},
            {"sqrt_n_over_n", rows_counted ? ideal / double(rows_counted) : 0.0}};
}

}  // namespace tern
