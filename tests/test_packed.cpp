// tests/test_packed.cpp — the packed model file (quant/packed_format.h): 2-bit weights round-trip, and the exported
// program of a quantized ResNet-20 has the structure the engine expects (BN folded, quantizers fused).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "core/kernels/conv2d.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "models/registry.h"
#include "quant/calibrate.h"
#include "quant/lsq.h"
#include "quant/packed_format.h"
#include "quant/quantize_model.h"
#include "tests/gradcheck.h"
#include "tests/temp_dir.h"

using namespace tern;

TEST_CASE("2-bit ternary packing round-trips odd lengths and rejects non-ternary values") {
    Rng rng(5);
    for (int64_t n : {1, 3, 4, 5, 17, 1001}) {
        std::vector<int8_t> codes(static_cast<size_t>(n));
        for (auto& c : codes) c = int8_t(int(rng.below(3)) - 1);
        const std::vector<uint8_t> packed = pack_ternary_2bit(codes);
        CHECK(packed.size() == size_t((n + 3) / 4));  // ≤ 2 bits per weight
        CHECK(unpack_ternary_2bit(packed, n) == codes);
    }
    // Byte layout: weight i at bits 2·(i mod 4), storing w + 1: (−1, 0, 1, 1) → 0b10'10'01'00 = 0xA4
    CHECK(pack_ternary_2bit({-1, 0, 1, 1}) == std::vector<uint8_t>{0xA4});
    CHECK_THROWS_AS(pack_ternary_2bit({2}), tern::Error);
    CHECK_THROWS_AS(unpack_ternary_2bit({0xFF}, 4), tern::Error);  // code 3 is not a ternary value
}

TEST_CASE("exporting a TGA + LSQ ResNet-20 folds BN and fuses each block's inner quantizer") {
    auto model = make_model("resnet20", 10, 0);
    QuantizeConfig qc;
    qc.method = "tga";
    attach_weight_quantizers(*model, qc);
    attach_activation_quantizers(*model, 4, false, true);
    {
        NoGradGuard ng;
        model->forward(tern::testing::uniform({4, 32, 32, 3}, -1, 1, 3));  // LSQ steps initialize
    }
    model->eval();
    tern::testing::TempDir tmp;
    export_packed(*model, tmp / "r20.safetensors", {true, "resnet20"});
    const SafetensorsFile f = read_safetensors(tmp / "r20.safetensors");
    const nlohmann::json p = nlohmann::json::parse(f.metadata.at("tern.packed"));
    int convs = 0, fused = 0, quantize = 0;
    for (const auto& op : p["ops"]) {
        if (op["op"] == "conv") ++convs, fused += op.contains("out_q");
        if (op["op"] == "quantize") ++quantize;
    }
    CHECK(convs == 19);
    CHECK(fused == 9);      // conv1 of each of the 9 blocks emits conv2's input codes directly
    CHECK(quantize == 10);  // each block input (9) and the classifier input are quantized explicitly
    // The stem reads the image in float (as trained); every other layer is ternary at 2 bits per weight.
    CHECK(p["ops"][0]["ternary"] == false);
    const NamedArray* w = f.find("layer3.2.conv2.w2");
    REQUIRE(w);
    CHECK(w->bytes.size() == size_t(64 * 64 * 9 / 4));
    CHECK(f.find("layer3.2.conv2.w5"));  // the codebook form, asked for
    CHECK(f.find("conv1.weight"));
}

#include "core/kernels/ternary_conv.h"
#include "core/ops/loss.h"
#include "optim/sgd.h"
#include "quant/packed_model.h"
#include "quant/train_step.h"

