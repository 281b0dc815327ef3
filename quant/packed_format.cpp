// quant/packed_format.cpp — writing a CIFAR ResNet as a packed model file (format in packed_format.h).
#include "quant/packed_format.h"

#include <cmath>

#include "core/error.h"
#include "core/safetensors.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "models/resnet_cifar.h"
#include "models/resnet_imagenet.h"
#include "quant/calibrate.h"
#include "quant/codebook.h"
#include "quant/lsq.h"
#include "quant/weight_quantizer.h"

namespace tern {

std::vector<uint8_t> pack_ternary_2bit(const std::vector<int8_t>& codes) {
    std::vector<uint8_t> out((codes.size() + 3) / 4, 0);
    for (size_t i = 0; i < codes.size(); ++i) {
        TERN_CHECK(codes[i] >= -1 && codes[i] <= 1, "pack_ternary_2bit: " << int(codes[i]) << " is not ternary");
        out[i / 4] |= uint8_t(codes[i] + 1) << (2 * (i % 4));
    }
    return out;
}

std::vector<int8_t> unpack_ternary_2bit(const std::vector<uint8_t>& packed, int64_t count) {
    TERN_CHECK(count >= 0 && int64_t(packed.size()) * 4 >= count,
               "unpack_ternary_2bit: " << packed.size() << " bytes hold fewer than " << count << " weights");
    std::vector<int8_t> out(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        const int v = (packed[size_t(i / 4)] >> (2 * (i % 4))) & 3;
        TERN_CHECK(v != 3, "packed weights: code 3 at weight " << i << " is not a ternary value");
        out[size_t(i)] = int8_t(v - 1);
    }
    return out;
}

namespace {

using json = nlohmann::json;

// How a layer's input is quantized: from its LSQ quantizer or its calibration observer.
struct InputQuant {
    bool present = false;
    float step = 1.f;
    int qmax = 255;
    bool is_signed = false;
};

InputQuant input_quant(Module* q) {
    InputQuant r;
    if (auto* l = dynamic_cast<LsqQuantizer*>(q)) {
        TERN_CHECK(l->initialized(), "export: an LSQ quantizer has never seen data (train or evaluate first)");
        r = {true, l->step(), l->qp(), l->is_signed()};
        if (r.is_signed) TERN_CHECK(l->qn() <= 128 && l->qp() <= 127, "export: signed activations wider than 8 bits");
    } else if (auto* o = dynamic_cast<RangeObserver*>(q)) {
        TERN_CHECK(o->batches > 0, "export: a calibration observer has seen no data");
        r = {true, o->step(), o->qmax(), o->saw_negative};
    } else {
        TERN_CHECK(q == nullptr, "export: unsupported input quantizer");
    }
    return r;
}

class Exporter {
public:
    Exporter(const ExportOptions& o) : options_(o) {}

    // Emits the ops of one conv (+ its BN, folded) reading value `in`; returns the output value's name.
    // `in_is_codes`: `in` already holds this layer's input codes (a previous conv fused the quantizer), else
    // floats (quantized here when the layer is ternary). `out_q`: the next layer's input quantization to fuse
    // (uint8 output, ReLU implied), or null for float output.
    std::string conv(const std::string& name, Conv2d& c, BatchNorm2d* bn, const std::string& in, bool in_is_codes,
                     bool relu, const std::string& residual, const InputQuant* out_q) {
        const InputQuant iq = input_quant(c.input_quantizer());
        auto* wq = dynamic_cast<WeightQuantizer*>(c.weight_quantizer());
        const bool ternary = wq != nullptr && iq.present;
        TERN_CHECK(!in_is_codes || ternary, "export: " << name << " receives codes but is not a quantized layer");
        const std::string x = ternary && !in_is_codes ? quantize(in, iq) : in;
        const int64_t OC = c.config.out_channels;
        std::vector<float> a(static_cast<size_t>(OC), 1.f), b(static_cast<size_t>(OC), 0.f);
        fold_bn(bn, c.bias, a, b);
        store_weights(name, c, ternary ? wq : nullptr, iq, a, b);
        add_vector(name + ".scale", a);
        add_vector(name + ".bias", b);
        const std::string out = fresh();
        json op = {{"op", "conv"},   {"in", x},          {"out", out},          {"layer", name},
                   {"ternary", ternary}, {"k", c.config.kernel}, {"stride", c.config.stride},
                   {"pad", c.config.padding}, {"cin", c.config.in_channels}, {"cout", OC}, {"relu", relu},
                   {"residual", residual}};
        TERN_CHECK(c.config.groups == 1, "export: grouped convolutions are not supported by the packed engine");
        if (out_q) op["out_q"] = {{"step", out_q->step}, {"qmax", out_q->qmax}};
        ops_.push_back(op);
        return out;
    }

