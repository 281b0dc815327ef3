// quant/calibrate.h — activation ranges for models trained without LSQ, so the integer engine can still run them
// with 8-bit activations.
//
// A RangeObserver sits in a layer's input-quantizer slot (layers/conv2d.h), passes its input through unchanged
// and records the largest |x| it sees. After a few hundred training images, each observed input gets the 8-bit
// step max|x|/255 (unsigned data) or max|x|/127 (signed data). This is the simple "max" calibration: for CIFAR
// ResNets (whose activations have no extreme outliers) it loses less than percentile clipping would gain.
#pragma once
#include "layers/module.h"

namespace tern {

class RangeObserver : public Module {
public:
    Tensor forward(const Tensor& x) override;  // returns x; updates max_abs / saw_negative
    float max_abs = 0.f;
    bool saw_negative = false;
    int64_t batches = 0;
    // The 8-bit quantization this range implies.
    float step() const;
    int qmax() const { return saw_negative ? 127 : 255; }
};

// Puts a RangeObserver at the input of every ternary layer that has no input quantizer, except the first layer
// unless `include_first` (by default the first layer reads the image in float, as it was trained; a model that
// is ternary end to end — for speed — quantizes the image too, to signed 8 bits). Returns how many were attached.
int attach_range_observers(Module& model, bool include_first = false);

}  // namespace tern
