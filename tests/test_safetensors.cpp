// tests/test_safetensors.cpp — safetensors: bit-exact round trips, a real pretrained file, 16-bit float decoding,
// and one malformed file per check the strict reader makes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/ops/shape_ops.h"
#include "core/safetensors.h"
#include "tests/temp_dir.h"

using namespace tern;
using tern::testing::TempDir;

// The bytes of a float vector, for bit-exact comparisons (NaN == NaN, -0 != +0).
static std::vector<uint8_t> bytes_of(const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * sizeof(float));
    if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

TEST_CASE("safetensors round trip is bit-exact for float tensors, integer arrays and metadata") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    Tensor matrix = Tensor::from_vector({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    Tensor transposed = transpose(matrix, 0, 1);  // (4, 3), not contiguous: written in its row-major order
    REQUIRE_FALSE(transposed.is_contiguous());
    const std::vector<Tensor> tensors = {
        Tensor::scalar(3.5f),                                        // 0-d
        Tensor::from_vector({6}, {-0.f, 1e-45f, -1e38f, inf, nan, 1.f / 3}),  // awkward values, bit for bit
        Tensor::from_vector({2, 1, 3}, {1, 2, 3, 4, 5, 6}),
        transposed,
        Tensor::zeros({0, 3}),                                       // empty
    };
    SafetensorsFile file;
    file.metadata = {{"arch", "resnet20"}, {"epoch", "17"}, {"note", "ünïcode ok"}};
    for (size_t i = 0; i < tensors.size(); ++i)
        file.arrays.push_back(tensor_to_array("t" + std::to_string(i), tensors[i]));
    file.arrays.push_back({"labels", DType::U8, {4}, {0, 9, 255, 3}});
    file.arrays.push_back({"deltas", DType::I8, {2, 2}, {0x80, 0xff, 0x00, 0x7f}});  // -128, -1, 0, 127
    const int32_t ints[] = {-7, 0, 2147483647};
    const uint8_t* int_bytes = reinterpret_cast<const uint8_t*>(ints);
    file.arrays.push_back({"ints", DType::I32, {3}, std::vector<uint8_t>(int_bytes, int_bytes + sizeof(ints))});

    TempDir dir;
    write_safetensors(dir / "round.safetensors", file);
    const SafetensorsFile back = read_safetensors(dir / "round.safetensors");

    CHECK(back.metadata == file.metadata);
    REQUIRE(back.arrays.size() == file.arrays.size());
    for (size_t i = 0; i < file.arrays.size(); ++i) {  // same order, names, dtypes, shapes and bytes
        CAPTURE(file.arrays[i].name);
        CHECK(back.arrays[i].name == file.arrays[i].name);
        CHECK(back.arrays[i].dtype == file.arrays[i].dtype);
        CHECK(back.arrays[i].shape == file.arrays[i].shape);
        CHECK(back.arrays[i].bytes == file.arrays[i].bytes);
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
        const Tensor t = array_to_tensor(*back.find("t" + std::to_string(i)), "round.safetensors");
        CHECK(t.shape() == tensors[i].shape());
        CHECK(bytes_of(t.to_vector()) == bytes_of(tensors[i].to_vector()));
    }
    CHECK(back.find("t3")->shape == Shape{4, 3});
    CHECK(back.find("missing") == nullptr);

    // The layout: header length is a multiple of 8 (space padding) and the first array starts at offset 0.
    const std::vector<uint8_t> raw = read_file(dir / "round.safetensors");
    uint64_t header_size;
    std::memcpy(&header_size, raw.data(), 8);
    CHECK(header_size % 8 == 0);
    const std::string header(raw.begin() + 8, raw.begin() + 8 + header_size);
    CHECK(header.find(R"("t0":{"dtype":"F32","shape":[],"data_offsets":[0,4]})") != std::string::npos);
    CHECK(raw.size() == 8 + header_size + 4 + 24 + 24 + 48 + 0 + 4 + 4 + 12);  // header + the arrays' bytes
}

TEST_CASE("safetensors writer produces the same bytes as the reference implementation") {
    // The Rust crate's own test (safetensors/src/tensor.rs, test_serialization_forced_alignement) serializes
    // "attn0" = F32 [0, 1, 2, 3, 4, 5] of shape (1, 1, 2, 3) as: N = 72, the compact JSON header (65 bytes)
    // followed by 7 spaces of padding, then the 24 data bytes.
    TempDir dir;
    save_tensors(dir / "ref.safetensors", {{"attn0", Tensor::from_vector({1, 1, 2, 3}, {0, 1, 2, 3, 4, 5})}});
    const std::vector<uint8_t> raw = read_file(dir / "ref.safetensors");
    REQUIRE(raw.size() == 8 + 72 + 24);
    CHECK(std::vector<uint8_t>(raw.begin(), raw.begin() + 8) == std::vector<uint8_t>{72, 0, 0, 0, 0, 0, 0, 0});
    CHECK(std::string(raw.begin() + 8, raw.begin() + 80) ==
          R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + std::string(7, ' '));
    CHECK(std::vector<uint8_t>(raw.begin() + 80, raw.begin() + 88) ==
          std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0x80, 0x3f});  // 0.0f, 1.0f little-endian
}

