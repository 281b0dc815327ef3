// quant/packed_model.h — the integer inference engine: runs a packed model file (quant/packed_format.h).
//
// One image batch's path: floats (N, 32, 32, 3) → the stem conv in float (as trained) → for each block:
// "quantize" the block input to uint8 codes with the next layer's step → ternary conv (2-bit weights unpacked in
// registers, uint8 × ternary products summed in int32, core/kernels/ternary_conv.h) whose epilogue applies the
// folded BN, the ReLU and the following layer's quantizer and stores uint8 codes directly → ternary conv whose
// epilogue applies BN, adds the float shortcut and the ReLU → … → global average pool → ternary classifier.
// The residual stream between blocks stays float, exactly as in the fake-quantized training graph, so the
// integer engine reproduces the trained model's predictions (up to float rounding in the folded epilogues).
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/kernels/ternary_conv.h"
#include "core/tensor.h"

namespace tern {

struct SafetensorsFile;

class PackedModel {
public:
    // Loads and validates: the program is parsed into typed ops and checked by shape inference from the input
    // (every value's kind and shape, every layer's weights), so a malformed file fails here with a tern::Error
    // naming it — never later in forward().
    explicit PackedModel(const std::string& path);
    PackedModel(const uint8_t* data, size_t size, const std::string& name);  // the same, from memory
    // images (N, H, W, C), normalized as in training → logits (N, num_classes)
    Tensor forward(const Tensor& images);
    int64_t num_classes() const { return num_classes_; }
    const nlohmann::json& program() const { return program_; }
    size_t packed_weight_bytes() const;  // the ternary weights as held in memory
    size_t file_bytes() const { return file_bytes_; }    // the whole file: arrays + the header holding the program
    size_t array_bytes() const { return array_bytes_; }  // the arrays alone (weights, scales, biases)
    int64_t largest_value() const { return largest_value_; }  // elements per image of the largest intermediate

private:
    struct Layer {
        bool ternary = false;
        kernels::PackedTernaryWeights packed;  // ternary layers
        Tensor weight;                         // float layers: (OC, C, k, k) or (OC, C), BN scale folded in
        std::vector<float> scale, bias;        // per output channel: a, b
    };
    // A value of the program: float (Tensor) or uint8 codes (its own buffer) with shape (N, H, W, C) or (N, C).
    struct Value {
        Tensor f;
        std::shared_ptr<Storage> codes;
        Shape shape;
        uint8_t pad_value = 0;  // what padding reads as: 0, or 128 for signed data stored +128
        bool is_codes() const { return codes != nullptr; }
        uint8_t* code_data() const { return static_cast<uint8_t*>(codes->block.ptr); }
    };

    // One op of the program, parsed and checked at load time.
    struct Op {
        enum Kind { Conv, Quantize, ShortcutA, MaxPool, AvgPool, Linear } kind;
        int in = -1, out = -1, residual = -1;  // value ids
        std::string layer;
        int64_t k = 1, stride = 1, pad = 0, cin = 0, cout = 0;
        bool ternary = false, relu = false, is_signed = false, out_codes = false;
        float step = 1.f, out_step = 1.f;
        int qmax = 255, out_qmax = 255;
        std::vector<int> release;  // values no longer needed after this op
    };

    void load(const SafetensorsFile& file);
    Value run_conv(const Op& op, const Value& in, const Value* residual);
    Value run_linear(const Op& op, const Value& in);
    Value run_quantize(const Op& op, const Value& in);

    std::string path_;
    nlohmann::json program_;
    std::vector<Op> ops_;
    int num_values_ = 0, output_ = -1;
    int64_t in_h_ = 0, in_w_ = 0, in_c_ = 0, largest_value_ = 0;
    int64_t num_classes_ = 0;
    size_t file_bytes_ = 0, array_bytes_ = 0;
    std::map<std::string, Layer> layers_;
};

}  // namespace tern
