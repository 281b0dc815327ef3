// quant/lsq.h — Learned Step Size Quantization of activations (Esser et al., ICLR 2020), as PTQ uses it
// (PTQ Section 4.4, Eq. 26; Table 2).
//
//   v̄ = round(clip(v/s, −Q_N, Q_P)),   v̂ = v̄·s                                   (the layer computes with v̂)
//   unsigned (after a ReLU):   Q_N = 0,         Q_P = 2^k − 1
//   signed:                    Q_N = 2^(k−1),   Q_P = 2^(k−1) − 1
// PTQ's Eq. (26) prints the unsigned range as [0, 2^(k−1) − 1], which wastes half the levels of a k-bit code;
// LSQ itself (and any integer engine) uses all 2^k levels for non-negative data, so we use Q_P = 2^k − 1.
//
// Backward (LSQ Eq. 3–5):
//   ∂v̂/∂v = 1 for −Q_N < v/s < Q_P, else 0                                (straight through inside the range)
//   ∂v̂/∂s = −v/s + round(v/s) inside;  −Q_N below;  Q_P above
//   the step's gradient is scaled by g = 1/√(N·Q_P), N = the number of elements of one sample's activation (LSQ's
//   "number of features"; our reading: the per-sample tensor size, H·W·C for a conv input, C for a linear one).
// Init: s = 2·mean|v|/√Q_P on the first batch seen (LSQ Section 2.1), and again after set_bits(). No weight decay on s.
// Signedness is decided on that first batch too: signed if it holds a negative value (the image, a residual
// sum), unsigned otherwise (everything after a ReLU). round() is round-half-to-even, as torch.round.
// The bit width is a buffer too ("bits"), so a checkpoint records it: loading the state of a k-bit quantizer into
// an m-bit one is an error (check_bits(), called by forward) instead of a silent requantization of s.
// Fusable: the batch norm that produces the input can quantize in its own passes (layers/quantizable.h); the
// numbers are the same (the element formulas are shared: core/kernels/fake_quantize.h).
#pragma once
#include <nlohmann/json.hpp>

#include "layers/module.h"
#include "layers/quantizable.h"

namespace tern {

class LsqQuantizer : public Module, public FusableInputQuantizer {
public:
    explicit LsqQuantizer(int bits);
    Tensor forward(const Tensor& v) override;  // v̂, same shape; initializes on the first call

    bool fusion_params(const Shape& input_shape, Params& params) override;  // once on and initialized
    void expect_quantized(const Tensor& y) override { fused_output_ = y; }

    bool initialized() const { return signed_.item() != 0.f; }
    bool is_signed() const { return signed_.item() > 0.f; }
    int bits() const { return bits_; }
    int loaded_bits() const { return int(bits_buffer_.item()); }  // the width the loaded state was trained with
    void check_bits() const;  // throws if a loaded state's width differs from bits()
    // Changes the width in the middle of training (train_cifar --act-warmup-bits: A4 first, then A2). The step is
    // re-initialized from the next batch by LSQ's rule for the new width, as a fresh quantizer would be: the
    // learned 4-bit step says where 15 levels belong, not where 3 do (LSQ's init puts the 2-bit clip point
    // 3·s₂ at 0.45× the 4-bit one, 15·s₄). The caller drops s's momentum (SGD::reset_state(s)).
    bool set_bits(int bits);  // false (and nothing touched) if the quantizer already has this width
    int qn() const { return is_signed() ? 1 << (bits_ - 1) : 0; }
    int qp() const { return is_signed() ? (1 << (bits_ - 1)) - 1 : (1 << bits_) - 1; }
    float step() const { return s.item(); }
    nlohmann::json stats() const;

    Tensor s;  // (1,), the learned step
    // Off: forward is the identity (and s is left alone, uninitialized until the first call while on). A recipe
    // can train with full-precision activations first and switch LSQ on later (train_cifar --act-start-epoch).
    bool enabled = true;

private:
    int bits_;
    Tensor signed_;  // (1,): 0 before init, +1 signed, −1 unsigned — a buffer, so checkpoints keep it
    Tensor bits_buffer_;  // (1,): bits_, saved with the state; overwritten by a loaded state (then checked)
    Tensor fused_output_;  // the producer's already quantized output, expected as the next input
    double grad_scale(const Shape& input_shape) const;  // g = 1/√(N·Q_P)
};

}  // namespace tern
