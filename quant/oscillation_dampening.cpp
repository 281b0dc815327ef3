// quant/oscillation_dampening.cpp — Nagel et al.'s oscillation dampening for the ternary weight quantizers.
#include "quant/oscillation_dampening.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"

namespace tern {

Tensor oscillation_dampening_loss(const std::vector<QuantLayer>& layers, float lambda) {
    Tensor total;
    bool any_quantizer = false;
    for (const QuantLayer& l : layers) {
        if (!l.quantizer) continue;
        any_quantizer = true;
        // q(w) in w's units (weight_quantizer.h): S·Tern(w) for TGA (Eq. 2), α·Tern(w) for TWN, Quant(w, Δ)·a
        // for PTQ's stage 3 (ptq.cpp); computed without a graph — the sg() above.
        const Tensor target = l.quantizer->dampening_target(l.weight);
        if (!target.defined()) continue;                     // PTQ before stage 3: no codes to oscillate
        const Tensor d = sub(l.weight, target);              // w − sg(q(w))
        const Tensor term = sum(mul(d, d));                  // Σ (w − q(w))²
        total = total.defined() ? add(total, term) : term;
    }
    TERN_CHECK(any_quantizer, "oscillation dampening: the model has no quantized layer");
    if (!total.defined()) return Tensor::scalar(0.f);  // nothing ternary yet
    return mul(total, lambda);
}

float dampening_weight(const std::string& schedule, float lambda_max, double progress) {
    TERN_CHECK(lambda_max >= 0 && std::isfinite(lambda_max), "the dampening weight must be ≥ 0, got " << lambda_max);
    const double t = progress < 0 ? 0 : (progress > 1 ? 1 : progress);
    if (schedule == "constant") return lambda_max;
    TERN_CHECK(schedule == "cosine", "unknown dampening schedule '" << schedule << "' (cosine | constant)");
    return float(lambda_max * (1 - std::cos(M_PI * t)) / 2);
}

int64_t count_code_changes(const Tensor& before, const Tensor& after) {
    TERN_CHECK(before.shape() == after.shape(), "count_code_changes: the two snapshots differ in shape");
    const Tensor a = contiguous_data(before), b = contiguous_data(after);
    int64_t changed = 0;
    for (int64_t i = 0, n = a.numel(); i < n; ++i) changed += a.data()[i] != b.data()[i];
    return changed;
}

}  // namespace tern
