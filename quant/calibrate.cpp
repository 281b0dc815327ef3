// quant/calibrate.cpp — range observers for 8-bit calibration.
#include "quant/calibrate.h"

#include <cmath>

#include "quant/quantize_model.h"

namespace tern {

Tensor RangeObserver::forward(const Tensor& x_in) {
    const Tensor x = contiguous_data(x_in);
    for (int64_t i = 0; i < x.numel(); ++i) {
        const float v = x.data()[i];
        max_abs = std::max(max_abs, std::fabs(v));
        saw_negative = saw_negative || v < 0.f;
    }
    ++batches;
    return x_in;
}

float RangeObserver::step() const { return std::max(max_abs, 1e-8f) / float(qmax()); }

int attach_range_observers(Module& model, bool include_first) {
    int attached = 0;
    const std::vector<QuantLayer> layers = weight_layers(model);
    for (size_t i = include_first ? 0 : 1; i < layers.size(); ++i) {
        const QuantLayer& l = layers[i];
        if (!l.quantizer) continue;  // full-precision layers keep float inputs
        if (l.layer->input_quantizer()) continue;  // LSQ (or an observer already)
        l.layer->set_input_quantizer(std::make_shared<RangeObserver>());
        ++attached;
    }
    return attached;
}

}  // namespace tern
