// data/transforms.cpp — see transforms.h.
#include "data/transforms.h"

#include "core/error.h"

namespace tern {

CropFlip random_crop_flip(Rng& rng, int pad, bool flip) {
    TERN_CHECK(pad >= 0, "random_crop_flip: padding must be >= 0, got " << pad);
    CropFlip t;
    t.pad = pad;
    t.oy = int(rng.below(uint32_t(2 * pad + 1)));
    t.ox = int(rng.below(uint32_t(2 * pad + 1)));
    t.flip = flip && rng.below(2) == 1;
    return t;
}

void crop_flip_normalize(const uint8_t* src, int height, int width, int channels, const CropFlip& t,
                         const Normalization& norm, float* out) {
    TERN_CHECK(channels >= 1 && channels <= 3, "crop_flip_normalize: images must have 1 to 3 channels, got "
                                                   << channels);
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            const PixelIndex s = crop_flip_source(y, x, t, width);
            const bool inside = s.y >= 0 && s.y < height && s.x >= 0 && s.x < width;
            const uint8_t* pixel = inside ? src + (int64_t(s.y) * width + s.x) * channels : nullptr;
            float* o = out + (int64_t(y) * width + x) * channels;
            for (int c = 0; c < channels; ++c) {
                const float v = pixel ? float(pixel[c]) : 0.f;  // zero padding, in [0, 255] units
                o[c] = (v / 255.f - norm.mean[c]) / norm.std[c];
            }
        }
    }
}

}  // namespace tern
