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

class PackedModel {
public:
    explicit PackedModel(const std::string& path);  // loads and validates; throws tern::Error naming the file
    // images (N, H, W, C), normalized as in training → logits (N, num_classes)
    Tensor forward(const Tensor& images);
    int64_t num_classes() const { return num_classes_; }
    const nlohmann::json& program() const { return program_; }
    size_t packed_weight_bytes() const;  // the ternary weights as held in memory
    size_t file_bytes() const { return file_bytes_; }

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

    Value run_conv(const nlohmann::json& op, const Value& in, const Value* residual);
    Value run_linear(const nlohmann::json& op, const Value& in);
    Value run_quantize(const nlohmann::json& op, const Value& in);

    std::string path_;
    nlohmann::json program_;
    int64_t num_classes_ = 0;
    size_t file_bytes_ = 0;
    std::map<std::string, Layer> layers_;
    std::vector<std::vector<std::string>> release_after_;  // values no longer needed after op i
};

}  // namespace tern