TEST_CASE("save_tensors / load_tensors round trip a state dict") {
    TempDir dir;
    const std::map<std::string, Tensor> state = {{"fc.weight", Tensor::from_vector({2, 2}, {1, -2, 3, -4})},
                                                 {"fc.bias", Tensor::from_vector({2}, {0.5f, -0.25f})}};
    save_tensors(dir / "state.safetensors", state, {{"step", "100"}});
    const std::map<std::string, Tensor> back = load_tensors(dir / "state.safetensors");
    REQUIRE(back.size() == 2);
    CHECK(back.at("fc.weight").to_vector() == std::vector<float>{1, -2, 3, -4});
    CHECK(back.at("fc.bias").to_vector() == std::vector<float>{0.5f, -0.25f});
    CHECK(read_safetensors(dir / "state.safetensors").metadata.at("step") == "100");
}

TEST_CASE("safetensors reads the pretrained ResNet-20 (akamaster, converted from PyTorch)") {
    const std::string path = "../shared/data/weights/resnet20_cifar10_akamaster.safetensors";
    if (!std::filesystem::exists(path)) {
        MESSAGE("skipped: " << path << " not found");
        return;
    }
    const SafetensorsFile file = read_safetensors(path);
    // 97 arrays (counted with a Python json/struct script): conv1 + bn1 (weight, bias, running_mean, running_var)
    // = 5; 9 basic blocks × (conv1, bn1 ×4, conv2, bn2 ×4) = 90; linear weight and bias = 2.
    CHECK(file.arrays.size() == 97);
    CHECK(file.metadata.at("arch") == "resnet20");
    REQUIRE(file.find("conv1.weight"));
    CHECK(file.find("conv1.weight")->shape == Shape{16, 3, 3, 3});
    CHECK(file.find("linear.weight")->shape == Shape{10, 64});

    // PROVENANCE.txt gives 269,722 parameters: every array but the BN running statistics.
    const std::map<std::string, Tensor> tensors = load_tensors(path);
    int64_t parameters = 0;
    for (const auto& [name, t] : tensors)
        if (name.find("running_") == std::string::npos) parameters += t.numel();
    CHECK(parameters == 269722);
    // Values read independently with Python's struct module.
    CHECK(tensors.at("conv1.weight").at({0, 0, 0, 0}) == -0.13818146288394928f);
    CHECK(tensors.at("linear.bias").at({9}) == -0.27025941014289856f);
}

