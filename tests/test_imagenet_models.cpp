// tests/test_imagenet_models.cpp — torchvision's resnet18/34/50 and mobilenet_v2 rebuilt in tern: parameter
// counts, every state-dict key and shape, and the forward pass against PyTorch's logits.
// The fixtures come from tests/data/make_imagenet_model_fixtures.py (torchvision 0.14):
//   torchvision_state_dicts.txt  "<model> <key> <shape>" for every entry of each model's state_dict()
//   imagenet_models_logits.txt   "<model> <image> <10 logits>" for models whose every parameter and buffer is set
//                                by the formula below (no random generator: Python and C++ compute the same
//                                numbers), run in eval mode on a formula-set 2×57×49 input
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/autograd.h"
#include "core/safetensors.h"
#include "models/registry.h"

using namespace tern;
namespace fs = std::filesystem;

namespace {

const char* const kModels[] = {"resnet18", "resnet34", "resnet50", "mobilenet_v2"};

// model → key → shape, from torchvision_state_dicts.txt (a scalar, shape "-", is the empty Shape).
std::map<std::string, std::map<std::string, Shape>> torchvision_state_dicts() {
    std::ifstream f("tests/data/torchvision_state_dicts.txt");
    REQUIRE(f);
    std::map<std::string, std::map<std::string, Shape>> out;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream is(line);
        std::string model, key, dims;
        is >> model >> key >> dims;
        Shape shape;
        if (dims != "-") {
            std::istringstream ds(dims);
            for (std::string d; std::getline(ds, d, 'x');) shape.push_back(std::stoll(d));
        }
        out[model][key] = shape;
    }
    return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---- the formula of make_imagenet_model_fixtures.py ----
// u(k, i) ∈ [0, 1): a 32-bit integer hash ("lowbias32") of tensor number k and element index i.
uint32_t mix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    h ^= h >> 16;
    return h;
}
double u(uint32_t k, uint64_t i) { return mix32(uint32_t(i) * 0x9E3779B1u + k * 0x85EBCA77u) / 4294967296.0; }

// Tensor k (its rank among the state-dict names) by the kind of tensor it is: weights He-uniform,
// BN γ ∈ [0.5, 1), β / biases / running means ∈ [−0.2, 0.2), running variances ∈ [0.5, 1.5).
void set_by_formula(const std::string& name, const Tensor& t, uint32_t k) {
    float* p = t.data();
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) {
        const double v = u(k, uint64_t(i));
        double value;
        if (t.dim() >= 2) value = (2 * v - 1) * std::sqrt(6.0 / double(n / t.size(0)));  // fan_in = n / out
        else if (ends_with(name, "running_var")) value = 0.5 + v;
        else if (ends_with(name, "running_mean") || ends_with(name, "bias")) value = 0.2 * (2 * v - 1);
        else value = 0.5 + 0.5 * v;  // BN γ
        p[i] = float(value);
    }
}

// The formula input: element (n, c, h, w) of PyTorch's NCHW tensor is 4(2u − 1) with k = 1000 and i its NCHW
// flat index; tern holds the same numbers in NHWC.
Tensor formula_input(int64_t N, int64_t H, int64_t W) {
    Tensor x = Tensor::empty({N, H, W, 3});
    for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w)
                for (int64_t c = 0; c < 3; ++c) {
                    const uint64_t nchw = uint64_t(((n * 3 + c) * H + h) * W + w);
                    x.data()[((n * H + h) * W + w) * 3 + c] = float(4.0 * (2 * u(1000, nchw) - 1));
                }
    return x;
}

// model → rows of logits, from imagenet_models_logits.txt
std::map<std::string, std::vector<std::vector<float>>> pytorch_logits() {
    std::ifstream f("tests/data/imagenet_models_logits.txt");
    REQUIRE(f);
    std::map<std::string, std::vector<std::vector<float>>> out;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream is(line);
        std::string model;
        int image;
        is >> model >> image;
        std::vector<float> row;
        for (float v; is >> v;) row.push_back(v);
        out[model].push_back(row);
    }
    return out;
}