namespace {
// A ResNet-20 with TGA weights and (optionally) LSQ activations, trained a few steps on random data so that BN
// statistics, thresholds and steps are not at their initial values; then in eval mode.
std::shared_ptr<Module> small_trained_model(int act_bits, int classifier_act_bits = 0) {
    auto model = make_model("resnet20", 10, 1);
    QuantizeConfig qc;
    qc.method = "tga";
    attach_weight_quantizers(*model, qc);
    if (act_bits) attach_activation_quantizers(*model, act_bits, false, true, classifier_act_bits);
    const ParameterGroups g = group_parameters(*model);
    SGD w({{"weights", g.weights, 5e-4f}, {"no_decay", g.no_decay, 0.f}, {"act", g.act_steps, 0.f}}, {0.05f, 0.9f, false});
    SGD d({{"thresholds", g.thresholds, 0.f}}, {0.05f, 0.f, false});
    std::vector<int32_t> y(16);
    for (int i = 0; i < 16; ++i) y[size_t(i)] = i % 10;
    for (int step = 0; step < 4; ++step)
        train_step(*model, tern::testing::uniform({16, 32, 32, 3}, -2, 2, uint32_t(10 + step)), y, w, &d,
                   UpdateMode::Joint);
    model->eval();
    return model;
}

// The fake-quantized float model's logits, on the direct conv kernels: Winograd rounds differently (F(4×4) more
// than F(2×2)) and so moves more values across activation rounding boundaries (measured with A4: 8 of 64 images
// instead of 5).
Tensor fake_quantized_logits(Module& model, const Tensor& x) {
    NoGradGuard ng;
    const kernels::WinogradScope direct(false);
    return model.forward(x);
}

// Fraction of rows whose arg-max agrees, and the largest logit difference relative to the logit range.
std::pair<double, double> agreement(const Tensor& a, const Tensor& b) {
    const int64_t N = a.size(0), K = a.size(1);
    int64_t same = 0;
    double diff = 0, range = 0;
    for (int64_t n = 0; n < N; ++n) {
        const float *ra = a.data() + n * K, *rb = b.data() + n * K;
        same += (std::max_element(ra, ra + K) - ra) == (std::max_element(rb, rb + K) - rb);
        for (int64_t k = 0; k < K; ++k) diff = std::max(diff, double(std::fabs(ra[k] - rb[k]))), range = std::max(range, double(std::fabs(ra[k])));
    }
    return {double(same) / double(N), diff / range};
}
// Images (rows) whose logits differ anywhere by more than `tol` of the logit range.
int64_t images_differing(const Tensor& a, const Tensor& b, double tol) {
    const int64_t N = a.size(0), K = a.size(1);
    double range = 0;
    for (int64_t i = 0; i < N * K; ++i) range = std::max(range, double(std::fabs(a.data()[i])));
    int64_t count = 0;
    for (int64_t n = 0; n < N; ++n) {
        bool differs = false;
        for (int64_t k = 0; k < K; ++k) differs |= std::fabs(a.data()[n * K + k] - b.data()[n * K + k]) > tol * range;
        count += differs;
    }
    return count;
}
}  // namespace

TEST_CASE("packed engine reproduces the fake-quantized TGA + LSQ-A4 model (and its scalar reference equals the SIMD path)") {
    auto model = small_trained_model(4);
    tern::testing::TempDir tmp;
    export_packed(*model, tmp / "m.safetensors", {false, "resnet20"});
    PackedModel packed(tmp / "m.safetensors");
    const Tensor x = tern::testing::uniform({64, 32, 32, 3}, -2, 2, 77);
    const Tensor fake = fake_quantized_logits(*model, x);
    const Tensor fast = packed.forward(x);
    const auto [same, rel] = agreement(fake, fast);
    const int64_t differing = images_differing(fake, fast, 1e-4);
    MESSAGE("A4: same prediction on " << 100 * same << " % of 64 images, max logit difference " << rel
                                      << " of range, " << differing << " images differ by more than 1e-4 of it");
    // The engine computes in integers what the fake-quantized model computes in float; the two agree up to
    // float rounding except where a value sits on a rounding boundary of a 4-bit activation code, where the
    // rounding may pick either code (one step: several % of the logits downstream). Which values sit on a
    // boundary depends on the trained weights (measured 0–5 images as the kernels changed); a wrong engine
    // differs on nearly every image. So: at most a quarter of them.
    CHECK(same >= 0.98);
    CHECK(differing <= 16);
    CHECK(rel < 0.1);
    // The engine on the scalar reference kernels gives bit-identical logits.
    const kernels::Isa isa = kernels::active_isa();
    kernels::force_isa(kernels::Isa::Scalar);
    const Tensor ref = packed.forward(x);
    kernels::force_isa(isa);
    CHECK(ref.to_vector() == fast.to_vector());
}

