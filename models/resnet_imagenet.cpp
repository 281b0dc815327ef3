// models/resnet_imagenet.cpp — torchvision's ResNet-18/34/50: construction, init and forward.
#include "models/resnet_imagenet.h"

#include "core/error.h"
#include "core/ops/add_relu.h"
#include "core/ops/pool.h"
#include "layers/init.h"

namespace tern {

// The "option B" shortcut when a block changes the resolution or the width, else null (identity):
// Sequential(conv 1×1/stride, BN), named downsample.0 and downsample.1 as torchvision.
static std::shared_ptr<Sequential> make_downsample(int64_t in_channels, int64_t out_channels, int64_t stride,
                                                   Rng& rng) {
    if (stride == 1 && in_channels == out_channels) return nullptr;
    return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
        std::make_shared<Conv2d>(Conv2dConfig{in_channels, out_channels, 1, stride, 0}, rng),
        std::make_shared<BatchNorm2d>(out_channels)});
}

ResNetBasicBlock::ResNetBasicBlock(int64_t in_channels, int64_t planes, int64_t stride, Rng& rng) {
    conv1 = std::make_shared<Conv2d>(Conv2dConfig{in_channels, planes, 3, stride, 1}, rng);
    bn1 = std::make_shared<BatchNorm2d>(planes, /*fused_relu=*/true);
    conv2 = std::make_shared<Conv2d>(Conv2dConfig{planes, planes, 3, 1, 1}, rng);
    bn2 = std::make_shared<BatchNorm2d>(planes);
    downsample = make_downsample(in_channels, planes * expansion, stride, rng);
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    if (downsample) register_module("downsample", downsample);
}

Tensor ResNetBasicBlock::forward(const Tensor& x) {
    const Tensor h = bn1->forward(conv1->forward(x));  // relu(bn1(conv1(x)))
    const Tensor r = bn2->forward(conv2->forward(h));  // bn2(conv2(h))
    return add_relu(r, downsample ? downsample->forward(x) : x);
}

ResNetBottleneck::ResNetBottleneck(int64_t in_channels, int64_t planes, int64_t stride, Rng& rng) {
    conv1 = std::make_shared<Conv2d>(Conv2dConfig{in_channels, planes, 1, 1, 0}, rng);
    bn1 = std::make_shared<BatchNorm2d>(planes, /*fused_relu=*/true);
    conv2 = std::make_shared<Conv2d>(Conv2dConfig{planes, planes, 3, stride, 1}, rng);
    bn2 = std::make_shared<BatchNorm2d>(planes, /*fused_relu=*/true);
    conv3 = std::make_shared<Conv2d>(Conv2dConfig{planes, planes * expansion, 1, 1, 0}, rng);
    bn3 = std::make_shared<BatchNorm2d>(planes * expansion);
    downsample = make_downsample(in_channels, planes * expansion, stride, rng);
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    register_module("conv3", conv3);
    register_module("bn3", bn3);
    if (downsample) register_module("downsample", downsample);
}

Tensor ResNetBottleneck::forward(const Tensor& x) {
    Tensor h = bn1->forward(conv1->forward(x));        // relu(bn1(conv1 1×1(x)))        (N, H, W, planes)
    h = bn2->forward(conv2->forward(h));               // relu(bn2(conv2 3×3/s(h)))      (N, H/s, W/s, planes)
    const Tensor r = bn3->forward(conv3->forward(h));  // bn3(conv3 1×1(h))              (N, H/s, W/s, 4·planes)
    return add_relu(r, downsample ? downsample->forward(x) : x);
}

ResNetConfig resnet_config(int64_t depth) {
    switch (depth) {
        case 18: return {false, {2, 2, 2, 2}};
        case 34: return {false, {3, 4, 6, 3}};
        case 50: return {true, {3, 4, 6, 3}};
        default: TERN_FAIL("resnet_config: no ImageNet ResNet of depth " << depth << " (18, 34 or 50)");
    }
}

// One stage: `blocks` blocks of width `planes`, the first with `stride`. in_channels is updated to the
// stage's output width.
template <class Block>
static std::shared_ptr<Sequential> make_stage(int64_t& in_channels, int64_t planes, int64_t blocks, int64_t stride,
                                              Rng& rng) {
    auto stage = std::make_shared<Sequential>();
    for (int64_t i = 0; i < blocks; ++i) {
        stage->push_back(std::make_shared<Block>(in_channels, planes, i == 0 ? stride : 1, rng));
        in_channels = planes * Block::expansion;
    }
    return stage;
}

ResNet::ResNet(const ResNetConfig& config, int64_t num_classes, Rng& rng) {
    conv1 = std::make_shared<Conv2d>(Conv2dConfig{3, 64, 7, 2, 3}, rng);
    bn1 = std::make_shared<BatchNorm2d>(64, /*fused_relu=*/true);
    int64_t channels = 64;
    const auto& b = config.blocks;
    auto stage = config.bottleneck ? make_stage<ResNetBottleneck> : make_stage<ResNetBasicBlock>;
    layer1 = stage(channels, 64, b[0], 1, rng);
    layer2 = stage(channels, 128, b[1], 2, rng);
    layer3 = stage(channels, 256, b[2], 2, rng);
    layer4 = stage(channels, 512, b[3], 2, rng);
    fc = std::make_shared<Linear>(channels, num_classes, true, rng);  // PyTorch's default init, kept
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("layer1", layer1);
    register_module("layer2", layer2);
    register_module("layer3", layer3);
    register_module("layer4", layer4);
    register_module("fc", fc);
    // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") for every conv; BN is already γ = 1, β = 0.
    for (auto& [name, m] : named_modules())
        if (auto* c = dynamic_cast<Conv2d*>(m)) kaiming_normal_(c->weight, rng, FanMode::Out);
}

Tensor ResNet::forward(const Tensor& x) {
    Tensor h = bn1->forward(conv1->forward(x));                    // (N, 112, 112, 64) for 224 × 224 input
    h = max_pool2d(h, {.kernel = 3, .stride = 2, .padding = 1});   // (N, 56, 56, 64)
    h = layer4->forward(layer3->forward(layer2->forward(layer1->forward(h))));  // (N, 7, 7, 512 · expansion)
    return fc->forward(global_avg_pool(h));                        // (N, num_classes)
}

}  // namespace tern
