// quant/packed_format.h — the packed ternary model file: what `train_cifar --export` writes and the integer
// inference engine (quant/packed_model.h) runs.
//
// A safetensors container (core/safetensors.h):
//   <layer>.w2      U8   ternary weights, 2 bits each: value w+1 ∈ {0, 1, 2}, weight i of the layer's (OC, C, KH, KW)
//                        order at bits 2·(i mod 4) of byte i/4 (little end first)
//   <layer>.w5      U8   (optional) the same weights in PTQ's 27-entry codebook form, 5 bits per 3 weights
//                        (quant/codebook.h), rows = output channels padded to a multiple of 3
//   <layer>.weight  F32  a layer kept in full precision (the first conv when it was trained that way)
//   <layer>.scale   F32  per output channel: the multiplier a of the integer accumulator (BN, weight scale and
//                        input step folded together)
//   <layer>.bias    F32  per output channel: the additive b (BN shift, conv/linear bias)
//   __metadata__ "tern.packed": a JSON program — the input description and a list of ops over named values:
//     {"op": "conv",      "in", "out", "layer", "ternary": bool, "k", "stride", "pad", "cin", "cout",
//                         "relu": bool, "residual": value or "", "out_q": {"step", "qmax"} or absent}
//     {"op": "quantize",  "in", "out", "step", "qmax", "signed"}     float → uint8 codes round(x/step) (+128 if signed)
//     {"op": "shortcut_a","in", "out", "cout", "stride"}             option-A: subsample + zero channel padding
//     {"op": "maxpool",   "in", "out", "k", "stride", "pad"}
//     {"op": "avgpool",   "in", "out"}                               global average → (N, C)
//     {"op": "linear",    "in", "out", "layer", "ternary", "cin", "cout"}
//   A conv/linear reads uint8 codes when ternary (its input is a "quantize" output or another conv's out_q),
//   floats otherwise. Its output is: uint8 codes if "out_q" (ReLU, BN and the next layer's quantizer fused:
//   clamp(round((a·acc + b)/step), 0, qmax)), else floats a·acc + b (+ residual) (then ReLU).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/module.h"

namespace tern {

// 2-bit file packing of ternary codes (values −1, 0, +1), and back.
std::vector<uint8_t> pack_ternary_2bit(const std::vector<int8_t>& codes);
std::vector<int8_t> unpack_ternary_2bit(const std::vector<uint8_t>& packed, int64_t count);

struct ExportOptions {
    bool codebook = false;  // also store the 5-bit codebook form (.w5)
    std::string model_name;
};

// Writes `model` (a CIFAR ResNet or a torchvision ResNet with weight quantizers attached, and LSQ input quantizers
// or calibration observers at every quantized layer's input) as a packed model file. Throws if a ternary layer's input has no
// quantization step (run calibrate_activations first for models trained without LSQ).
void export_packed(Module& model, const std::string& path, const ExportOptions& options);

}  // namespace tern