TEST_CASE("A2 with an 8-bit classifier input: LSQ placement, and the packed engine agrees with the float model") {
    auto model = small_trained_model(2, 8);
    const std::vector<QuantLayer> layers = weight_layers(*model);
    REQUIRE(layers.size() == 20);
    CHECK(layers.front().layer->input_quantizer() == nullptr);  // the image stays float
    for (size_t i = 1; i < layers.size(); ++i) {
        const auto* a = dynamic_cast<const LsqQuantizer*>(layers[i].layer->input_quantizer());
        REQUIRE(a != nullptr);
        CHECK(a->bits() == (i + 1 == layers.size() ? 8 : 2));
    }
    tern::testing::TempDir tmp;
    export_packed(*model, tmp / "m.safetensors", {false, "resnet20"});
    PackedModel packed(tmp / "m.safetensors");
    const Tensor x = tern::testing::uniform({32, 32, 32, 3}, -2, 2, 78);
    const auto [same, rel] = agreement(fake_quantized_logits(*model, x), packed.forward(x));
    MESSAGE("A2 / A8 classifier: same prediction on " << 100 * same << " % of 32 images, max logit difference " << rel);
    CHECK(same >= 0.9);  // 2-bit codes: a value on a rounding boundary moves a whole quarter of the range
    CHECK(rel < 0.1);
}

TEST_CASE("packed engine with calibrated 8-bit activations stays close to the float model (BN folded)") {
    auto model = small_trained_model(0);
    attach_range_observers(*model);
    const Tensor x = tern::testing::uniform({64, 32, 32, 3}, -2, 2, 78);
    Tensor fake;
    {
        NoGradGuard ng;
        fake = model->forward(x);  // also calibrates the observers
    }
    tern::testing::TempDir tmp;
    export_packed(*model, tmp / "m.safetensors", {false, "resnet20"});
    const auto [same, rel] = agreement(fake, PackedModel(tmp / "m.safetensors").forward(x));
    MESSAGE("int8: same prediction on " << 100 * same << " % of 64 images, max logit difference " << rel << " of range");
    CHECK(same >= 0.9);
    CHECK(rel < 0.1);
}

TEST_CASE("a packed file that lies is rejected with its name") {
    tern::testing::TempDir tmp;
    SafetensorsFile f;
    f.metadata["tern.packed"] = R"({"format": "tern-packed-v1", "num_classes": 10, "input": {"channels": 3},
        "output": "v9", "ops": [{"op": "conv", "in": "nowhere", "out": "v0", "layer": "c", "ternary": true,
        "cin": 3, "cout": 4, "k": 3, "stride": 1, "pad": 1, "relu": true, "residual": ""}]})";
    write_safetensors(tmp / "bad.safetensors", f);
    CHECK_THROWS_WITH_AS(PackedModel(tmp / "bad.safetensors"), doctest::Contains("bad.safetensors"), tern::Error);
    f.metadata["tern.packed"] = "{not json";
    write_safetensors(tmp / "bad2.safetensors", f);
    CHECK_THROWS_WITH_AS(PackedModel(tmp / "bad2.safetensors"), doctest::Contains("not valid JSON"), tern::Error);
}

TEST_CASE("the fuzzing seed (a tiny hand-written packed model) loads and runs") {
    PackedModel m("tests/fuzz/corpus/fuzz_packed_model/tiny.safetensors");
    const Tensor y = m.forward(tern::testing::uniform({2, 8, 8, 3}, -1, 1, 5));
    CHECK(y.shape() == Shape{2, 10});
}