    std::string linear(const std::string& name, Linear& l, const std::string& in_float) {
        const InputQuant iq = input_quant(l.input_quantizer());
        auto* wq = dynamic_cast<WeightQuantizer*>(l.weight_quantizer());
        const bool ternary = wq != nullptr && iq.present;
        std::string in = in_float;
        if (ternary) in = quantize(in_float, iq);
        std::vector<float> a(static_cast<size_t>(l.out_features), 1.f), b(static_cast<size_t>(l.out_features), 0.f);
        if (l.bias.defined())
            for (int64_t o = 0; o < l.out_features; ++o) b[o] = l.bias.data()[o];
        store_weights(name, l, ternary ? wq : nullptr, iq, a, b);
        add_vector(name + ".scale", a);
        add_vector(name + ".bias", b);
        const std::string out = fresh();
        ops_.push_back({{"op", "linear"}, {"in", in}, {"out", out}, {"layer", name}, {"ternary", ternary},
                        {"cin", l.in_features}, {"cout", l.out_features}});
        return out;
    }

    // The layer's weights: 2-bit codes when ternary (`wq` set) — the accumulator then counts input codes × weight
    // codes, y = step·scale[o]·acc, so a[o] takes step·scale[o]; signed inputs are stored +128, so
    // acc_stored = acc + 128·Σw and b[o] −= a[o]·128·Σw — or the float weights otherwise.
    void store_weights(const std::string& name, QuantizableLayer& layer, WeightQuantizer* wq, const InputQuant& iq,
                       std::vector<float>& a, std::vector<float>& b) {
        if (!wq) {
            arrays_.push_back(tensor_to_array(name + ".weight", contiguous_data(layer.effective_weight()).detach()));
            return;
        }
        const Tensor codes = contiguous_data(wq->codes(layer.weight)), scales = contiguous_data(wq->scales(layer.weight));
        add_ternary_weights(name, codes);
        const int64_t OC = int64_t(a.size()), per_oc = codes.numel() / OC;
        for (int64_t o = 0; o < OC; ++o) {
            a[o] *= iq.step * scales.data()[o];
            if (!iq.is_signed) continue;
            double sw = 0;
            for (int64_t k = 0; k < per_oc; ++k) sw += codes.data()[o * per_oc + k];
            b[o] -= a[o] * 128.f * float(sw);
        }
    }

    std::string simple(json op) {
        op["out"] = fresh();
        ops_.push_back(op);
        return op["out"];
    }

    void write(const std::string& path, const json& input, int64_t num_classes, const std::string& output) {
        json program = {{"format", "tern-packed-v1"}, {"model", options_.model_name}, {"input", input},
                        {"num_classes", num_classes}, {"output", output}, {"ops", ops_}};
        SafetensorsFile f;
        f.metadata["tern.packed"] = program.dump();
        f.arrays = arrays_;
        write_safetensors(path, f);
    }

private:
    std::string fresh() { return "v" + std::to_string(next_++); }

    std::string quantize(const std::string& in, const InputQuant& q) {
        return simple({{"op", "quantize"}, {"in", in}, {"step", q.step}, {"qmax", q.qmax}, {"signed", q.is_signed}});
    }

    // Eval-mode BN as y·a + b with a = γ/√(var + ε), b = β − a·mean; a conv bias enters b through a.
    void fold_bn(BatchNorm2d* bn, const Tensor& conv_bias, std::vector<float>& a, std::vector<float>& b) {
        const int64_t OC = int64_t(a.size());
        for (int64_t o = 0; o < OC; ++o) {
            const float bias = conv_bias.defined() ? conv_bias.data()[o] : 0.f;
            if (!bn) {
                b[o] = bias;
                continue;
            }
            const float s = bn->weight.data()[o] / std::sqrt(bn->running_var.data()[o] + bn->eps);
            a[o] = s;
            b[o] = bn->bias.data()[o] - s * bn->running_mean.data()[o] + s * bias;
        }
    }

    void add_ternary_weights(const std::string& name, const Tensor& codes) {
        std::vector<int8_t> c(static_cast<size_t>(codes.numel()));
        for (int64_t i = 0; i < codes.numel(); ++i) c[size_t(i)] = int8_t(codes.data()[i]);
        arrays_.push_back({name + ".w2", DType::U8, {int64_t((c.size() + 3) / 4)}, pack_ternary_2bit(c)});
        if (options_.codebook) {
            const int64_t rows = codes.size(0);
            const std::vector<uint8_t> cb = pack_5bit(encode_ternary(codes.data(), rows, codes.numel() / rows));
            arrays_.push_back({name + ".w5", DType::U8, {int64_t(cb.size())}, cb});
        }
    }

    void add_vector(const std::string& name, const std::vector<float>& v) {
        arrays_.push_back(tensor_to_array(name, Tensor::from_vector({int64_t(v.size())}, v)));
    }

