// core/ops/pool.h — pooling over NHWC images: max, average, and global average.
#pragma once
#include "core/tensor.h"

namespace tern {

struct Pool2dOptions {
    int64_t kernel = 2;
    int64_t stride = 0;       // 0 means stride = kernel (PyTorch's default)
    int64_t padding = 0;
    bool count_include_pad = true;  // avg_pool2d: divide by k² even where the window covers padding (PyTorch default)
};

// x (N, H, W, C) → (N, OH, OW, C), OH = (H + 2p − k) / s + 1. Max-pool padding reads as −∞.
Tensor max_pool2d(const Tensor& x, Pool2dOptions options);
Tensor avg_pool2d(const Tensor& x, Pool2dOptions options);
// x (N, H, W, C) → (N, C): the mean over all pixels.
Tensor global_avg_pool(const Tensor& x);

}  // namespace tern
