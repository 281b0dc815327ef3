// tests/test_packed.cpp — the packed model file (quant/packed_format.h): 2-bit weights round-trip, and the exported
// program of a quantized ResNet-20 has the structure the engine expects (BN folded, quantizers fused).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "models/registry.h"
#include "quant/calibrate.h"
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
