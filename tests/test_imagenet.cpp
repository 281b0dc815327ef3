// tests/test_imagenet.cpp — image decoding, the torchvision/PIL transforms, and the ImageNet dataset.
// Reference values come from PIL 9.4 / torchvision 0.14: tests/data/make_image_fixtures.py made the fixtures in
// tests/data/ and printed the numbers hard-coded below. The sample-folder tests need
// ../shared/data/imagenet-sample and are skipped without it.
#include <doctest/doctest.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "data/image.h"
#include "data/imagenet.h"

using namespace tern;
namespace fs = std::filesystem;

namespace {

const std::string kData = "tests/data/";
const std::string kSample = "../shared/data/imagenet-sample";

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// A PNG made in memory by stb_image_write, for channel layouts we have no file for.
std::vector<uint8_t> png_bytes(int width, int height, int channels, const std::vector<uint8_t>& pixels) {
    std::vector<uint8_t> png;
    stbi_write_png_to_func([](void* ctx, void* data, int size) {
        auto* out = static_cast<std::vector<uint8_t>*>(ctx);
        out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
    }, &png, width, height, channels, pixels.data(), width * channels);
    return png;
}

int max_abs_diff(const Image& a, const Image& b) {
    REQUIRE(a.height == b.height);
    REQUIRE(a.width == b.width);
    int worst = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(a.pixels[i] - b.pixels[i]));
    return worst;
}

std::vector<double> channel_means(const Image& img) {
    std::vector<double> mean(3, 0.0);
    for (size_t i = 0; i < img.pixels.size(); ++i) mean[i % 3] += img.pixels[i];
    for (double& m : mean) m /= double(img.height) * img.width;
    return mean;
}

