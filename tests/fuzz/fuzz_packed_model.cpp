// tests/fuzz/fuzz_packed_model.cpp — libFuzzer harness for the packed-model reader and engine
// (quant/packed_model.h). The input is a whole file: loading must succeed or throw a tern::Error; a file that
// loads must run forward on one image without any other failure (small programs only, so that the fuzzer is
// not spending its time on a legitimately large model). Build and run: make fuzz SECS=60.
#include <cstdint>

#include "core/error.h"
#include "quant/packed_model.h"

using namespace tern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        PackedModel model(data, size, "fuzz.safetensors");
        const auto& in = model.program().at("input");
        const int64_t h = in.at("height"), w = in.at("width"), c = in.at("channels");
        if (h * w * c > 64 * 64 * 3 || model.largest_value() > (int64_t(1) << 20)) return 0;
        model.forward(Tensor::zeros({1, h, w, c}));
    } catch (const Error&) {
    }
    return 0;
}
