// layers/simple_layers.h — the parameter-free layers: Identity, ReLU, pooling, Flatten, and the Sequential
// container.
#pragma once
#include <memory>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/pool.h"
#include "core/ops/shape_ops.h"
#include "layers/module.h"

namespace tern {

// y = x. Holds the place of a layer that does nothing at inference, so that the layers after it keep their
// torchvision index (MobileNetV2's classifier.0 is Dropout; its Linear is classifier.1).
class Identity : public Module {
public:
    Tensor forward(const Tensor& x) override { return x; }
};

class ReLU : public Module {
public:
    Tensor forward(const Tensor& x) override { return relu(x); }
};

class MaxPool2d : public Module {
public:
    explicit MaxPool2d(Pool2dOptions o) : options(o) {}
    Tensor forward(const Tensor& x) override { return max_pool2d(x, options); }
    Pool2dOptions options;
};

class AvgPool2d : public Module {
public:
    explicit AvgPool2d(Pool2dOptions o) : options(o) {}
    Tensor forward(const Tensor& x) override { return avg_pool2d(x, options); }
    Pool2dOptions options;
};

// (N, H, W, C) → (N, C)
class GlobalAvgPool : public Module {
public:
    Tensor forward(const Tensor& x) override { return global_avg_pool(x); }
};

// (N, d1, d2, …) → (N, d1·d2·…)
class Flatten : public Module {
public:
    Tensor forward(const Tensor& x) override { return flatten(x, 1); }
};

// Applies its children in order; they are named "0", "1", … as in torch.nn.Sequential.
class Sequential : public Module {
public:
    Sequential() = default;
    explicit Sequential(std::vector<std::shared_ptr<Module>> modules) {
        for (auto& m : modules) push_back(std::move(m));
    }
    void push_back(std::shared_ptr<Module> m) {
        register_module(std::to_string(layers.size()), m);
        layers.push_back(std::move(m));
    }
    Tensor forward(const Tensor& x) override {
        Tensor y = x;
        for (auto& m : layers) y = m->forward(y);
        return y;
    }
    std::vector<std::shared_ptr<Module>> layers;
};

}  // namespace tern