// A scratch directory, removed at the end of the test.
struct TempDir {
    fs::path path = fs::temp_directory_path() / ("tern_test_imagenet_" + std::to_string(getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

bool have_sample() { return fs::exists(kSample + "/labels.txt"); }

Image decode_bytes(const std::vector<uint8_t>& bytes, const std::string& name) {
    return decode_image(bytes.data(), bytes.size(), name);
}

ImageNetOptions with_ground_truth(const std::string& path) {
    ImageNetOptions options;
    options.ground_truth = path;
    return options;
}

}  // namespace

// ---- Decoding ----

TEST_CASE("imagenet decode: stb_image's failure reason is per thread, so loader workers can read it") {
    // This thread fails a decode; a fresh thread must see no failure reason at all (thread-local, stb ≥ 2.24).
    const uint8_t junk[16] = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
    int w, h, c;
    CHECK(stbi_load_from_memory(junk, sizeof junk, &w, &h, &c, 3) == nullptr);
    REQUIRE(stbi_failure_reason() != nullptr);
    const char* other_thread_reason = "not run";
    std::thread([&] { other_thread_reason = stbi_failure_reason(); }).join();
    CHECK(other_thread_reason == nullptr);
}

TEST_CASE("imagenet decode: a small JPEG decodes like PIL's decoder, within JPEG decoders' rounding") {
    // pattern_37x23.jpg: R = 7x, G = 11y, B = 255 − 3(x + y), black square at x, y ∈ [8, 14), quality 90, 4:2:0.
    // stb and libjpeg (PIL) differ in IDCT and chroma-upsampling rounding, so pixels agree to a few levels.
    const Image img = decode_image(kData + "pattern_37x23.jpg");
    REQUIRE(img.width == 37);
    REQUIRE(img.height == 23);
    const std::vector<double> pil_mean = {123.1092832, 116.2867215, 159.94594595};
    const std::vector<double> mean = channel_means(img);
    for (int c = 0; c < 3; ++c) CHECK(std::fabs(mean[c] - pil_mean[c]) < 0.25);
    struct Pixel { int y, x; uint8_t rgb[3]; };
    for (const Pixel& p : {Pixel{0, 0, {0, 5, 249}}, Pixel{11, 11, {4, 0, 2}}, Pixel{22, 36, {251, 240, 88}},
                           Pixel{5, 30, {209, 55, 151}}}) {
        CAPTURE(p.y);
        CAPTURE(p.x);
        for (int c = 0; c < 3; ++c) CHECK(std::abs(img.row(p.y)[3 * p.x + c] - p.rgb[c]) <= 3);
    }
}

TEST_CASE("imagenet decode: gray, gray+alpha and RGBA images become RGB: gray is replicated, alpha is dropped") {
    const Image gray = decode_bytes(png_bytes(2, 1, 1, {0, 200}), "gray.png");
    CHECK(gray.pixels == std::vector<uint8_t>{0, 0, 0, 200, 200, 200});
    const Image gray_alpha = decode_bytes(png_bytes(1, 1, 2, {90, 10}), "gray_alpha.png");
    CHECK(gray_alpha.pixels == std::vector<uint8_t>{90, 90, 90});
    const Image rgba = decode_bytes(png_bytes(1, 2, 4, {10, 20, 30, 0, 40, 50, 60, 255}), "rgba.png");
    CHECK(rgba.pixels == std::vector<uint8_t>{10, 20, 30, 40, 50, 60});  // not blended with a background
}

TEST_CASE("imagenet decode: a CMYK JPEG decodes to RGB like PIL's convert('RGB')") {
    // stb 2.27 reads Adobe CMYK JPEGs (ImageNet's train set has 22 of them): RGB = (255 − C)(255 − K)/255 …
    const Image img = decode_image(kData + "cmyk_37x23.jpg");
    const std::vector<double> pil_mean = {129.52643948, 127.73560517, 112.05405405};
    const std::vector<double> mean = channel_means(img);
    for (int c = 0; c < 3; ++c) CHECK(std::fabs(mean[c] - pil_mean[c]) < 0.05);
}

TEST_CASE("imagenet decode: undecodable bytes are a tern::Error naming the file and stb's reason, never a crash") {
    const std::vector<uint8_t> jpeg = read_bytes(kData + "pattern_37x23.jpg");
    REQUIRE(jpeg.size() > 100);
    auto message = [](const std::vector<uint8_t>& bytes, const std::string& name) -> std::string {
        try {
            decode_image(bytes.data(), bytes.size(), name);
        } catch (const tern::Error& e) {
            return e.what();
        }
        return "decoded";
    };
    CHECK(message({}, "empty.JPEG") == "empty.JPEG: empty file (0 bytes), not an image");
    const std::string truncated = message({jpeg.begin(), jpeg.begin() + long(jpeg.size() / 2)}, "half.JPEG");
    CHECK(truncated.find("half.JPEG: cannot decode image (stb_image: ") == 0);
    const std::string text = message({'h', 'e', 'l', 'l', 'o', '\n'}, "text.JPEG");
    CHECK(text == "text.JPEG: not a decodable image (stb_image: unknown image type)");
    CHECK_THROWS_WITH_AS(decode_image("tests/data/no_such_file.JPEG"),
                         "decode_image: cannot open tests/data/no_such_file.JPEG (No such file or directory)",
                         tern::Error);
    CHECK_THROWS_WITH_AS(decode_image("tests/data"), "decode_image: cannot open tests/data (Is a directory)",
                         tern::Error);

    // A tiny fuzz: truncations and byte flips of a valid JPEG either decode or throw tern::Error.
    Rng rng(7);
    int decoded = 0, rejected = 0;
    for (int trial = 0; trial < 400; ++trial) {
        std::vector<uint8_t> bytes = jpeg;
        if (trial % 2) bytes.resize(rng.below(uint32_t(jpeg.size())));
        for (int flips = 0; flips < 3 && !bytes.empty(); ++flips) bytes[rng.below(uint32_t(bytes.size()))] ^= 0xFF;
        try {
            decode_image(bytes.data(), bytes.size(), "fuzz");
            ++decoded;
        } catch (const tern::Error&) {
            ++rejected;
        }
    }
    CHECK(decoded + rejected == 400);
    CHECK(rejected > 0);  // (about 280 of the 400 are rejected; a flipped byte in the entropy-coded data often
    CHECK(decoded > 0);   //  still decodes, to a damaged picture, as it would in libjpeg)
}

TEST_CASE("imagenet decode: images too large are refused from their header, before decoding") {
    // A PPM header claiming 30000×30000 (2.7 GB of RGB); the pixel data is not even there.
    const std::string header = "P6\n30000 30000\n255\n";
    const std::vector<uint8_t> bytes(header.begin(), header.end());
    CHECK_THROWS_WITH_AS(decode_image(bytes.data(), bytes.size(), "huge.ppm"),
                         "huge.ppm: image of 30000x30000 exceeds the limit of 20000 px per side and 200000000 pixels",
                         tern::Error);
}

// ---- Size arithmetic ----

TEST_CASE("imagenet transform: Resize(256) makes the shorter side 256 and the longer int(256 · long / short)") {
    auto hw = [](Size2 s) { return std::make_pair(s.height, s.width); };
    CHECK(hw(resize_shorter_side(375, 500, 256)) == std::make_pair(256, 341));   // 256·500/375 = 341.3
    CHECK(hw(resize_shorter_side(500, 375, 256)) == std::make_pair(341, 256));
    CHECK(hw(resize_shorter_side(256, 256, 256)) == std::make_pair(256, 256));   // identity
    CHECK(hw(resize_shorter_side(1000, 300, 256)) == std::make_pair(853, 256));  // 853.3, portrait
    CHECK(hw(resize_shorter_side(300, 1000, 256)) == std::make_pair(256, 853));
    CHECK(hw(resize_shorter_side(40, 50, 256)) == std::make_pair(256, 320));     // tiny: enlarged 6.4×
    CHECK(hw(resize_shorter_side(47, 61, 256)) == std::make_pair(256, 332));     // 332.25
    CHECK(hw(resize_shorter_side(320, 640, 256)) == std::make_pair(256, 512));   // exact ratio stays exact
}

TEST_CASE("imagenet transform: CenterCrop offsets round (size − crop) / 2 half-to-even, like Python's round()") {
    CHECK(center_crop_offset(256, 224) == 16);
    CHECK(center_crop_offset(341, 224) == 58);  // 58.5 → 58
    CHECK(center_crop_offset(343, 224) == 60);  // 59.5 → 60
    CHECK(center_crop_offset(224, 224) == 0);
    CHECK_THROWS_AS(center_crop_offset(200, 224), tern::Error);
}

TEST_CASE("imagenet transform: RandomResizedCrop boxes lie inside the image with area and aspect ratio in range") {
    Rng rng(42);
    int fallbacks = 0;
    for (int trial = 0; trial < 2000; ++trial) {
        const int h = 37 + int(rng.below(400)), w = 23 + int(rng.below(400));
        const CropBox b = random_resized_crop_box(h, w, rng);
        REQUIRE(b.top >= 0);
        REQUIRE(b.left >= 0);
        REQUIRE(b.top + b.height <= h);
        REQUIRE(b.left + b.width <= w);
        const double area = double(b.height) * b.width / (double(h) * w), ratio = double(b.width) / b.height;
        // Rounding the sides to integers moves area and ratio a little outside the continuous ranges.
        const bool in_range = area > 0.07 && ratio > 0.70 && ratio < 1.40;
        fallbacks += !in_range;
    }
    CHECK(fallbacks == 0);
    // The same seed gives the same box.
    Rng a(5), b(5);
    const CropBox ba = random_resized_crop_box(375, 500, a), bb = random_resized_crop_box(375, 500, b);
    CHECK((ba.top == bb.top && ba.left == bb.left && ba.height == bb.height && ba.width == bb.width));
}

TEST_CASE("imagenet transform: RandomResizedCrop falls back to a centred crop when no random box fits") {
    // 10×1000 (h×w): any box of ≥ 8 % area with ratio ≤ 4/3 is taller than 10 px, so all 10 tries fail.
    // Fallback: ratio 100 > 4/3 → h = 10, w = round(10 · 4/3) = 13, top 0, left (1000 − 13) // 2 = 493.
    Rng rng(1);
    const CropBox wide = random_resized_crop_box(10, 1000, rng);
    CHECK((wide.top == 0 && wide.left == 493 && wide.height == 10 && wide.width == 13));
    // 1000×10: ratio 0.01 < 3/4 → w = 10, h = round(10 / 0.75) = 13, top 493.
    const CropBox tall = random_resized_crop_box(1000, 10, rng);
    CHECK((tall.top == 493 && tall.left == 0 && tall.height == 13 && tall.width == 10));
}

// ---- Resampling ----

TEST_CASE("imagenet transform: bilinear weights, worked example: halving four pixels") {
    // 4 → 2: scale 2, so the triangle has half-width 2 input pixels. Output 0 is centred at input x = 1.0;
    // input pixels 0, 1, 2 (centres 0.5, 1.5, 2.5) are 0.5, 0.5, 1.5 away → weights 1 − d/2 = 3/4, 3/4, 1/4.
    // The pixel at −0.5 does not exist and gets nothing, so the weights normalize to 3/7, 3/7, 1/7.
    const ResampleAxis axis = bilinear_axis(4, 2);
    CHECK(axis.first == std::vector<int>{0, 1});
    CHECK(axis.count == std::vector<int>{3, 3});
    const double q = 1 << kResampleBits;
    CHECK(axis.weights[0] / q == doctest::Approx(3.0 / 7));
    CHECK(axis.weights[1] / q == doctest::Approx(3.0 / 7));
    CHECK(axis.weights[2] / q == doctest::Approx(1.0 / 7));
    // [0, 70, 140, 210] → [(3·0 + 3·70 + 140) / 7, (70 + 3·140 + 3·210) / 7] = [50, 160], as PIL gives.
    Image row;
    row.height = 1;
    row.width = 4;
    row.pixels = {0, 0, 0, 70, 70, 70, 140, 140, 140, 210, 210, 210};  // gray, as RGB
    CHECK(resize_bilinear(row, 1, 2).pixels == std::vector<uint8_t>{50, 50, 50, 160, 160, 160});
}

TEST_CASE("imagenet transform: bilinear resize equals PIL's resize(BILINEAR) on a photo, shrinking and enlarging") {
    const Image photo = decode_image(kData + "photo_61x47.png");
    REQUIRE(photo.width == 61);
    REQUIRE(photo.height == 47);
    for (auto [w, h] : {std::pair{23, 17}, {53, 40}, {150, 117}, {61, 20}, {1, 1}}) {
        CAPTURE(w);
        CAPTURE(h);
        const std::string name = "photo_61x47_pil_" + std::to_string(w) + "x" + std::to_string(h) + ".png";
        const Image pil = decode_image(kData + name);
        CHECK(max_abs_diff(resize_bilinear(photo, h, w), pil) == 0);  // bit-exact, 8-bit rounding between passes
    }
    CHECK(max_abs_diff(resize_bilinear(photo, 47, 61), photo) == 0);  // same size: identity
}

TEST_CASE("imagenet transform: eval transform equals torchvision's Resize(256), CenterCrop(224), ToTensor, Normalize") {
    // photo_61x47.png → 332×256 (w×h) → crop at top 16, left 54. Values printed by make_image_fixtures.py.
    const Image photo = decode_image(kData + "photo_61x47.png");
    std::vector<float> out(224 * 224 * 3);
    eval_transform(photo, out.data());
    auto at = [&](int y, int x, int c) { return out[(size_t(y) * 224 + x) * 3 + c]; };
    const float expected[3][5] = {{0, 0, 0.039814990013837814f, -0.1624649614095688f, -0.4101088345050812f},
                                  {100, 37, 1.1357992887496948f, 0.502801239490509f, -1.0549890995025635f},
                                  {223, 223, 1.9577873945236206f, 1.6232492923736572f, 0.6182137131690979f}};
    for (const auto& e : expected)
        for (int c = 0; c < 3; ++c) CHECK(at(int(e[0]), int(e[1]), c) == e[2 + c]);  // bit-identical floats
    const double tv_mean[3] = {1.3205146, 0.72676736, -0.69027059};
    for (int c = 0; c < 3; ++c) {
        double sum = 0;
        for (size_t i = c; i < out.size(); i += 3) sum += out[i];
        CHECK(sum / (224 * 224) == doctest::Approx(tv_mean[c]).epsilon(1e-6));
    }
}

TEST_CASE("imagenet transform: to_normalized_floats mirrors the box when flipping") {
    Image img;
    img.height = 1;
    img.width = 3;
    img.pixels = {0, 0, 0, 51, 51, 51, 255, 255, 255};
    std::vector<float> plain(9), flipped(9);
    to_normalized_floats(img, {0, 0, 1, 3}, false, plain.data());
    to_normalized_floats(img, {0, 0, 1, 3}, true, flipped.data());
    CHECK(plain[0] == doctest::Approx((0.f - 0.485f) / 0.229f));
    CHECK(plain[3] == doctest::Approx((0.2f - 0.485f) / 0.229f));  // 51 / 255 = 0.2
    for (int x = 0; x < 3; ++x)
        for (int c = 0; c < 3; ++c) CHECK(flipped[3 * x + c] == plain[3 * (2 - x) + c]);
}

TEST_CASE("imagenet transform: train transform is reproducible from the sample's Rng") {
    const Image photo = decode_image(kData + "photo_61x47.png");
    std::vector<float> a(224 * 224 * 3), b(a.size()), c(a.size());
    Rng r1(mix_seed(0, 3, 17)), r2(mix_seed(0, 3, 17)), r3(mix_seed(0, 3, 18));
    train_transform(photo, a.data(), r1);
    train_transform(photo, b.data(), r2);
    train_transform(photo, c.data(), r3);
    CHECK(a == b);
    CHECK(a != c);
}

// ---- The dataset ----

TEST_CASE("imagenet sample: labels equal labels.txt, the sorted-folder labels and synsets.txt's names") {
    if (!have_sample()) {
        MESSAGE("skipped: " << kSample << " not found");
        return;
    }
    ImageNetOptions folder_labels;
    folder_labels.use_labels_txt = false;
    const ImageNetDataset from_file(kSample);                    // labels from labels.txt
    const ImageNetDataset from_folders(kSample, folder_labels);  // labels from the sorted directory names
    REQUIRE(from_file.size() == 1000);
    REQUIRE(from_folders.size() == 1000);
    CHECK(from_file.num_classes() == 1000);
    std::map<std::string, int> expected;  // labels.txt, read independently
    std::ifstream labels(kSample + "/labels.txt");
    std::string line;
    while (std::getline(labels, line)) {
        const size_t space = line.rfind(' ');
        expected[kSample + "/" + line.substr(0, space)] = std::stoi(line.substr(space + 1));
    }
    REQUIRE(expected.size() == 1000);
    int apostrophes = 0;
    for (int64_t i = 0; i < 1000; ++i) {
        CAPTURE(from_file.path(i));
        REQUIRE(expected.count(from_file.path(i)) == 1);
        CHECK(from_file.label(i) == expected[from_file.path(i)]);
        CHECK(from_folders.label(i) == from_file.label(i));
        apostrophes += from_file.path(i).find('\'') != std::string::npos;
    }
    CHECK(apostrophes == 4);
    CHECK(from_file.class_name(0) == "tench");
    CHECK(from_file.class_name(999) == "toilet tissue");
    ImageNetOptions first_ten;
    first_ten.limit = 10;
    CHECK(ImageNetDataset(kSample, first_ten).size() == 10);
}

TEST_CASE("imagenet sample: all 1000 images decode and transform to 224x224x3; the 23 grayscale ones as RGB") {
    if (!have_sample()) {
        MESSAGE("skipped: " << kSample << " not found");
        return;
    }
    const ImageNetDataset dataset(kSample);
    CHECK(dataset.sample_shape().numel() == 224 * 224 * 3);
    int gray_files = 0, gray_outputs = 0, bad_values = 0, wrong_labels = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(+ : gray_files, gray_outputs, bad_values, wrong_labels)
    for (int64_t i = 0; i < dataset.size(); ++i) {
        std::vector<float> out(224 * 224 * 3);
        Rng rng(i);
        wrong_labels += dataset.get(i, out.data(), rng) != dataset.label(i);
        bad_values += int(std::count_if(out.begin(), out.end(), [](float v) { return !std::isfinite(v); }));
        int w = 0, h = 0, channels = 0;  // what the file stores: 1 channel for a grayscale JPEG
        stbi_info(dataset.path(i).c_str(), &w, &h, &channels);
        if (channels != 1) continue;
        ++gray_files;
        // Undo Normalize: the grayscale photo must come out with R = G = B at every pixel.
        bool is_gray = true;
        for (size_t p = 0; p < out.size(); p += 3) {
            float v[3];
            for (int c = 0; c < 3; ++c) v[c] = out[p + c] * kImageNetStd[c] + kImageNetMean[c];
            is_gray = is_gray && std::fabs(v[0] - v[1]) < 1e-5f && std::fabs(v[1] - v[2]) < 1e-5f;
        }
        gray_outputs += is_gray;
    }
    CHECK(dataset.failures().empty());
    CHECK(wrong_labels == 0);
    CHECK(bad_values == 0);
    CHECK(gray_files == 23);
    CHECK(gray_outputs == 23);
}

TEST_CASE("imagenet sample: the eval transform of a real JPEG is close to torchvision's (decoders differ)") {
    if (!have_sample()) {
        MESSAGE("skipped: " << kSample << " not found");
        return;
    }
    // stb's JPEG decoder is not libjpeg, so pixels differ by a level or two; the resize and normalization are
    // exact (tests above). torchvision's per-channel means of the tench photo, from make_image_fixtures.py:
    const double tv_mean[3] = {-0.00867496, 0.10143944, -0.10668817};
    const Image img = decode_image(kSample + "/n01440764/n01440764_tench.JPEG");
    std::vector<float> out(224 * 224 * 3);
    eval_transform(img, out.data());
    for (int c = 0; c < 3; ++c) {
        double sum = 0;
        for (size_t i = c; i < out.size(); i += 3) sum += out[i];
        CHECK(std::fabs(sum / (224 * 224) - tv_mean[c]) < 0.01);  // 0.01 ≈ 0.6 gray levels
    }
}

TEST_CASE("imagenet dataset: an undecodable image gives zeros and its label, and is reported with its file name") {
    TempDir tmp;
    const std::vector<uint8_t> jpeg = read_bytes(kData + "pattern_37x23.jpg");
    fs::create_directories(tmp.path / "n01" / "sub");  // a nested directory is not an image and is ignored
    fs::create_directories(tmp.path / "n02");
    write_bytes(tmp.path / "n01" / "a_good.JPEG", jpeg);
    write_bytes(tmp.path / "n01" / "b_empty.JPEG", {});
    write_bytes(tmp.path / "n01" / "notes.txt", {'x'});  // not an image extension: not listed
    write_bytes(tmp.path / "n02" / "c_truncated.JPEG", {jpeg.begin(), jpeg.begin() + 300});
    write_bytes(tmp.path / "n02" / "d_text's.JPEG", {'h', 'e', 'l', 'l', 'o'});

    const ImageNetDataset dataset(tmp.path.string());
    REQUIRE(dataset.size() == 4);
    CHECK(dataset.num_classes() == 2);
    CHECK(dataset.class_name(1) == "n02");  // no synsets.txt: the directory name
    std::vector<float> out(224 * 224 * 3, 7.f);
    Rng rng(0);
    CHECK(dataset.get(0, out.data(), rng) == 0);
    CHECK(std::count(out.begin(), out.end(), 0.f) < 100);  // a real image
    for (int64_t i = 1; i < 4; ++i) {
        std::fill(out.begin(), out.end(), 7.f);
        CHECK(dataset.get(i, out.data(), rng) == (i == 1 ? 0 : 1));
        CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 0.f; }));
    }
    dataset.get(3, out.data(), rng);  // failing again is still one failure
    const auto failures = dataset.failures();
    REQUIRE(failures.size() == 3);
    CHECK(failures[0].path == (tmp.path / "n01" / "b_empty.JPEG").string());
    CHECK(failures[0].reason.find("b_empty.JPEG: empty file") != std::string::npos);
    CHECK(failures[1].reason.find("c_truncated.JPEG: cannot decode image (stb_image:") != std::string::npos);
    CHECK(failures[2].reason.find("d_text's.JPEG: not a decodable image") != std::string::npos);
}

