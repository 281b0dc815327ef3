// layers/batch_norm2d.h — BatchNorm2d (and, on (N, C) input, BatchNorm1d): γ, β and running statistics.
#pragma once
#include <functional>

#include "core/ops/batch_norm.h"
#include "layers/module.h"
#include "layers/quantizable.h"

namespace tern {

class BatchNorm2d : public Module {
public:
    // fused_relu: forward returns max(bn(x), 0) in one pass (the usual "BN then ReLU" of a ResNet).
    explicit BatchNorm2d(int64_t channels, bool fused_relu = false, float eps = 1e-5f, float momentum = 0.1f);
    Tensor forward(const Tensor& x) override;  // x (..., C)

    int64_t channels;
    bool fused_relu;
    // The one layer that reads this layer's output, set by the model that wires them (a ResNet block's bn1 →
    // conv2), or null. When that layer's input quantizer can be fused (FusableInputQuantizer, e.g. LSQ), forward
    // returns the quantized output and the quantizer passes it through: one pass over the activation instead of
    // three, and one tensor fewer. Only valid if nothing else reads the output. `fuse_output_quantizer` = false
    // keeps the two apart (the same numbers: tests/test_lsq.cpp compares them).
    QuantizableLayer* output_consumer = nullptr;
    bool fuse_output_quantizer = true;
    float eps, momentum;
    Tensor weight, bias;                // γ = 1, β = 0 at init
    Tensor running_mean, running_var;   // 0 and 1 at init
};

// "Precise BN" (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021): replaces every BatchNorm2d's running
// statistics in `model` by the plain average of the batch statistics over `batches` batches, which `next_batch`
// fills (returns false when out of data). The exponential average kept during training weights the last ~10
// batches most and lags the weights, which moved while it was collected; this one is taken with the final weights.
// Runs forward in training mode without recording gradients, then restores each module's mode and momentum.
// Returns the number of batches used.
int64_t recompute_batch_norm_statistics(Module& model, const std::function<bool(Tensor&)>& next_batch,
                                        int64_t batches);

}  // namespace tern
