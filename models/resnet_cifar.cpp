// models/resnet_cifar.cpp — CIFAR ResNet construction, init (Kaiming normal, as the reference) and forward.
#include "models/resnet_cifar.h"

#include "core/ops/add_relu.h"
#include "core/ops/pool.h"
#include "core/ops/shortcut.h"
#include "layers/init.h"

namespace tern {

BasicBlock::BasicBlock(int64_t in_planes, int64_t p, int64_t s, Rng& rng)
    : planes(p), stride(s), option_a(s != 1 || in_planes != p) {
    conv1 = std::make_shared<Conv2d>(Conv2dConfig{in_planes, p, 3, s, 1}, rng);
    bn1 = std::make_shared<BatchNorm2d>(p, /*fused_relu=*/true);
    conv2 = std::make_shared<Conv2d>(Conv2dConfig{p, p, 3, 1, 1}, rng);
    bn2 = std::make_shared<BatchNorm2d>(p);
    bn1->output_consumer = conv2.get();  // relu(bn1(·)) feeds conv2 alone: an input quantizer there can be fused
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
}

Tensor BasicBlock::forward(const Tensor& x) {
    const Tensor h = bn1->forward(conv1->forward(x));           // relu(bn1(conv1(x)))
    const Tensor r = bn2->forward(conv2->forward(h));           // bn2(conv2(h))
    const Tensor shortcut = option_a ? shortcut_option_a(x, planes, stride) : x;
    return add_relu(r, shortcut);                               // relu(r + shortcut)
}

static std::shared_ptr<Sequential> make_stage(int64_t& in_planes, int64_t planes, int64_t blocks, int64_t stride,
                                              Rng& rng) {
    auto stage = std::make_shared<Sequential>();
    for (int64_t i = 0; i < blocks; ++i) {
        stage->push_back(std::make_shared<BasicBlock>(in_planes, planes, i == 0 ? stride : 1, rng));
        in_planes = planes;
    }
    return stage;
}

CifarResNet::CifarResNet(int64_t n, int64_t num_classes, Rng& rng) {
    int64_t in_planes = 16;
    conv1 = std::make_shared<Conv2d>(Conv2dConfig{3, 16, 3, 1, 1}, rng);
    bn1 = std::make_shared<BatchNorm2d>(16, /*fused_relu=*/true);
    layer1 = make_stage(in_planes, 16, n, 1, rng);
    layer2 = make_stage(in_planes, 32, n, 2, rng);
    layer3 = make_stage(in_planes, 64, n, 2, rng);
    linear = std::make_shared<Linear>(64, num_classes, true, rng);
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("layer1", layer1);
    register_module("layer2", layer2);
    register_module("layer3", layer3);
    register_module("linear", linear);
    // As the reference: Kaiming-normal (fan_in) for every conv and linear weight; BN γ = 1, β = 0.
    for (auto& [name, m] : named_modules()) {
        if (auto* c = dynamic_cast<Conv2d*>(m)) kaiming_normal_(c->weight, rng);
        if (auto* l = dynamic_cast<Linear*>(m)) kaiming_normal_(l->weight, rng);
    }
}

Tensor CifarResNet::forward(const Tensor& x) {
    Tensor h = bn1->forward(conv1->forward(x));
    h = layer3->forward(layer2->forward(layer1->forward(h)));
    return linear->forward(global_avg_pool(h));
}

}  // namespace tern
