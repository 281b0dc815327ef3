// quant/model_size.h — how small a ternary model is, in the forms the PTQ paper compares (Section 4.5, 5.1).
//
// Ternary weights are stored as: 2 bits each; or the 27-entry codebook (5 bits per 3 weights); or the codebook
// bytes compressed with LZMA (the 7-zip algorithm). Everything else is FP16, as the paper stores it: the
// full-precision layers (the first conv), biases, and each BatchNorm folded into two vectors (scale, shift).
// The lower bound is the empirical entropy of the ternary weights, −Σ p log₂ p bits per weight over {−1, 0, +1}.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "layers/module.h"

namespace tern {

struct SizeReport {
    int64_t ternary_weights = 0;     // weights of quantized layers
    int64_t fp_parameters = 0;       // full-precision weights and biases (not BN)
    int64_t bn_channels = 0;         // channels of BatchNorm layers (folded into 2 FP16 values each)
    double fp32_bytes = 0;           // the whole model in FP32 (all parameters and BN statistics needed)
    double remainder_fp16_bytes = 0; // fp parameters + folded BN, FP16
    double bits_2bit = 0, bits_codebook = 0, bits_lzma = 0, bits_entropy = 0;  // ternary weights only
    double zero_fraction = 0;
    double bytes(double ternary_bits) const { return ternary_bits / 8 + remainder_fp16_bytes; }
    std::string table() const;
    nlohmann::json to_json() const;
};

SizeReport model_size_report(Module& model);

}  // namespace tern
