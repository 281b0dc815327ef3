// data/image.cpp — stb_image decoding, Pillow-exact bilinear resampling, and the torchvision transforms.
#include "data/image.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"

namespace tern {

// ---- Decoding ----

namespace {
// stb_image ≥ 2.24 keeps its failure reason in a thread-local variable (Debian's libstb is 2.27, built with
// it), so reading it on a loader worker thread is safe; tests/test_imagenet.cpp checks this.
const char* stb_reason() {
    const char* reason = stbi_failure_reason();
    return reason ? reason : "unknown reason";
}

// stb_image 2.27 (Debian's libstb) has two holes in its JPEG Huffman tables (found by tests/fuzz/fuzz_image.cpp,
// both fixed in later stb versions):
//  - it trusts the 16 code counts of a table (a DHT segment): when they add up to more than 256 it writes past
//    its 257-entry size table and 256-entry value table, corrupting the decoder's state;
//  - it does not initialize the tables, so a scan that uses a table no DHT defined decodes with whatever the
//    memory held: an assertion in Debian's build (abort() takes the whole program down), out-of-bounds reads
//    without it (CVE-2022-29977).
// stbi_info already parses DHT segments, so we walk the JPEG's segments first, the way stb does, and refuse
// both. Returns what is wrong, or null; anything else (not a JPEG, truncated, other damage) is left to stb.
const char* jpeg_huffman_problem(const uint8_t* p, size_t n) {
    size_t i = 0;  // the SOI marker, FF D8 — with any number of FF fill bytes between, as stb accepts it
    while (i < n && p[i] == 0xFF) ++i;
    if (i < 1 || i >= n || p[i] != 0xD8) return nullptr;  // not a JPEG
    ++i;
    // stb reads a byte past the end of the data as 0 and goes on, so a cut-off segment counts too.
    auto byte = [&](size_t j) -> size_t { return j < n ? p[j] : 0; };
    bool dc_defined[4] = {}, ac_defined[4] = {}, progressive = false;
    while (i + 4 <= n) {
        if (p[i] != 0xFF) {  // entropy-coded data after SOS (or garbage): skip to the next marker
            ++i;
            continue;
        }
        const uint8_t marker = p[i + 1];
        if (marker == 0xFF) {  // a fill byte
            ++i;
            continue;
        }
        if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // FF00 stuffing, TEM, RSTn:
            i += 2;                                                                      // no length field
            continue;
        }
        if (marker == 0xD9) break;  // EOI
        const size_t length = size_t(p[i + 2]) << 8 | p[i + 3];  // counts its own 2 bytes
        if (marker == 0xC2) progressive = true;  // SOF2
        if (marker == 0xC4) {  // DHT: tables of [class << 4 | id][16 counts][the sum of the counts values]
            for (size_t t = i + 4; t < i + 2 + length;) {
                size_t codes = 0;
                for (size_t k = 1; k <= 16; ++k) codes += byte(t + k);
                if (codes > 256) return "corrupt JPEG (a Huffman table defines more than 256 codes)";
                const size_t table_class = byte(t) >> 4, id = byte(t) & 15;
                if (table_class <= 1 && id <= 3) (table_class == 0 ? dc_defined : ac_defined)[id] = true;
                t += 17 + codes;
            }
        }
        if (marker == 0xDA) {  // SOS: [count][per component: id, DC table << 4 | AC table][Ss][Se][Ah << 4 | Al]
            const size_t count = byte(i + 4);
            const size_t ss = byte(i + 5 + 2 * count), ah = byte(i + 7 + 2 * count) >> 4;
            // A sequential scan decodes with both tables; a progressive one with the DC table in a first DC
            // scan (Ss = 0, Ah = 0), none in a DC refinement, the AC table in an AC scan (Ss > 0).
            const bool needs_dc = !progressive || (ss == 0 && ah == 0), needs_ac = !progressive || ss > 0;
            for (size_t c = 0; c < count && c < 4; ++c) {
                const size_t dc = byte(i + 6 + 2 * c) >> 4, ac = byte(i + 6 + 2 * c) & 15;
                if ((needs_dc && dc <= 3 && !dc_defined[dc]) || (needs_ac && ac <= 3 && !ac_defined[ac]))
                    return "corrupt JPEG (a scan uses a Huffman table that was never defined)";
            }
        }
        i += 2 + std::max<size_t>(length, 2);
    }
    return nullptr;
}

// stb_image 2.27 grows its buffer for a PNG's compressed data (IDAT chunks) to the length a chunk header
// claims before it checks that the bytes are there: a 254-byte file claiming a 1.7 GB chunk makes it allocate
// 1.7 GB (found by tests/fuzz/fuzz_image.cpp). We walk the chunks first — [length: u32 big-endian][type: 4]
// [data: length][CRC: 4] — and refuse one that runs past the end of the file. Returns false for such a chunk.
bool png_chunks_fit(const uint8_t* p, size_t n) {
    static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n < 8 || !std::equal(kSignature, kSignature + 8, p)) return true;  // not a PNG
    for (size_t i = 8; i + 8 <= n;) {
        const uint64_t length = uint64_t(p[i]) << 24 | uint64_t(p[i + 1]) << 16 | uint64_t(p[i + 2]) << 8 | p[i + 3];
        if (length > n - i - 8) return false;  // the data alone does not fit in what is left
        if (std::equal(p + i + 4, p + i + 8, "IEND")) break;
        i += 12 + size_t(length);
    }
    return true;
}

