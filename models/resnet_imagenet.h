// models/resnet_imagenet.h — torchvision's ImageNet ResNets (He et al. 2016, Table 1): resnet18 and resnet34
// (BasicBlock), resnet50 (Bottleneck). Parameter names and initialization are torchvision's, so a torchvision
// state dict saved as safetensors loads unchanged (models/README.md shows the export).
//
//   conv1 7×7/2, 3 → 64 (pad 3) → bn1 → relu → maxpool 3×3/2 (pad 1)                 224 → 112 → 56
//   layer1 … layer4: stages of width 64, 128, 256, 512 (×4 channels out for Bottleneck); the first block of
//                    layer2, 3, 4 has stride 2                                            56 → 28 → 14 → 7
//   avgpool (global average) → fc: Linear(512 · expansion, num_classes)
//
//   BasicBlock (expansion 1):   y = relu( bn2(conv2 3×3( relu(bn1(conv1 3×3/stride(x))) )) + shortcut(x) )
//   Bottleneck (expansion 4):   h = relu(bn1(conv1 1×1(x)));  h = relu(bn2(conv2 3×3/stride(h)))
//                               y = relu( bn3(conv3 1×1(h)) + shortcut(x) )
//     The stride sits on the 3×3 conv, not on conv1 as in the paper ("ResNet v1.5", torchvision's choice).
//   shortcut(x) = x, or — where the block changes the resolution or the width — the paper's "option B"
//     projection: downsample.0 = 1×1 conv with the block's stride, downsample.1 = BN.
//
// Init (torchvision): every conv kaiming_normal_(fan_out, relu); BN γ = 1, β = 0; fc PyTorch's Linear default.
#pragma once
#include <array>
#include <memory>

#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/simple_layers.h"

namespace tern {

class ResNetBasicBlock : public Module {
public:
    static constexpr int64_t expansion = 1;
    ResNetBasicBlock(int64_t in_channels, int64_t planes, int64_t stride, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, H, W, in_channels) → (N, H/stride, W/stride, planes)

    std::shared_ptr<Conv2d> conv1, conv2;
    std::shared_ptr<BatchNorm2d> bn1, bn2;  // bn1 has its ReLU fused
    std::shared_ptr<Sequential> downsample;  // null for the identity shortcut
};

class ResNetBottleneck : public Module {
public:
    static constexpr int64_t expansion = 4;
    ResNetBottleneck(int64_t in_channels, int64_t planes, int64_t stride, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, H, W, in_channels) → (N, H/stride, W/stride, 4·planes)

    std::shared_ptr<Conv2d> conv1, conv2, conv3;
    std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;  // bn1 and bn2 have their ReLU fused
    std::shared_ptr<Sequential> downsample;
};

struct ResNetConfig {
    bool bottleneck;                   // Bottleneck blocks (resnet50) or BasicBlocks (resnet18/34)
    std::array<int64_t, 4> blocks;     // blocks per stage: {2,2,2,2} resnet18, {3,4,6,3} resnet34 and resnet50
};
ResNetConfig resnet_config(int64_t depth);  // 18, 34 or 50

class ResNet : public Module {
public:
    ResNet(const ResNetConfig& config, int64_t num_classes, Rng& rng);
    Tensor forward(const Tensor& x) override;  // (N, H, W, 3), normally 224 × 224 → logits (N, num_classes)

    std::shared_ptr<Conv2d> conv1;
    std::shared_ptr<BatchNorm2d> bn1;  // ReLU fused
    std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
    std::shared_ptr<Linear> fc;
};

}  // namespace tern
