// models/registry.h — build a model by name: the CIFAR ResNets ("resnet20", "resnet56", …) and torchvision's
// ImageNet models ("resnet18", "resnet34", "resnet50", "mobilenet_v2").
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace tern {

struct ModelInfo {
    std::string name;
    std::string description;
    int64_t input_size;   // images are input_size × input_size × 3
    int64_t num_classes;  // the usual number of classes: 10 (CIFAR-10) or 1000 (ImageNet)
};

std::vector<ModelInfo> list_models();
// Throws tern::Error listing the known names when `name` is unknown.
std::shared_ptr<Module> make_model(const std::string& name, int64_t num_classes, uint64_t seed = 0);
ModelInfo model_info(const std::string& name);

}  // namespace tern
