// models/mobilenet_v2.cpp — torchvision's MobileNetV2: construction, init and forward.
#include "models/mobilenet_v2.h"

#include "core/ops/clamp.h"
#include "core/ops/pool.h"
#include "layers/init.h"

namespace tern {

ConvBNReLU6::ConvBNReLU6(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t groups,
                         Rng& rng) {
    conv = std::make_shared<Conv2d>(
        Conv2dConfig{in_channels, out_channels, kernel, stride, (kernel - 1) / 2, groups}, rng);
    bn = std::make_shared<BatchNorm2d>(out_channels);
    register_module("0", conv);
    register_module("1", bn);
}

Tensor ConvBNReLU6::forward(const Tensor& x) { return relu6(bn->forward(conv->forward(x))); }

InvertedResidual::InvertedResidual(int64_t in, int64_t out, int64_t stride, int64_t t, Rng& rng)
    : use_residual(stride == 1 && in == out) {
    const int64_t hidden = in * t;
    conv = std::make_shared<Sequential>();
    if (t != 1) conv->push_back(std::make_shared<ConvBNReLU6>(in, hidden, 1, 1, 1, rng));        // expand
    conv->push_back(std::make_shared<ConvBNReLU6>(hidden, hidden, 3, stride, hidden, rng));       // depthwise
    conv->push_back(std::make_shared<Conv2d>(Conv2dConfig{hidden, out, 1, 1, 0}, rng));           // project
    conv->push_back(std::make_shared<BatchNorm2d>(out));
    register_module("conv", conv);
}

Tensor InvertedResidual::forward(const Tensor& x) {
    const Tensor y = conv->forward(x);
    return use_residual ? x + y : y;
}

MobileNetV2::MobileNetV2(int64_t num_classes, Rng& rng) {
    struct Row {
        int64_t t, c, n, s;  // expansion, output channels, blocks, stride of the first block
    };
    const Row rows[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                        {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    features = std::make_shared<Sequential>();
    features->push_back(std::make_shared<ConvBNReLU6>(3, 32, 3, 2, 1, rng));
    int64_t channels = 32;
    for (const Row& r : rows)
        for (int64_t i = 0; i < r.n; ++i) {
            features->push_back(std::make_shared<InvertedResidual>(channels, r.c, i == 0 ? r.s : 1, r.t, rng));
            channels = r.c;
        }
    features->push_back(std::make_shared<ConvBNReLU6>(channels, 1280, 1, 1, 1, rng));
    classifier = std::make_shared<Sequential>(
        std::vector<std::shared_ptr<Module>>{std::make_shared<Identity>(), std::make_shared<Linear>(1280, num_classes,
                                                                                                    true, rng)});
    register_module("features", features);
    register_module("classifier", classifier);
    // torchvision's init: convs kaiming_normal_(mode="fan_out"); the classifier N(0, 0.01²) with zero bias.
    for (auto& [name, m] : named_modules()) {
        if (auto* c = dynamic_cast<Conv2d*>(m)) kaiming_normal_(c->weight, rng, FanMode::Out);
        if (auto* l = dynamic_cast<Linear*>(m)) {
            normal_(l->weight, 0.f, 0.01f, rng);
            l->bias.fill_(0.f);
        }
    }
}

Tensor MobileNetV2::forward(const Tensor& x) {
    const Tensor h = features->forward(x);            // (N, 7, 7, 1280) for 224 × 224 input
    return classifier->forward(global_avg_pool(h));   // (N, num_classes)
}

}  // namespace tern