// stb_image 2.27 reads the width, height and maximum value of a binary PGM/PPM header ("P5"/"P6") into an int
// without an overflow check: "P5 7777777777 …" is signed overflow, undefined behaviour, and wraps to some
// other size. And a 16-bit file (maximum value above 255) of one channel, asked for as RGB, goes through its
// 8-bit channel conversion and then its 16→8-bit one, which reads past the end of the converted buffer (both
// found by tests/fuzz/fuzz_image.cpp; stb 2.28 fixes them). We read the three numbers first, skipping
// whitespace and #-comments as stb does. Returns what is wrong, or null if nothing is.
const char* pnm_header_problem(const uint8_t* p, size_t n) {
    if (n < 2 || p[0] != 'P' || (p[1] != '5' && p[1] != '6')) return nullptr;  // not a binary PGM/PPM
    auto space = [](uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
    size_t i = 2;
    int64_t value = 0;
    for (int number = 0; number < 3; ++number) {  // width, height, maximum value
        for (;;) {  // whitespace, then a comment to the end of its line, repeatedly
            while (i < n && space(p[i])) ++i;
            if (i >= n || p[i] != '#') break;
            while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
        }
        value = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; ++i)
            if ((value = value * 10 + (p[i] - '0')) > INT_MAX) return "corrupt PGM/PPM header (a number above 2147483647)";
    }
    if (value > 255) return "16-bit PGM/PPM is not supported (maximum value above 255)";
    return nullptr;
}
}  // namespace

Image decode_image(const std::string& path) {
    std::error_code error;
    const uintmax_t size = std::filesystem::file_size(path, error);  // fails for a missing file or a directory
    TERN_CHECK(!error, "decode_image: cannot open " << path << " (" << error.message() << ")");
    TERN_CHECK(size <= uintmax_t(INT_MAX), path << ": " << size << " bytes is more than stb_image can read");
    std::vector<uint8_t> bytes(size);
    std::ifstream file(path, std::ios::binary);
    file.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()));
    TERN_CHECK(file, "decode_image: cannot read " << path);
    return decode_image(bytes.data(), bytes.size(), path);
}

