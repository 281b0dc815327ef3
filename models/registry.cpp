// models/registry.cpp — the table of models tern can build.
#include "models/registry.h"

#include <functional>
#include <sstream>

#include "core/error.h"
#include "models/mobilenet_v2.h"
#include "models/resnet_cifar.h"
#include "models/resnet_imagenet.h"

namespace tern {

namespace {
struct Entry {
    ModelInfo info;
    std::function<std::shared_ptr<Module>(int64_t num_classes, Rng& rng)> make;
};

const std::vector<Entry>& entries() {
    static const std::vector<Entry> table = [] {
        std::vector<Entry> t;
        for (int64_t n : {3, 5, 7, 9, 18}) {
            const int64_t depth = 6 * n + 2;
            t.push_back({{"resnet" + std::to_string(depth),
                          "CIFAR ResNet-" + std::to_string(depth) + " (He et al. 2016, option-A shortcuts)", 32, 10},
                         [n](int64_t k, Rng& rng) { return std::make_shared<CifarResNet>(n, k, rng); }});
        }
        for (int64_t depth : {18, 34, 50})
            t.push_back({{"resnet" + std::to_string(depth),
                          "ImageNet ResNet-" + std::to_string(depth) + " (torchvision, option-B shortcuts)", 224,
                          1000},
                         [depth](int64_t k, Rng& rng) {
                             return std::make_shared<ResNet>(resnet_config(depth), k, rng);
                         }});
        t.push_back({{"mobilenet_v2", "ImageNet MobileNetV2 (torchvision, width 1.0)", 224, 1000},
                     [](int64_t k, Rng& rng) { return std::make_shared<MobileNetV2>(k, rng); }});
        return t;
    }();
    return table;
}
}  // namespace

std::vector<ModelInfo> list_models() {
    std::vector<ModelInfo> out;
    for (const Entry& e : entries()) out.push_back(e.info);
    return out;
}

static const Entry& find_entry(const std::string& name) {
    for (const Entry& e : entries())
        if (e.info.name == name) return e;
    std::ostringstream names;
    for (const Entry& e : entries()) names << " " << e.info.name;
    TERN_FAIL("unknown model '" << name << "'; known models:" << names.str());
}

std::shared_ptr<Module> make_model(const std::string& name, int64_t num_classes, uint64_t seed) {
    Rng rng(seed, 0x5eed);
    return find_entry(name).make(num_classes, rng);
}

ModelInfo model_info(const std::string& name) { return find_entry(name).info; }

}  // namespace tern
