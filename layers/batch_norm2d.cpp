// layers/batch_norm2d.cpp — BatchNorm2d parameters and forward (train or eval statistics).
#include "layers/batch_norm2d.h"

#include <vector>

#include "core/autograd.h"

namespace tern {

BatchNorm2d::BatchNorm2d(int64_t c, bool relu, float e, float m)
    : channels(c), fused_relu(relu), eps(e), momentum(m) {
    weight = Tensor::ones({c});
    bias = Tensor::zeros({c});
    running_mean = Tensor::zeros({c});
    running_var = Tensor::ones({c});
    register_parameter("weight", &weight);
    register_parameter("bias", &bias);
    register_buffer("running_mean", &running_mean);
    register_buffer("running_var", &running_var);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
    BatchNormOptions o{.training = training_, .momentum = momentum, .eps = eps, .relu = fused_relu};
    auto* quantizer = output_consumer && fuse_output_quantizer
                          ? dynamic_cast<FusableInputQuantizer*>(output_consumer->input_quantizer()) : nullptr;
    FusableInputQuantizer::Params q;
    if (quantizer && quantizer->fusion_params(x.shape(), q)) {
        o.quant_step = q.step;
        o.quant_lo = q.lo, o.quant_hi = q.hi, o.quant_grad_scale = q.grad_scale;
    } else {
        quantizer = nullptr;
    }
    Tensor y = batch_norm(x, weight, bias, running_mean, running_var, o);
    if (quantizer) quantizer->expect_quantized(y);
    return y;
}

int64_t recompute_batch_norm_statistics(Module& model, const std::function<bool(Tensor&)>& next_batch,
                                        int64_t batches) {
    std::vector<BatchNorm2d*> norms;
    for (auto& [name, m] : model.named_modules())
        if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) norms.push_back(bn);
    std::vector<float> momentum;
    for (BatchNorm2d* bn : norms) momentum.push_back(bn->momentum);
    const bool was_training = model.is_training();
    model.train(true);
    NoGradGuard no_grad;
    int64_t used = 0;
    Tensor x;
    while (used < batches && next_batch(x)) {
        ++used;
        // running ← (1 − 1/k)·running + (1/k)·batch: after k batches, the mean of the k batch statistics.
        for (BatchNorm2d* bn : norms) bn->momentum = 1.f / float(used);
        model.forward(x);
    }
    for (size_t i = 0; i < norms.size(); ++i) norms[i]->momentum = momentum[i];
    model.train(was_training);
    return used;
}

}  // namespace tern