    ExportOptions options_;
    std::vector<NamedArray> arrays_;
    json ops_ = json::array();
    int next_ = 0;
};

}  // namespace

// The dotted name of a submodule (for the layer names in the file).
static std::string name_of(Module& root, const Module* m) {
    for (auto& [n, mod] : root.named_modules())
        if (mod == m) return n;
    TERN_FAIL("export: a block is not part of the model");
}

// relu(bn(conv(x))) feeding `next`: its output is fused to `next`'s input codes when `next` is a ternary layer with
// an unsigned input quantizer; returns the value and whether it holds codes.
static std::pair<std::string, bool> conv_bn_relu_into(Exporter& ex, const std::string& name, Conv2d& c, BatchNorm2d* bn,
                                                      const std::string& in, bool in_is_codes, Conv2d& next) {
    const InputQuant q = input_quant(next.input_quantizer());
    const bool fuse = q.present && !q.is_signed && next.weight_quantizer();
    return {ex.conv(name, c, bn, in, in_is_codes, true, "", fuse ? &q : nullptr), fuse};
}

void export_packed(Module& model, const std::string& path, const ExportOptions& options) {
    Exporter ex(options);
    std::string x;
    nlohmann::json input;
    int64_t num_classes = 0;
    std::string logits;
    if (auto* net = dynamic_cast<CifarResNet*>(&model)) {
        // Stem: conv1 + bn1 + ReLU, float output (it is also the first shortcut).
        x = ex.conv("conv1", *net->conv1, net->bn1.get(), "image", false, true, "", nullptr);
        for (auto* stage : {net->layer1.get(), net->layer2.get(), net->layer3.get()})
            for (auto& m : stage->layers) {
                auto& blk = dynamic_cast<BasicBlock&>(*m);
                const std::string prefix = name_of(model, &blk);
                auto [h, codes] = conv_bn_relu_into(ex, prefix + ".conv1", *blk.conv1, blk.bn1.get(), x, false, *blk.conv2);
                const std::string sc = blk.option_a ? ex.simple({{"op", "shortcut_a"}, {"in", x}, {"cout", blk.planes},
                                                                 {"stride", blk.stride}})
                                                    : x;
                // y = relu(bn2(conv2(h)) + shortcut): BN, residual and ReLU in conv2's float epilogue.
                x = ex.conv(prefix + ".conv2", *blk.conv2, blk.bn2.get(), h, codes, true, sc, nullptr);
            }
        x = ex.simple({{"op", "avgpool"}, {"in", x}});
        logits = ex.linear("linear", *net->linear, x);
        input = {{"height", 32}, {"width", 32}, {"channels", 3}};
        num_classes = net->linear->out_features;
    } else if (auto* net = dynamic_cast<ResNet*>(&model)) {
        // torchvision: conv1 7×7/2 + bn1 + ReLU → max-pool 3×3/2 → stages → avg-pool → fc
        x = ex.conv("conv1", *net->conv1, net->bn1.get(), "image", false, true, "", nullptr);
        x = ex.simple({{"op", "maxpool"}, {"in", x}, {"k", 3}, {"stride", 2}, {"pad", 1}});
        for (auto* stage : {net->layer1.get(), net->layer2.get(), net->layer3.get(), net->layer4.get()})
            for (auto& m : stage->layers) {
                const std::string prefix = name_of(model, m.get());
                Sequential* down = nullptr;
                std::string h;
                bool codes = false;
                Conv2d* last = nullptr;
                BatchNorm2d* last_bn = nullptr;
                if (auto* b = dynamic_cast<ResNetBasicBlock*>(m.get())) {
                    std::tie(h, codes) = conv_bn_relu_into(ex, prefix + ".conv1", *b->conv1, b->bn1.get(), x, false, *b->conv2);
                    down = b->downsample.get();
                    last = b->conv2.get();
                    last_bn = b->bn2.get();
                } else {
                    auto& bb = dynamic_cast<ResNetBottleneck&>(*m);
                    std::tie(h, codes) = conv_bn_relu_into(ex, prefix + ".conv1", *bb.conv1, bb.bn1.get(), x, false, *bb.conv2);
                    std::tie(h, codes) = conv_bn_relu_into(ex, prefix + ".conv2", *bb.conv2, bb.bn2.get(), h, codes, *bb.conv3);
                    down = bb.downsample.get();
                    last = bb.conv3.get();
                    last_bn = bb.bn3.get();
                }
                // Shortcut: identity, or the type-B 1×1 conv + BN (float output, no ReLU).
                std::string sc = x;
                if (down) {
                    auto* dc = dynamic_cast<Conv2d*>(down->layers.at(0).get());
                    auto* dbn = dynamic_cast<BatchNorm2d*>(down->layers.at(1).get());
                    TERN_CHECK(dc && dbn, "export: " << prefix << ".downsample is not conv + batch norm");
                    sc = ex.conv(prefix + ".downsample.0", *dc, dbn, x, false, false, "", nullptr);
                }
                x = ex.conv(prefix + "." + (dynamic_cast<ResNetBasicBlock*>(m.get()) ? "conv2" : "conv3"), *last, last_bn,
                            h, codes, true, sc, nullptr);
            }
        x = ex.simple({{"op", "avgpool"}, {"in", x}});
        logits = ex.linear("fc", *net->fc, x);
        input = {{"height", 224}, {"width", 224}, {"channels", 3}};
        num_classes = net->fc->out_features;
    } else {
        TERN_FAIL("export_packed: only CIFAR ResNets and torchvision ResNets can be exported");
    }
    ex.write(path, input, num_classes, logits);
}

}  // namespace tern
