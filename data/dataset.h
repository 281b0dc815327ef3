// data/dataset.h — what a dataset is to tern: a count and a way to produce sample i as NHWC floats.
// CIFAR (data/cifar.h) and ImageNet (data/imagenet.h) implement it; the DataLoader (data/loader.h) batches it.
// get() must be safe to call from several threads at once (the loader's workers do).
#pragma once
#include <cstdint>
#include <string>

#include "core/rng.h"

namespace tern {

struct SampleShape {
    int64_t height = 0, width = 0, channels = 0;
    int64_t numel() const { return height * width * channels; }
};

class Dataset {
public:
    virtual ~Dataset() = default;
    virtual int64_t size() const = 0;
    virtual SampleShape sample_shape() const = 0;  // shape of one transformed sample (H, W, C)
    // Writes sample i, transformed, into out[H*W*C] (HWC order) and returns its label. `rng` is this sample's
    // own generator (derived from seed, epoch and i by the loader) for random augmentation.
    virtual int32_t get(int64_t i, float* out, Rng& rng) const = 0;
    // A short description for logs ("CIFAR-10 train, 50000 images").
    virtual std::string describe() const = 0;
};

}  // namespace tern
