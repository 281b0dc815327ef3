// data/image.h — decoding JPEG/PNG files into 8-bit RGB, and the torchvision transforms that turn a photo
// into the 224×224×3 normalized floats an ImageNet model expects.
//
//   eval  (torchvision: Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std))
//   train (torchvision: RandomResizedCrop(224), RandomHorizontalFlip(), ToTensor(), Normalize(mean, std))
//
// torchvision runs these on PIL images, so "the same preprocessing" means PIL's resampling. resize_bilinear()
// reproduces Pillow's Image.resize(size, BILINEAR) bit for bit: a separable triangle filter whose support
// widens with the downscale factor (so shrinking averages every input pixel: antialiasing), weights in
// 22-bit fixed point, horizontal pass first, and the intermediate image rounded to 8 bits between the passes
// as Pillow does. The crop/size arithmetic lives in small pure functions that copy torchvision's formulas,
// including Python's round-half-to-even.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace tern {

// An 8-bit RGB image, HWC: pixel (y, x) channel c is pixels[(y * width + x) * 3 + c].
struct Image {
    int height = 0, width = 0;
    std::vector<uint8_t> pixels;
    const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * 3; }
};

// Images larger than this are refused before decoding (a hostile header could ask stb for gigabytes).
constexpr int kMaxImageSide = 20000;
constexpr int64_t kMaxImagePixels = 200'000'000;

// Decodes a JPEG/PNG/BMP/PPM/PGM file with stb_image into RGB: grayscale is replicated into the three
// channels, an alpha channel is dropped, CMYK JPEGs (Adobe) are converted. Anything stb cannot decode (a
// truncated or empty file, a format stb lacks, not an image) is a tern::Error naming the file and the reason.
Image decode_image(const std::string& path);
// The same from a memory buffer; `name` is what error messages call it. `max_pixels` may lower the pixel limit
// (the fuzz harness does, to keep each run short). Any bytes are safe to pass (tests/fuzz/fuzz_image.cpp).
Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                   int64_t max_pixels = kMaxImagePixels);

// ---- Size and crop arithmetic (torchvision 0.14) ----

struct CropBox {
    int top = 0, left = 0, height = 0, width = 0;
};

// Resize(shorter): the shorter side becomes `shorter`, the longer one int(shorter * long / short) (truncated,
// as torchvision's _compute_resized_output_size). Returns {height, width}: 375×500 (h×w) → 256×341.
struct Size2 {
    int height = 0, width = 0;
};
Size2 resize_shorter_side(int height, int width, int shorter);

// CenterCrop: the crop starts at int(round((size − crop) / 2.0)), with Python's round-half-to-even:
// (341 − 224) / 2 = 58.5 → 58, but (343 − 224) / 2 = 59.5 → 60. Requires crop ≤ size.
int center_crop_offset(int size, int crop);

// RandomResizedCrop.get_params: up to 10 tries of an area fraction in [scale_min, scale_max] and a log-uniform
// aspect ratio (w/h) in [ratio_min, ratio_max]; the first box that fits is placed uniformly at random. If
// none fits, the fallback is the central crop of the whole image with its ratio clamped into the range.
CropBox random_resized_crop_box(int height, int width, Rng& rng, double scale_min = 0.08, double scale_max = 1.0,
                                double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);

// ---- Pixel operations ----

// One axis of Pillow's bilinear resampling, as a table: output sample o is
//   out[o] = Σ_k weights[o * taps + k] · in[first[o] + k]  (k < count[o]),  weights in Q22 fixed point.
// The triangle filter has half-width 1 input pixel when enlarging and `in/out` input pixels when shrinking;
// each output's weights are normalized to sum to 1 over the inputs that exist (the border is not padded).
struct ResampleAxis {
    int taps = 0;  // weights stored per output sample (Pillow's ksize)
    std::vector<int> first, count;
    std::vector<int32_t> weights;
};
constexpr int kResampleBits = 22;  // Pillow's PRECISION_BITS: 255 · 2²² still fits an int32 sum
ResampleAxis bilinear_axis(int in_size, int out_size);

// Pillow's img.resize((out_width, out_height), Image.BILINEAR), bit-exact: horizontal pass, rounding to 8
// bits, vertical pass. A pass whose size does not change is skipped (it would be the identity).
Image resize_bilinear(const Image& src, int out_height, int out_width);

// A copy of the box of `src` (PIL's img.crop). The box must lie inside the image.
Image crop(const Image& src, CropBox box);

// ImageNet's per-channel statistics, as in torchvision's Normalize for every pretrained model.
constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};

// ToTensor + Normalize on `box` of `src`: out[y][x][c] = (src[top+y][left+x][c] / 255 − mean[c]) / std[c],
// computed in float32 in the same order as torchvision, so the result is bit-identical to it.
// `flip` mirrors left↔right. out holds box.height × box.width × 3 floats (HWC).
void to_normalized_floats(const Image& src, CropBox box, bool flip, float* out);

// The full transforms. out holds crop_size × crop_size × 3 floats. train_transform draws the crop box, then
// the flip (p = 0.5), from `rng`, in torchvision's order.
void eval_transform(const Image& img, float* out, int resize_to = 256, int crop_size = 224);
void train_transform(const Image& img, float* out, Rng& rng, int crop_size = 224);

}  // namespace tern
