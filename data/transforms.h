// data/transforms.h — turning a uint8 HWC image into the float input a network sees: the CIFAR training
// augmentation (random crop with zero padding, random horizontal flip) and ToTensor + Normalize.
//
// It reproduces torchvision's
//     RandomCrop(32, padding=4) → RandomHorizontalFlip(p=0.5) → ToTensor() → Normalize(mean, std)
// in one pass: every output pixel is looked up in the source (crop_flip_source), so no padded copy is made.
// Padding is applied to the bytes, before normalization, so a padded pixel is 0 in [0, 255] and becomes
// (0 − mean) / std after normalization, exactly as in torchvision.
#pragma once
#include <array>
#include <cstdint>

#include "core/rng.h"

namespace tern {

// Per-channel statistics of images scaled to [0, 1]: x ↦ (x − mean[c]) / std[c].
struct Normalization {
    std::array<float, 3> mean, std;
};
constexpr Normalization kCifarStats{{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
constexpr Normalization kImageNetStats{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
constexpr Normalization kNoNormalization{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};  // ToTensor only: x / 255

// Where a crop is taken and whether it is mirrored. The crop window has the image's own size and starts at
// (oy, ox) in the image padded by `pad` pixels on every side, so oy, ox ∈ [0, 2·pad]. The identity
// (no augmentation) is {0, 0, 0, false}.
struct CropFlip {
    int oy = 0, ox = 0;
    int pad = 0;
    bool flip = false;
};

struct PixelIndex {
    int y, x;
};

// The source pixel that output pixel (y, x) shows, for an image `width` pixels wide: crop first, then flip
// (torchvision's order), so x is mirrored inside the crop window:
//     x' = flip ? width − 1 − x : x        sy = y + oy − pad        sx = x' + ox − pad
// A result outside the image (sy or sx < 0 or ≥ the size) is padding.
inline PixelIndex crop_flip_source(int y, int x, const CropFlip& t, int width) {
    const int xf = t.flip ? width - 1 - x : x;
    return {y + t.oy - t.pad, xf + t.ox - t.pad};
}

// Draws a crop offset in each direction uniformly from [0, 2·pad], then flips with probability 1/2 (when
// `flip` is on); the same draws as torchvision's RandomCrop(padding=pad) + RandomHorizontalFlip().
CropFlip random_crop_flip(Rng& rng, int pad, bool flip);

// out[y, x, c] = (src[sy, sx, c] / 255 − mean[c]) / std[c], with (sy, sx) = crop_flip_source(y, x) and
// src = 0 where that is padding. src and out are HWC, height × width × channels (channels ≤ 3).
void crop_flip_normalize(const uint8_t* src, int height, int width, int channels, const CropFlip& t,
                         const Normalization& norm, float* out);

}  // namespace tern