Image decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
    TERN_CHECK(size > 0, name << ": empty file (0 bytes), not an image");
    TERN_CHECK(size <= size_t(INT_MAX), name << ": " << size << " bytes is more than stb_image can read");
    const char* jpeg_problem = jpeg_huffman_problem(data, size);
    TERN_CHECK(!jpeg_problem, name << ": " << jpeg_problem);
    TERN_CHECK(png_chunks_fit(data, size), name << ": truncated or corrupt PNG (a chunk runs past the end of the file)");
    const char* pnm_problem = pnm_header_problem(data, size);
    TERN_CHECK(!pnm_problem, name << ": " << pnm_problem);
    const int len = int(size);

    // Read the header first, so a huge claimed size is refused before anything is allocated.
    int width = 0, height = 0, channels = 0;
    TERN_CHECK(stbi_info_from_memory(data, len, &width, &height, &channels),
               name << ": not a decodable image (stb_image: " << stb_reason() << ")");
    // stb_info reports a top-down BMP's height as negative (the decoder then flips it): compare magnitudes, or a
    // 57-byte BMP claiming 13 × −638242 pixels slips past the limit (found by tests/fuzz/fuzz_image.cpp).
    const int64_t w = std::llabs(width), h = std::llabs(height);
    TERN_CHECK(w <= kMaxImageSide && h <= kMaxImageSide && w * h <= max_pixels,
               name << ": image of " << w << "x" << h << " exceeds the limit of " << kMaxImageSide
                    << " px per side and " << max_pixels << " pixels");

    // Ask for 3 channels: stb replicates gray, drops alpha, converts CMYK/YCCK.
    std::unique_ptr<uint8_t, void (*)(void*)> pixels(stbi_load_from_memory(data, len, &width, &height, &channels, 3),
                                                     stbi_image_free);
    TERN_CHECK(pixels, name << ": cannot decode image (stb_image: " << stb_reason() << ")");
    TERN_CHECK(width <= kMaxImageSide && height <= kMaxImageSide && int64_t(width) * height <= max_pixels,
               name << ": decoded image of " << width << "x" << height << " exceeds the limit");  // defence in depth
    Image img;
    img.height = height;
    img.width = width;
    img.pixels.assign(pixels.get(), pixels.get() + size_t(width) * height * 3);
    return img;
}

// ---- Size and crop arithmetic ----

namespace {
// Python's round(): halves go to the even neighbour. std::nearbyint does that in the default rounding mode.
int round_half_even(double v) { return int(std::nearbyint(v)); }
}  // namespace

Size2 resize_shorter_side(int height, int width, int shorter) {
    TERN_CHECK(height > 0 && width > 0 && shorter > 0,
               "resize_shorter_side: sizes must be positive, got " << height << "x" << width << " → " << shorter);
    const int short_side = std::min(height, width), long_side = std::max(height, width);
    // Python: int(requested_new_short * long / short) — an exact integer product, one rounded division.
    const double new_long_exact = double(int64_t(shorter) * long_side) / short_side;
    TERN_CHECK(new_long_exact < double(INT_MAX), "resize_shorter_side: " << height << "x" << width << " → "
                                                  << shorter << " makes the longer side too large");
    const int new_long = int(new_long_exact);
    return width <= height ? Size2{new_long, shorter} : Size2{shorter, new_long};
}

int center_crop_offset(int size, int crop) {
    TERN_CHECK(0 < crop && crop <= size, "center_crop_offset: crop " << crop << " does not fit in " << size);
    return round_half_even((size - crop) / 2.0);
}

CropBox random_resized_crop_box(int height, int width, Rng& rng, double scale_min, double scale_max, double ratio_min,
                                double ratio_max) {
    TERN_CHECK(height > 0 && width > 0, "random_resized_crop_box: empty image " << height << "x" << width);
    const double area = double(height) * width;
    const double log_ratio_min = std::log(ratio_min), log_ratio_max = std::log(ratio_max);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const double target_area = area * (scale_min + (scale_max - scale_min) * rng.uniform());
        const double aspect = std::exp(log_ratio_min + (log_ratio_max - log_ratio_min) * rng.uniform());  // w / h
        const int w = round_half_even(std::sqrt(target_area * aspect));
        const int h = round_half_even(std::sqrt(target_area / aspect));
        if (0 < w && w <= width && 0 < h && h <= height) {
            const int top = int(rng.below(uint32_t(height - h + 1)));
            const int left = int(rng.below(uint32_t(width - w + 1)));
            return {top, left, h, w};
        }
    }
    // Fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
    const double in_ratio = double(width) / height;
    int w = width, h = height;
    if (in_ratio < ratio_min) h = round_half_even(w / ratio_min);
    else if (in_ratio > ratio_max) w = round_half_even(h * ratio_max);
    return {(height - h) / 2, (width - w) / 2, h, w};
}

// ---- Resampling ----

