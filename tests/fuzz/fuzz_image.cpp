// tests/fuzz/fuzz_image.cpp — libFuzzer harness for image decoding and the ImageNet eval preprocessing
// (data/image.h): decode_image from memory (stb_image behind tern's checks), then eval_transform (resize the
// shorter side, centre-crop, normalize). Each must succeed or throw a tern::Error.
//
// Input: one byte that picks the transform's sizes, then the image file. 255 picks ImageNet's Resize(256) +
// CenterCrop(224); any other value b a small resize 1 + b % 64 and a crop of 1/4 … 4/4 of it, which runs the
// same code (and its rounding edge cases) a hundred times faster. For the same reason images the header says
// are over 250,000 pixels, or that would resize to more, are skipped: decode_image takes a lower limit
// here, and the real limits are tested in tests/test_fuzz_regressions.cpp.
//
// stb_image is compiled into the harness from the Debian header (tests/fuzz/stb_image_impl.cpp) instead of
// linking libstb.so, so that the fuzzer sees coverage inside the decoder and ASan checks its memory accesses.
// Build and run: make fuzz SECS=60.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "data/image.h"

using namespace tern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr int64_t kFuzzMaxPixels = 250'000;
    if (size < 1) return 0;
    const int b = data[0];
    const int resize_to = b == 255 ? 256 : 1 + b % 64;
    const int crop_size = b == 255 ? 224 : std::max(1, resize_to * (1 + b / 64) / 4);
    try {
        const Image img = decode_image(data + 1, size - 1, "fuzz.img", kFuzzMaxPixels);
        const Size2 resized = resize_shorter_side(img.height, img.width, resize_to);
        if (int64_t(resized.height) * resized.width > kFuzzMaxPixels) return 0;
        std::vector<float> out(size_t(crop_size) * crop_size * 3);
        eval_transform(img, out.data(), resize_to, crop_size);
    } catch (const Error&) {
    }
    return 0;
}
