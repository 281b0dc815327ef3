// models/mobilenet_v2.h — torchvision's MobileNetV2 (Sandler et al. 2018, Table 2; width 1.0), with torchvision's
// parameter names and initialization, so a torchvision state dict saved as safetensors loads unchanged.
//
//   features.0       ConvBNReLU6 3×3/2, 3 → 32                                              224 → 112
//   features.1 … 17  InvertedResidual blocks. Per row (t, c, n, s) of the paper's table — (1, 16, 1, 1),
//                    (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1) —
//                    n blocks with c output channels and expansion t, the first of them with stride s   112 → 7
//   features.18      ConvBNReLU6 1×1, 320 → 1280
//   global average pool → classifier.1: Linear(1280, num_classes)
//     classifier.0 is Dropout(0.2) in torchvision. tern evaluates MobileNetV2 and does not train it, so an
//     Identity holds that place (training this model here would train it without dropout).
//
//   InvertedResidual(in, out, stride, t), hidden = t·in channels, in torchvision's numbering:
//     conv.0  ConvBNReLU6 1×1, in → hidden    "expand" (absent when t = 1, and the indices below shift down by 1)
//     conv.1  ConvBNReLU6 3×3/stride, depthwise (groups = hidden)
//     conv.2  Conv2d 1×1, hidden → out         "project": linear, no activation (the paper's "linear bottleneck")
//     conv.3  BatchNorm2d(out)
//     y = x + conv(x) when stride = 1 and in = out, else conv(x)
//
// Init (torchvision): convs kaiming_normal_(fan_out); BN γ = 1, β = 0; the classifier N(0, 0.01²), bias 0.
#pragma once
#include <memory>

#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/simple_layers.h"

namespace tern {

// relu6(bn(conv(x))): torchvision's Conv2dNormActivation, whose children are named "0" (conv) and "1" (BN);
// its ReLU6 ("2") has no parameters. Padding (kernel − 1)/2 keeps the size at stride 1.
class ConvBNReLU6 : public Module {
public:
    ConvBNReLU6(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t groups, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, H, W, in) → (N, H/stride, W/stride, out)

    std::shared_ptr<Conv2d> conv;
    std::shared_ptr<BatchNorm2d> bn;
};

class InvertedResidual : public Module {
public:
    InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expand_ratio, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, H, W, in) → (N, H/stride, W/stride, out)

    std::shared_ptr<Sequential> conv;  // [expand,] depthwise, project conv, project BN
    bool use_residual;
};

class MobileNetV2 : public Module {
public:
    MobileNetV2(int64_t num_classes, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, H, W, 3), normally 224 × 224 → logits (N, num_classes)

    std::shared_ptr<Sequential> features;    // features.0 … features.18
    std::shared_ptr<Sequential> classifier;  // classifier.0 Identity (Dropout in torchvision), classifier.1 Linear
};

}  // namespace tern
