// core/ops/conv2d.h — 2-D convolution as an autograd op (kernels in core/kernels/conv2d.h).
#pragma once
#include "core/tensor.h"

namespace tern {

struct Conv2dOptions {
    int64_t stride = 1;
    int64_t padding = 0;
    int64_t groups = 1;
};

// x (N, H, W, C), weight (OC, C / groups, KH, KW), bias (OC) or undefined → y (N, OH, OW, OC).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Conv2dOptions options = {});

}  // namespace tern
