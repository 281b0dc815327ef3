// core/ops/batch_norm.h — batch normalization over the channel (last) dimension, optionally fused with ReLU.
#pragma once
#include "core/tensor.h"

namespace tern {

struct BatchNormOptions {
    bool training = true;   // batch statistics (and update the running ones) vs the running statistics
    float momentum = 0.1f;  // running = (1 − momentum)·running + momentum·batch   (PyTorch's convention)
    float eps = 1e-5f;
    bool relu = false;      // y = max(bn(x), 0), fused: one pass instead of two, one tensor fewer
    // Fused fake quantization of the output (LSQ, quant/lsq.h — the next layer's activation quantizer, applied in
    // this op's passes instead of two of its own): when `quant_step` (a (1,) tensor, the learned step s) is
    // defined, ŷ = round(clamp(y/s, quant_lo, quant_hi))·s; backward straight through inside (lo, hi), and
    // ∂L/∂s = quant_grad_scale · Σ ∂L/∂ŷ · ∂ŷ/∂s (core/kernels/fake_quantize.h).
    Tensor quant_step = Tensor();
    float quant_lo = 0.f, quant_hi = 0.f, quant_grad_scale = 1.f;
};

// x (..., C): every element of channel c is normalized with that channel's statistics over all other
// dimensions (N, H, W for images; N for (N, C) features).
//   training: y = γ (x − μ_B) / √(σ²_B + ε) + β, with μ_B, σ²_B (biased) over the batch; then
//             running_mean ← (1−m)·running_mean + m·μ_B, running_var ← (1−m)·running_var + m·σ²_B·M/(M−1)
//             (unbiased, as PyTorch), M = elements per channel.
//   eval:     y = γ (x − running_mean) / √(running_var + ε) + β
// gamma/beta may be undefined (affine = false). running_mean/var are updated in place when training.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, BatchNormOptions options = {});

}  // namespace tern