// Names a reader can check against torchvision's code, with the reason each one is what it is.
struct SpotCheck {
    const char* model;
    const char* key;
    Shape shape;  // empty: the key must NOT exist
};
const SpotCheck kSpotChecks[] = {
    // ResNet-18: BasicBlocks; only the first block of layer2–4 has a downsample (stride 2, width doubles).
    {"resnet18", "conv1.weight", {64, 3, 7, 7}},
    {"resnet18", "layer1.1.conv2.weight", {64, 64, 3, 3}},
    {"resnet18", "layer1.0.downsample.0.weight", {}},
    {"resnet18", "layer2.0.downsample.0.weight", {128, 64, 1, 1}},
    {"resnet18", "layer4.0.downsample.1.running_var", {512}},
    {"resnet18", "fc.weight", {1000, 512}},
    // ResNet-34: the same blocks, 3-4-6-3 of them.
    {"resnet34", "layer3.5.conv2.weight", {256, 256, 3, 3}},
    {"resnet34", "layer3.6.conv2.weight", {}},
    // ResNet-50: Bottlenecks (1×1, 3×3, 1×1 to 4× width); layer1.0 needs a downsample (64 → 256 channels)
    // although its stride is 1; the stride-2 blocks put it on conv2, the 3×3.
    {"resnet50", "layer1.0.downsample.0.weight", {256, 64, 1, 1}},
    {"resnet50", "layer3.5.conv3.weight", {1024, 256, 1, 1}},
    {"resnet50", "layer4.0.conv2.weight", {512, 512, 3, 3}},
    {"resnet50", "fc.weight", {1000, 2048}},
    // MobileNetV2: features.1 has no expand conv (t = 1), so its depthwise conv is conv.0 and its projection
    // conv.1; from features.2 on, conv.0 expands, conv.1 is depthwise, conv.2 projects, conv.3 is its BN.
    {"mobilenet_v2", "features.0.0.weight", {32, 3, 3, 3}},
    {"mobilenet_v2", "features.1.conv.0.0.weight", {32, 1, 3, 3}},
    {"mobilenet_v2", "features.1.conv.1.weight", {16, 32, 1, 1}},
    {"mobilenet_v2", "features.1.conv.3.weight", {}},
    {"mobilenet_v2", "features.2.conv.0.0.weight", {96, 16, 1, 1}},
    {"mobilenet_v2", "features.2.conv.1.0.weight", {96, 1, 3, 3}},
    {"mobilenet_v2", "features.17.conv.3.running_mean", {320}},
    {"mobilenet_v2", "features.18.0.weight", {1280, 320, 1, 1}},
    {"mobilenet_v2", "classifier.1.weight", {1000, 1280}},
    {"mobilenet_v2", "classifier.0.weight", {}},
};

}  // namespace

TEST_CASE("the ImageNet models have torchvision's parameter counts, keys and shapes") {
    const std::map<std::string, int64_t> parameters = {  // sum(p.numel() for p in model.parameters())
        {"resnet18", 11'689'512}, {"resnet34", 21'797'672}, {"resnet50", 25'557'032}, {"mobilenet_v2", 3'504'872}};
    const auto torchvision = torchvision_state_dicts();
    for (const char* name : kModels) {
        INFO(name);
        CHECK(model_info(name).input_size == 224);
        CHECK(model_info(name).num_classes == 1000);
        const auto model = make_model(name, 1000);
        int64_t count = 0;
        for (const auto& [key, p] : model->named_parameters()) count += p.numel();
        CHECK(count == parameters.at(name));

        const auto mine = model->state_dict();
        for (const SpotCheck& c : kSpotChecks) {
            if (c.model != std::string(name)) continue;
            INFO("spot check " << c.key);
            if (c.shape.empty()) CHECK(mine.count(c.key) == 0);
            else CHECK((mine.count(c.key) && mine.at(c.key).shape() == c.shape));
        }

        // Every torchvision key with its shape, and nothing else. torchvision's BN also stores
        // num_batches_tracked (a counter only used when momentum = None); tern does not keep it, and
        // load_state_dict ignores it.
        REQUIRE(torchvision.count(name));
        for (const auto& [key, shape] : torchvision.at(name)) {
            if (ends_with(key, ".num_batches_tracked")) continue;
            INFO("torchvision key " << key);
            REQUIRE(mine.count(key));
            CHECK(mine.at(key).shape() == shape);
        }
        for (const auto& [key, t] : mine) {
            INFO("tern key " << key);
            CHECK(torchvision.at(name).count(key));
        }
    }
}

TEST_CASE("the ImageNet models compute PyTorch's logits") {
    // Input 2 × 57 × 49: height ≠ width catches a transposed layout, and two images catch mixing across the
    // batch. Tolerance: every logit within 1e-3 · (largest |logit| of its image) of PyTorch's (float32 sums
    // in a different order differ by ~1e-6 relative).
    const auto expected = pytorch_logits();
    const Tensor x = formula_input(2, 57, 49);
    for (const char* name : kModels) {
        INFO(name);
        const auto model = make_model(name, 10);
        uint32_t k = 0;
        for (const auto& [key, t] : model->state_dict()) set_by_formula(key, t, k++);  // sorted by name
        model->eval();
        NoGradGuard no_grad;
        const Tensor y = model->forward(x);
        REQUIRE(y.shape() == Shape{2, 10});
        const auto& rows = expected.at(name);
        REQUIRE(rows.size() == 2);
        for (int64_t n = 0; n < 2; ++n) {
            double scale = 0, worst = 0;
            for (int64_t j = 0; j < 10; ++j) scale = std::max(scale, std::fabs(double(rows[n][j])));
            for (int64_t j = 0; j < 10; ++j) worst = std::max(worst, std::fabs(y.at({n, j}) - double(rows[n][j])));
            INFO("image " << n << ": largest |tern − PyTorch| = " << worst << ", largest |logit| = " << scale);
            CHECK(worst <= 1e-3 * scale);
        }
    }
}

TEST_CASE("a model saved with save_tensors loads back into an identical model") {
    const fs::path path = fs::temp_directory_path() / ("tern_test_mobilenet_" + std::to_string(getpid()) +
                                                       ".safetensors");
    const auto a = make_model("mobilenet_v2", 10, /*seed=*/1), b = make_model("mobilenet_v2", 10, /*seed=*/2);
    save_tensors(path.string(), a->state_dict(), {{"arch", "mobilenet_v2"}});
    const LoadReport report = b->load_state_dict(load_tensors(path.string()));
    fs::remove(path);
    CHECK(report.ok());
    a->eval();
    b->eval();
    NoGradGuard no_grad;
    const Tensor x = formula_input(1, 32, 32);
    CHECK(a->forward(x).to_vector() == b->forward(x).to_vector());
}
