// tests/test_fuzz_regressions.cpp — every input a fuzz harness (tests/fuzz/fuzz_*.cpp) found crashing, showing
// undefined behaviour or allocating gigabytes, fed again through the same entry point; each must now end in
// success or a clean tern::Error. The files are in tests/fuzz/regressions/<harness>/ (the bytes the entry
// point gets, without the harness's selector byte). Also here: the limits the harnesses skip to stay fast.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "data/cifar.h"
#include "data/image.h"
#include "quant/packed_model.h"

using namespace tern;
namespace fs = std::filesystem;

namespace {

const std::string kRegressions = "tests/fuzz/regressions";

// What each harness does with its input, minus the fuzzing: the same calls, from the same entry points.
const std::map<std::string, std::function<void(const std::vector<uint8_t>&)>> kEntryPoints = {
    {"fuzz_image",
     [](const std::vector<uint8_t>& bytes) {
         const Image img = decode_image(bytes.data(), bytes.size(), "regression");
         std::vector<float> out(224 * 224 * 3);
         eval_transform(img, out.data());
     }},
    {"fuzz_packed_model",
     [](const std::vector<uint8_t>& bytes) {
         PackedModel model(bytes.data(), bytes.size(), "regression");
         const auto& in = model.program().at("input");
         model.forward(Tensor::zeros({1, in.at("height").get<int64_t>(), in.at("width").get<int64_t>(),
                                      in.at("channels").get<int64_t>()}));
     }},
    {"fuzz_safetensors",
     [](const std::vector<uint8_t>& bytes) {
         for (const NamedArray& a : parse_safetensors(bytes.data(), bytes.size(), "regression").arrays)
             array_to_tensor(a, "regression");
     }},
    {"fuzz_flags_config",
     [](const std::vector<uint8_t>& bytes) { parse_config_json(std::string(bytes.begin(), bytes.end()), "regression"); }},
    {"fuzz_cifar",
     [](const std::vector<uint8_t>& bytes) {
         CifarData data;
         parse_cifar_records(bytes.data(), bytes.size(), 10000, "regression", data);
     }},
};

// The tern::Error message of the entry point on this file, or "" if it succeeded. Any other exception fails.
std::string outcome(const std::string& harness, const std::string& path) {
    try {
        kEntryPoints.at(harness)(read_file(path));
    } catch (const tern::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("fuzz regressions: every saved input ends in success or a tern::Error") {
    int files = 0;
    for (const auto& dir : fs::directory_iterator(kRegressions)) {
        const std::string harness = dir.path().filename();
        REQUIRE_MESSAGE(kEntryPoints.count(harness), "tests/fuzz/regressions/" << harness
                                                     << ": add its harness's entry point to kEntryPoints");
        for (const auto& file : fs::directory_iterator(dir.path())) {
            CAPTURE(file.path().string());
            CHECK_NOTHROW(outcome(harness, file.path()));
            ++files;
        }
    }
    CHECK(files >= 4);
}

TEST_CASE("fuzz regressions: the image harness's findings are refused before stb_image decodes them") {
    // Each name says what the file does to stb_image 2.27 (Debian's libstb) unguarded; see data/image.cpp.
    const std::string dir = kRegressions + "/fuzz_image/";
    const std::string huffman = "regression: corrupt JPEG (a Huffman table defines more than 256 codes)";
    CHECK(outcome("fuzz_image", dir + "jpeg_dht_more_than_256_codes.jpg") == huffman);  // writes past a table
    CHECK(outcome("fuzz_image", dir + "jpeg_dht_cut_off_more_than_256_codes_1.jpg") == huffman);  // file ends in it
    CHECK(outcome("fuzz_image", dir + "jpeg_dht_cut_off_more_than_256_codes_2.jpg") == huffman);
    CHECK(outcome("fuzz_image", dir + "jpeg_soi_with_fill_byte_dht_more_than_256_codes.jpg") == huffman);  // FF FF D8
    CHECK(outcome("fuzz_image", dir + "jpeg_scan_uses_undefined_huffman_table.jpg") ==  // abort() in Debian's stb
          "regression: corrupt JPEG (a scan uses a Huffman table that was never defined)");
    CHECK(outcome("fuzz_image", dir + "png_idat_claims_1.7GB.png") ==  // a 253-byte file; stb would malloc 1.7 GB
          "regression: truncated or corrupt PNG (a chunk runs past the end of the file)");
    CHECK(outcome("fuzz_image", dir + "bmp_top_down_13x638242.bmp") ==  // tern's own size check missed it
          "regression: image of 13x638242 exceeds the limit of 20000 px per side and 200000000 pixels");
    CHECK(outcome("fuzz_image", dir + "pgm_width_overflows_int.pgm") ==  // signed overflow in stb's header parse
          "regression: corrupt PGM/PPM header (a number above 2147483647)");
    CHECK(outcome("fuzz_image", dir + "pgm_16bit_gray_as_rgb.pgm") ==  // heap read past stb's buffer
          "regression: 16-bit PGM/PPM is not supported (maximum value above 255)");
}

TEST_CASE("fuzz regressions: an extremely elongated image is refused by eval_transform before it allocates") {
    // A 20000×1 PGM is within decode_image's limits (20000 px per side), but Resize(256) would make it
    // 256 × 5,120,000 pixels (3.9 GB). The image harness skips such sizes to stay fast; this is the check.
    std::string pgm = "P5 20000 1 255\n" + std::string(20000, '\x80');
    const Image img = decode_image(reinterpret_cast<const uint8_t*>(pgm.data()), pgm.size(), "long.pgm");
    REQUIRE(img.width == 20000);
    std::vector<float> out(224 * 224 * 3);
    CHECK_THROWS_WITH_AS(eval_transform(img, out.data()),
                         "eval_transform: a 1x20000 image resized to 256x5120000 exceeds the limit of 200000000 pixels",
                         tern::Error);
}

TEST_CASE("fuzz regressions: deeply nested JSON is refused before error messages render it recursively") {
    // nlohmann's parser is iterative, but dump() — which the error messages use to show a bad value — and the
    // destructor recurse once per level: 100,000 '[' would overflow the stack. Both readers cap the depth.
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_THROWS_WITH_AS(parse_config_json("{\"lr\": " + deep + "}", "deep.json"),
                         "config file deep.json nests deeper than 16 levels", tern::Error);
    const std::string header = "{\"w\": " + deep + "}";
    std::vector<uint8_t> file(8 + header.size());
    const uint64_t n = header.size();
    std::copy_n(reinterpret_cast<const uint8_t*>(&n), 8, file.begin());
    std::copy(header.begin(), header.end(), file.begin() + 8);
    CHECK_THROWS_WITH_AS(parse_safetensors(file.data(), file.size(), "deep.safetensors"),
                         "deep.safetensors: header nests deeper than 8 levels; not a safetensors header", tern::Error);
}