ResampleAxis bilinear_axis(int in_size, int out_size) {
    TERN_CHECK(in_size > 0 && out_size > 0,
               "bilinear_axis: sizes must be positive, got " << in_size << " → " << out_size);
    const double scale = double(in_size) / out_size;         // input pixels per output pixel
    const double filter_scale = std::max(scale, 1.0);        // stretch the triangle only when shrinking
    const double support = 1.0 * filter_scale;               // triangle half-width in input pixels
    const double inv_filter_scale = 1.0 / filter_scale;

    ResampleAxis axis;
    axis.taps = int(std::ceil(support)) * 2 + 1;
    axis.first.resize(out_size);
    axis.count.resize(out_size);
    axis.weights.assign(size_t(out_size) * axis.taps, 0);
    std::vector<double> w(axis.taps);
    for (int o = 0; o < out_size; ++o) {
        const double center = (o + 0.5) * scale;  // centre of output pixel o, in input coordinates
        // The window [lo, hi) of input pixels under the triangle. int(v + 0.5) truncates toward zero, as in
        // Pillow, and the window is clipped to the image: missing border pixels get no weight.
        const int lo = std::max(int(center - support + 0.5), 0);
        const int hi = std::min(int(center + support + 0.5), in_size);
        double sum = 0;
        for (int k = 0; k < hi - lo; ++k) {
            const double d = std::fabs((lo + k - center + 0.5) * inv_filter_scale);  // distance to pixel centre
            w[k] = d < 1.0 ? 1.0 - d : 0.0;
            sum += w[k];
        }
        axis.first[o] = lo;
        axis.count[o] = hi - lo;
        for (int k = 0; k < hi - lo; ++k) {
            const double normalized = sum != 0.0 ? w[k] / sum : w[k];
            axis.weights[size_t(o) * axis.taps + k] = int32_t(0.5 + normalized * (1 << kResampleBits));
        }
    }
    return axis;
}

namespace {
constexpr int32_t kHalf = 1 << (kResampleBits - 1);  // rounds the fixed-point sum to nearest

uint8_t clip8(int32_t v) { return uint8_t(std::clamp(v >> kResampleBits, 0, 255)); }

// Resamples every row of src along x: (H, W_in, 3) → (H, W_out, 3).
Image resample_horizontal(const Image& src, const ResampleAxis& ax, int out_width) {
    Image out;
    out.height = src.height;
    out.width = out_width;
    out.pixels.resize(size_t(out.height) * out_width * 3);
    for (int y = 0; y < src.height; ++y) {
        const uint8_t* in = src.row(y);
        uint8_t* o = out.pixels.data() + size_t(y) * out_width * 3;
        for (int x = 0; x < out_width; ++x) {
            const int32_t* k = &ax.weights[size_t(x) * ax.taps];
            const uint8_t* p = in + size_t(ax.first[x]) * 3;
            int32_t r = kHalf, g = kHalf, b = kHalf;
            for (int t = 0; t < ax.count[x]; ++t, p += 3) {
                r += p[0] * k[t];
                g += p[1] * k[t];
                b += p[2] * k[t];
            }
            o[3 * x + 0] = clip8(r);
            o[3 * x + 1] = clip8(g);
            o[3 * x + 2] = clip8(b);
        }
    }
    return out;
}

// Resamples along y: each output row is a weighted sum of whole input rows, so the inner loop runs over the
// W·3 bytes of a row and vectorizes.
Image resample_vertical(const Image& src, const ResampleAxis& ay, int out_height) {
    Image out;
    out.height = out_height;
    out.width = src.width;
    const size_t row_len = size_t(src.width) * 3;
    out.pixels.resize(out_height * row_len);
    std::vector<int32_t> acc(row_len);
    for (int y = 0; y < out_height; ++y) {
        std::fill(acc.begin(), acc.end(), kHalf);
        const int32_t* k = &ay.weights[size_t(y) * ay.taps];
        for (int t = 0; t < ay.count[y]; ++t) {
            const uint8_t* in = src.row(ay.first[y] + t);
            const int32_t kt = k[t];
            for (size_t j = 0; j < row_len; ++j) acc[j] += in[j] * kt;
        }
        uint8_t* o = out.pixels.data() + y * row_len;
        for (size_t j = 0; j < row_len; ++j) o[j] = clip8(acc[j]);
    }
    return out;
}
}  // namespace