TEST_CASE("safetensors F16 and BF16 decode known bit patterns exactly") {
    // binary16: sign | 5-bit exponent (bias 15) | 10-bit mantissa.
    CHECK(half_to_float(0x3C00) == 1.0f);                   // 0 01111 0000000000 = 2⁰
    CHECK(half_to_float(0xC000) == -2.0f);                  // 1 10000 0000000000 = −2¹
    CHECK(half_to_float(0x7BFF) == 65504.0f);               // largest finite: (2 − 2⁻¹⁰) · 2¹⁵
    CHECK(half_to_float(0x3555) == 0.333251953125f);        // 1.0101010101b · 2⁻²
    CHECK(half_to_float(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
    CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal: 1 · 2⁻²⁴ ≈ 5.96e-8
    CHECK(half_to_float(0x03FF) == std::ldexp(1023.0f, -24));  // largest subnormal
    CHECK(half_to_float(0x7C00) == std::numeric_limits<float>::infinity());
    CHECK(half_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(half_to_float(0x7E00)));
    CHECK((half_to_float(0x8000) == 0.0f && std::signbit(half_to_float(0x8000))));  // −0
    // bfloat16 is the top half of a float32: 0x3F80 → 0x3F800000 = 1.0.
    CHECK(bfloat16_to_float(0x3F80) == 1.0f);
    CHECK(bfloat16_to_float(0xC000) == -2.0f);
    CHECK(bfloat16_to_float(0x7F7F) == 3.3895313892515355e38f);  // largest finite: (2 − 2⁻⁷) · 2¹²⁷
    CHECK(bfloat16_to_float(0x0001) == std::ldexp(1.0f, -133));   // smallest subnormal
    CHECK(bfloat16_to_float(0x7F80) == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(bfloat16_to_float(0x7FC0)));

    // Arrays of these types load as float32 tensors; integer arrays do not.
    const NamedArray f16{"h", DType::F16, {2}, {0x00, 0x3C, 0x00, 0xC0}};  // little-endian 0x3C00, 0xC000
    CHECK(array_to_tensor(f16, "x.safetensors").to_vector() == std::vector<float>{1.0f, -2.0f});
    const NamedArray bf16{"b", DType::BF16, {1}, {0x80, 0x3F}};
    CHECK(array_to_tensor(bf16, "x.safetensors").item() == 1.0f);
    const double d[] = {0.1, -3.0};
    const NamedArray f64{"d", DType::F64, {2}, std::vector<uint8_t>((const uint8_t*)d, (const uint8_t*)d + 16)};
    CHECK(array_to_tensor(f64, "x.safetensors").to_vector() == std::vector<float>{0.1f, -3.0f});
    const NamedArray i32{"n", DType::I32, {1}, {1, 0, 0, 0}};
    CHECK_THROWS_WITH_AS(array_to_tensor(i32, "x.safetensors"),
                         doctest::Contains("x.safetensors: tensor 'n': dtype I32 is not a float type"), tern::Error);
}

// ---- malformed files: each check of the reader, one file each --------------------------------------------

// [ header length ][ header ][ data_size zero bytes ], as a file would hold them.
static std::vector<uint8_t> make_file(const std::string& header, size_t data_size) {
    const uint64_t n = header.size();
    std::vector<uint8_t> bytes(8 + header.size() + data_size, 0);
    std::memcpy(bytes.data(), &n, 8);
    std::memcpy(bytes.data() + 8, header.data(), header.size());
    return bytes;
}

// The message of the tern::Error parse_safetensors throws on these bytes ("" if it accepts them).
static std::string parse_error(const std::vector<uint8_t>& bytes) {
    try {
        parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
    } catch (const tern::Error& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("safetensors reader rejects truncated files and impossible header lengths") {
    CHECK(parse_error({1, 2, 3}) ==
          "bad.safetensors: too short for a safetensors file (3 bytes; the header length alone takes 8)");
    std::vector<uint8_t> past_end = make_file("{}", 0);
    past_end[0] = 100;  // claims a 100-byte header; 2 bytes follow
    CHECK(parse_error(past_end) == "bad.safetensors: header length 100 runs past the end of the file (10 bytes)");
    std::vector<uint8_t> absurd = make_file("{}", 0);
    absurd[7] = 0x01;  // 2⁵⁶ + 2: refused before anything is allocated
    CHECK(parse_error(absurd).find("bad.safetensors: header length 72057594037927938 is absurdly large") == 0);
}

// A header entry as JSON text: "name": {"dtype": dtype, "shape": shape, "data_offsets": offsets}. The three
// values are JSON text too, so that a test can put anything there.
static std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                         const std::string& offsets) {
    return "\"" + name + "\": {\"dtype\": " + dtype + ", \"shape\": " + shape + ", \"data_offsets\": " + offsets + "}";
}
static const std::string F32 = "\"F32\"";

TEST_CASE("safetensors reader rejects malformed headers, naming the file and the tensor") {
    struct Case {
        std::string header;
        size_t data_size;
        std::string expected;  // how the message starts, after "bad.safetensors: "
    };
    const std::string ok = entry("w", F32, "[2]", "[0, 8]");
    const Case cases[] = {
        {R"({"w": )", 8, "header is not valid JSON"},
        {"[1, 2]", 8, "header must be a JSON object, got array"},
        {"{" + ok + ", " + ok + "}", 8, "the header names 'w' twice"},
        {R"({"w": 3})", 8, "tensor 'w': entry must be a JSON object, got 3"},
        {R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 8, R"(tensor 'w': entry has no "dtype")"},
        {R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", 8, R"(tensor 'w': entry has no "shape")"},
        {R"({"w": {"dtype": "F32", "shape": [2]}})", 8, R"(tensor 'w': entry has no "data_offsets")"},
        {"{" + entry("w", "4", "[2]", "[0, 8]") + "}", 8, "tensor 'w': dtype must be a string, got 4"},
        {"{" + entry("w", "\"F8_E4M3\"", "[2]", "[0, 8]") + "}", 8, "tensor 'w': unknown dtype 'F8_E4M3'"},
        {"{" + entry("w", F32, "2", "[0, 8]") + "}", 8, "tensor 'w': shape must be a JSON array, got 2"},
        {"{" + entry("w", F32, "[-2]", "[0, 8]") + "}", 8, "tensor 'w': shape entry must not be negative, got -2"},
        {"{" + entry("w", F32, "[2.5]", "[0, 8]") + "}", 8, "tensor 'w': shape entry must be an integer, got 2.5"},
        {"{" + entry("w", F32, R"(["2"])", "[0, 8]") + "}", 8,
         R"(tensor 'w': shape entry must be an integer, got "2")"},
        {"{" + entry("w", F32, "[3]", "[0, 8]") + "}", 12,
         "tensor 'w': shape (3,) of F32 needs 12 bytes but data_offsets [0, 8] hold 8"},
        // 2³² · 2³² · 4 bytes wraps to 0 in 64-bit arithmetic; a naive product would accept this empty range.
        {"{" + entry("w", F32, "[4294967296, 4294967296]", "[0, 0]") + "}", 8,
         "tensor 'w': shape (4294967296, 4294967296) of F32 needs more than 8 bytes but data_offsets [0, 0] hold 0"},
        {"{" + entry("w", F32, "[2]", "[0]") + "}", 8,
         "tensor 'w': data_offsets must be an array [begin, end], got [0]"},
        {"{" + entry("w", F32, "[2]", R"([0, "8"])") + "}", 8,
         R"(tensor 'w': data_offsets end must be an integer, got "8")"},
        {"{" + entry("w", F32, "[4]", "[0, 16]") + "}", 8,
         "tensor 'w': data_offsets [0, 16] run past the end of the data buffer (8 bytes)"},
        {"{" + entry("w", F32, "[0]", "[8, 0]") + "}", 8, "tensor 'w': data_offsets [8, 0] has begin > end"},
        {"{" + entry("a", F32, "[2]", "[0, 8]") + ", " + entry("b", F32, "[2]", "[4, 12]") + "}", 12,
         "tensors 'a' [0, 8) and 'b' [4, 12) overlap in the data buffer"},
        {R"({"__metadata__": ["a"], )" + ok + "}", 8, R"(__metadata__ must be an object of strings, got ["a"])"},
        {R"({"__metadata__": {"epoch": 3}, )" + ok + "}", 8, "__metadata__ value for 'epoch' must be a string, got 3"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.header);
        const std::string message = parse_error(make_file(c.header, c.data_size));
        CHECK(message.find("bad.safetensors: " + c.expected) == 0);
    }
}

TEST_CASE("safetensors reader accepts gaps between arrays and empty arrays anywhere") {
    // b starts 4 bytes after a ends, 4 unused bytes trail the buffer, and the empty e sits inside a's range.
    const std::string header = "{" + entry("b", "\"I32\"", "[1]", "[8, 12]") + ", " + entry("a", F32, "[1]", "[0, 4]") +
                               ", " + entry("e", F32, "[0, 5]", "[2, 2]") + "}";
    const std::vector<uint8_t> bytes = make_file(header, 16);
    const SafetensorsFile file = parse_safetensors(bytes.data(), bytes.size(), "gaps.safetensors");
    REQUIRE(file.arrays.size() == 3);  // in buffer order, not header order
    CHECK(file.arrays[0].name == "a");
    CHECK(file.arrays[1].name == "e");
    CHECK(file.arrays[2].name == "b");
}

TEST_CASE("safetensors read of a missing file names it") {
    CHECK_THROWS_WITH_AS(read_safetensors("/nonexistent/model.safetensors"),
                         "cannot open /nonexistent/model.safetensors: No such file or directory", tern::Error);
}

TEST_CASE("safetensors writer rejects arrays whose bytes do not match their shape") {
    TempDir dir;
    SafetensorsFile file;
    file.arrays.push_back({"w", DType::F32, {2, 2}, std::vector<uint8_t>(12)});
    CHECK_THROWS_WITH_AS(write_safetensors(dir / "w.safetensors", file),
                         doctest::Contains("tensor 'w': 12 bytes do not match shape (2, 2) of F32"), tern::Error);
    CHECK_FALSE(std::filesystem::exists(dir / "w.safetensors"));
}

TEST_CASE("load_tensors skips PyTorch's I64 num_batches_tracked counters and keeps everything else") {
    tern::testing::TempDir dir;
    const std::string path = dir.path() + "/sd.safetensors";
    SafetensorsFile f;
    f.arrays.push_back(tensor_to_array("bn1.weight", Tensor::ones({2})));
    std::vector<uint8_t> one(8, 0);
    one[0] = 1;
    f.arrays.push_back({"bn1.num_batches_tracked", DType::I64, {}, one});
    write_safetensors(path, f);
    const auto t = load_tensors(path);
    CHECK(t.size() == 1);
    CHECK(t.count("bn1.weight"));
}