TEST_CASE("imagenet dataset: a flat validation folder with 0-based, named, or devkit 1-based ground truth") {
    TempDir tmp;
    const fs::path val = tmp.path / "val";
    fs::create_directories(val);
    const std::vector<uint8_t> jpeg = read_bytes(kData + "pattern_37x23.jpg");
    for (const char* name : {"ILSVRC2012_val_00000002.JPEG", "ILSVRC2012_val_00000001.JPEG",
                             "ILSVRC2012_val_00000003.JPEG"})
        write_bytes(val / name, jpeg);
    auto write_text = [&](const std::string& name, const std::string& text) {
        std::ofstream(tmp.path / name) << text;
        return (tmp.path / name).string();
    };
    auto labels = [](const ImageNetDataset& d) {
        std::vector<int32_t> l;
        for (int64_t i = 0; i < d.size(); ++i) l.push_back(d.label(i));
        return l;
    };
    // One 0-based label per line, in file-name order.
    const ImageNetDataset zero(val.string(), with_ground_truth(write_text("val0.txt", "2\n0\r\n1\n")));
    CHECK(zero.path(0) == (val / "ILSVRC2012_val_00000001.JPEG").string());
    CHECK(labels(zero) == std::vector<int32_t>{2, 0, 1});
    // Caffe's val.txt: "<file> <label>", in any order.
    const std::string named = "ILSVRC2012_val_00000003.JPEG 1\nILSVRC2012_val_00000001.JPEG 2\n"
                              "ILSVRC2012_val_00000002.JPEG 0\n";
    CHECK(labels(ImageNetDataset(val.string(), with_ground_truth(write_text("val.txt", named)))) ==
          std::vector<int32_t>{2, 0, 1});
    // The devkit's 1-based ILSVRC2012_IDs are in the devkit's own synset order: with IDs 1 → n03, 2 → n01,
    // 3 → n02, the sorted order is n01 (0), n02 (1), n03 (2), so IDs 1, 2, 3 are classes 2, 0, 1.
    ImageNetOptions devkit;
    devkit.ground_truth = write_text("gt.txt", "1\n2\n3\n");
    devkit.ground_truth_format = GroundTruth::Devkit;
    devkit.devkit_map = write_text("map_clsloc.txt", "n03 1 c\nn01 2 a\nn02 3 b\n");
    CHECK(labels(ImageNetDataset(val.string(), devkit)) == std::vector<int32_t>{2, 0, 1});
    devkit.devkit_map.clear();
    CHECK_THROWS_AS(ImageNetDataset(val.string(), devkit), tern::Error);  // the map is required
    // Wrong line count, or not a number: an error naming the file.
    CHECK_THROWS_WITH_AS(ImageNetDataset(val.string(), with_ground_truth(write_text("short.txt", "1\n2\n"))),
                         doctest::Contains("short.txt has 2 labels but"), tern::Error);
    CHECK_THROWS_WITH_AS(ImageNetDataset(val.string(), with_ground_truth(write_text("bad.txt", "1\nx\n2\n"))),
                         doctest::Contains("bad.txt:2: expected '<label>' or '<name> <label>'"), tern::Error);
}