Image resize_bilinear(const Image& src, int out_height, int out_width) {
    TERN_CHECK(src.height > 0 && src.width > 0 && out_height > 0 && out_width > 0,
               "resize_bilinear: cannot resize " << src.height << "x" << src.width << " to " << out_height << "x"
                                                 << out_width);
    // The 8-bit intermediate after the horizontal pass is what Pillow does; keeping more bits would be
    // (very slightly) more accurate but would no longer match the pretrained models' preprocessing.
    Image horizontal =
        src.width == out_width ? src : resample_horizontal(src, bilinear_axis(src.width, out_width), out_width);
    if (src.height == out_height) return horizontal;
    return resample_vertical(horizontal, bilinear_axis(src.height, out_height), out_height);
}

Image crop(const Image& src, CropBox box) {
    TERN_CHECK(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
                   box.top + box.height <= src.height && box.left + box.width <= src.width,
               "crop: box (top " << box.top << ", left " << box.left << ", " << box.height << "x" << box.width
                                 << ") is not inside the " << src.height << "x" << src.width << " image");
    Image out;
    out.height = box.height;
    out.width = box.width;
    out.pixels.resize(size_t(box.height) * box.width * 3);
    for (int y = 0; y < box.height; ++y)
        std::copy_n(src.row(box.top + y) + size_t(box.left) * 3, size_t(box.width) * 3,
                    out.pixels.data() + size_t(y) * box.width * 3);
    return out;
}

// ---- To floats ----

namespace {
// lut[c][v] = (v / 255 − mean[c]) / std[c] in float32: ToTensor's div(255), then Normalize's sub_ and div_.
struct NormalizeTable {
    float lut[3][256];
    NormalizeTable() {
        for (int c = 0; c < 3; ++c)
            for (int v = 0; v < 256; ++v) lut[c][v] = (float(v) / 255.f - kImageNetMean[c]) / kImageNetStd[c];
    }
};
const NormalizeTable& normalize_table() {
    static const NormalizeTable table;  // thread-safe initialization (C++11 magic statics)
    return table;
}
}  // namespace

void to_normalized_floats(const Image& src, CropBox box, bool flip, float* out) {
    TERN_CHECK(box.top >= 0 && box.left >= 0 && box.top + box.height <= src.height && box.left + box.width <= src.width,
               "to_normalized_floats: box (top " << box.top << ", left " << box.left << ", " << box.height << "x"
                                                  << box.width << ") is not inside the " << src.height << "x"
                                                  << src.width << " image");
    const auto& lut = normalize_table().lut;
    for (int y = 0; y < box.height; ++y) {
        const uint8_t* in = src.row(box.top + y) + size_t(box.left) * 3;
        float* o = out + size_t(y) * box.width * 3;
        for (int x = 0; x < box.width; ++x) {
            const uint8_t* p = in + size_t(flip ? box.width - 1 - x : x) * 3;
            o[3 * x + 0] = lut[0][p[0]];
            o[3 * x + 1] = lut[1][p[1]];
            o[3 * x + 2] = lut[2][p[2]];
        }
    }
}

void eval_transform(const Image& img, float* out, int resize_to, int crop_size) {
    TERN_CHECK(crop_size <= resize_to,
               "eval_transform: crop " << crop_size << " is larger than the resize " << resize_to);
    const Size2 size = resize_shorter_side(img.height, img.width, resize_to);
    // A 20000×1 image (a few bytes of PNG) would become 256×5,120,000: refuse such shapes before allocating.
    TERN_CHECK(int64_t(size.height) * size.width <= kMaxImagePixels,
               "eval_transform: a " << img.height << "x" << img.width << " image resized to " << size.height << "x"
                                    << size.width << " exceeds the limit of " << kMaxImagePixels << " pixels");
    const Image resized = resize_bilinear(img, size.height, size.width);
    const CropBox box{center_crop_offset(size.height, crop_size), center_crop_offset(size.width, crop_size), crop_size,
                      crop_size};
    to_normalized_floats(resized, box, /*flip=*/false, out);
}

void train_transform(const Image& img, float* out, Rng& rng, int crop_size) {
    const CropBox box = random_resized_crop_box(img.height, img.width, rng);
    const Image resized = resize_bilinear(crop(img, box), crop_size, crop_size);
    const bool flip = rng.uniform() < 0.5f;
    to_normalized_floats(resized, {0, 0, crop_size, crop_size}, flip, out);
}

}  // namespace tern
