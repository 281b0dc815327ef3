// core/ops/shortcut.h — the "option A" residual shortcut of He et al.'s CIFAR ResNets.
#pragma once
#include "core/tensor.h"

namespace tern {

// When a block halves the resolution and doubles the channels, option A keeps the shortcut parameter-free:
// take every stride-th pixel and pad the channels with zeros, (out_channels − C)/2 on each side (as the
// pytorch_resnet_cifar10 reference: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes//4, planes//4))).
// x (N, H, W, C) → (N, ⌈H/stride⌉, ⌈W/stride⌉, out_channels)
Tensor shortcut_option_a(const Tensor& x, int64_t out_channels, int64_t stride);

}  // namespace tern
