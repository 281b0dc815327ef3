// models/resnet_cifar.h — the CIFAR ResNets of He et al. 2016 (Section 4.2): 6n + 2 layers.
//
//   conv 3×3, 16 → [BasicBlock ×n, 16 ch, 32×32] → [×n, 32 ch, 16×16] → [×n, 64 ch, 8×8] → global avg pool → linear
//   BasicBlock:  y = relu( bn2(conv2( relu(bn1(conv1(x))) )) + shortcut(x) )
//   shortcut:    identity, or "option A" when the block halves the resolution (stride 2 subsample + zero
//                channel padding, no parameters) — see core/ops/shortcut.h
// n = 3, 5, 7, 9, 18 gives resnet20/32/44/56/110. Parameter names match the pytorch_resnet_cifar10 project
// (conv1, bn1, layer1.0.conv1, …, linear), so its checkpoints (../shared/data/weights) load unchanged.
#pragma once
#include <memory>

#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/simple_layers.h"

namespace tern {

class BasicBlock : public Module {
public:
    BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, H, W, in_planes) → (N, H/stride, W/stride, planes)

    std::shared_ptr<Conv2d> conv1, conv2;
    std::shared_ptr<BatchNorm2d> bn1, bn2;  // bn1 has its ReLU fused
    int64_t planes, stride;
    bool option_a;  // does the shortcut subsample and pad?
};

class CifarResNet : public Module {
public:
    CifarResNet(int64_t blocks_per_stage, int64_t num_classes, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, 32, 32, 3) → logits (N, num_classes)

    std::shared_ptr<Conv2d> conv1;
    std::shared_ptr<BatchNorm2d> bn1;
    std::shared_ptr<Sequential> layer1, layer2, layer3;
    std::shared_ptr<Linear> linear;
};

}  // namespace tern
