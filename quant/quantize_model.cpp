// quant/quantize_model.cpp — finding a model's weight layers, attaching quantizers, grouping parameters.
#include "quant/quantize_model.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "quant/lsq.h"
#include "quant/twn.h"

namespace tern {

std::vector<QuantLayer> weight_layers(Module& model) {
    std::vector<QuantLayer> out;
    for (auto& [name, m] : model.named_modules())
        if (auto* q = dynamic_cast<QuantizableLayer*>(m))
            out.push_back({name, q, q->weight, std::dynamic_pointer_cast<WeightQuantizer>(q->weight_quantizer_ptr())});
    return out;
}

std::shared_ptr<WeightQuantizer> make_weight_quantizer(const std::string& method, const Tensor& weight,
                                                       const QuantizeConfig& config) {
    if (method == "tga") return std::make_shared<TgaQuantizer>(weight, config.tga);
    if (method == "twn") return std::make_shared<TwnQuantizer>();
    if (method == "ptq") return std::make_shared<PtqQuantizer>(weight, config.ptq);
    TERN_FAIL("unknown weight quantization method '" << method << "' (expected fp, tga, twn or ptq)");
}

std::vector<QuantLayer> attach_weight_quantizers(Module& model, const QuantizeConfig& config) {
    std::vector<QuantLayer> layers = weight_layers(model);
    if (config.method == "fp") return layers;
    TERN_CHECK(!layers.empty(), "the model has no Conv2d or Linear layer to quantize");
    for (size_t i = 0; i < layers.size(); ++i) {
        QuantLayer& l = layers[i];
        if ((i == 0 && !config.quantize_first) || (i + 1 == layers.size() && !config.quantize_last)) continue;
        l.quantizer = make_weight_quantizer(config.method, l.weight, config);
        l.layer->set_weight_quantizer(l.quantizer);
    }
    return layers;
}

// The width of layer i's input quantizer: the classifier's (the last layer's) is `last_bits` when set.
static int input_bits(size_t i, size_t layer_count, int bits, int last_bits) {
    return i + 1 == layer_count && last_bits > 0 ? last_bits : bits;
}

int attach_activation_quantizers(Module& model, int bits, bool first, bool last, int last_bits) {
    std::vector<QuantLayer> layers = weight_layers(model);
    bool any_weight_quantizer = false;
    for (const QuantLayer& l : layers) any_weight_quantizer = any_weight_quantizer || l.quantizer;
    int attached = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        const bool is_first = i == 0, is_last = i + 1 == layers.size();
        const bool chosen = (is_first && first) || (is_last && last) ||
                            (!is_first && !is_last && (layers[i].quantizer || !any_weight_quantizer));
        if (!chosen) continue;
        layers[i].layer->set_input_quantizer(std::make_shared<LsqQuantizer>(input_bits(i, layers.size(), bits, last_bits)));
        ++attached;
    }
    return attached;
}

// The LSQ quantizer on a layer's input, if any.
static LsqQuantizer* input_lsq(const QuantLayer& l) { return dynamic_cast<LsqQuantizer*>(l.layer->input_quantizer()); }

int enable_activation_quantizers(Module& model, bool on) {
    int count = 0;
    for (const QuantLayer& l : weight_layers(model))
        if (LsqQuantizer* a = input_lsq(l)) a->enabled = on, ++count;
    return count;
}

std::vector<Tensor> set_activation_bits(Module& model, int bits, int last_bits) {
    const std::vector<QuantLayer> layers = weight_layers(model);
    std::vector<Tensor> changed;
    for (size_t i = 0; i < layers.size(); ++i)
        if (LsqQuantizer* a = input_lsq(layers[i]); a && a->set_bits(input_bits(i, layers.size(), bits, last_bits)))
            changed.push_back(a->s);
    return changed;
}

void check_activation_bits(Module& model, const std::string& source) {
    const std::vector<QuantLayer> layers = weight_layers(model);
    for (size_t i = 0; i < layers.size(); ++i)
        if (const LsqQuantizer* a = input_lsq(layers[i]))
            TERN_CHECK(a->loaded_bits() == a->bits(),
                       source << ": " << layers[i].name << "'s input was quantized to " << a->loaded_bits()
                              << " bits in training, but " << a->bits() << " bits are attached now (match "
                              << (i + 1 == layers.size() ? "--act-bits-last" : "--act-bits") << ")");
}

ParameterGroups group_parameters(const Module& model) {
    ParameterGroups g;
    for (auto& [name, p] : model.named_parameters()) {
        if (name.find("weight_quantizer.") != std::string::npos) g.thresholds.push_back(p);
        else if (name.find("input_quantizer.") != std::string::npos) g.act_steps.push_back(p);
        else if (p.dim() >= 2) g.weights.push_back(p);
        else g.no_decay.push_back(p);
    }
    return g;
}

int advance_ptq_stage(const std::vector<QuantLayer>& layers, int64_t epoch, const std::vector<int64_t>& stage_epochs) {
    TERN_CHECK(stage_epochs.size() == 3, "PTQ needs epochs for 3 stages (E1,E2,E3)");
    const int target = epoch < stage_epochs[0] ? 1 : epoch < stage_epochs[0] + stage_epochs[1] ? 2 : 3;
    int moved = 0;
    for (const QuantLayer& l : layers) {
        auto* q = dynamic_cast<PtqQuantizer*>(l.quantizer.get());
        if (!q) continue;
        if (q->stage() < 2 && target >= 2) q->prune(l.weight), moved = 2;
        if (q->stage() < 3 && target >= 3) q->start_ternary(l.weight), moved = 3;
    }
    return moved;
}

void set_ptq_ternary_blend(const std::vector<QuantLayer>& layers, double epochs_into_stage3, double ramp_epochs) {
    const double blend = ramp_epochs > 0 ? std::clamp(epochs_into_stage3 / ramp_epochs, 0.0, 1.0) : 1.0;
    for (const QuantLayer& l : layers)
        if (auto* q = dynamic_cast<PtqQuantizer*>(l.quantizer.get())) q->ternary_blend = float(blend);
}

nlohmann::json layer_stats_json(const std::vector<QuantLayer>& layers) {
    nlohmann::json out = nlohmann::json::object();
    for (const QuantLayer& l : layers) {
        if (l.quantizer) out[l.name] = l.quantizer->stats(l.weight);
        if (const LsqQuantizer* a = input_lsq(l)) out[l.name]["input_lsq"] = a->stats();
    }
    return out;
}

std::string format_layer_stats(const std::vector<QuantLayer>& layers) {
    std::ostringstream os;
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-22s %8s %9s %10s  %s\n", "layer", "weights", "sparsity", "δᶜ/σ|Δ",
                  "scale S | PTQ: mean |w̃| vs √n/n");
    os << buf;
    int64_t total = 0, zeros = 0;
    for (const QuantLayer& l : layers) {
        std::snprintf(buf, sizeof buf, "  %-22s %8lld ", l.name.c_str(), (long long)l.weight.numel());
        os << buf;
        if (!l.quantizer) {
            os << "   (fp32)";
        } else {
            const nlohmann::json s = l.quantizer->stats(l.weight);
            const double sp = s.value("sparsity", 0.0);
            const double thr = s.contains("delta_c_over_sigma") ? s["delta_c_over_sigma"].get<double>()
                                                                : s.value("delta", 0.0);
            if (s.contains("mean_normalized_magnitude"))  // PTQ: the paper's Figure 2 quantity next to √n/n
                std::snprintf(buf, sizeof buf, "%8.1f%% %10.4f  %.4f vs %.4f (stage %d)", 100 * sp, thr,
                              s["mean_normalized_magnitude"].get<double>(), s["sqrt_n_over_n"].get<double>(),
                              s["stage"].get<int>());
            else
                std::snprintf(buf, sizeof buf, "%8.1f%% %10.4f  %.4g", 100 * sp, thr, s.value("S", 0.0));
            os << buf;
            total += l.weight.numel();
            zeros += int64_t(sp * double(l.weight.numel()) + 0.5);
        }
        if (const LsqQuantizer* a = input_lsq(l)) {
            std::snprintf(buf, sizeof buf, "   input %s%d-bit, step %.4g", a->is_signed() ? "signed " : "", a->bits(),
                          double(a->step()));
            os << buf;
        }
        os << "\n";
    }
    if (total) {
        std::snprintf(buf, sizeof buf, "  %-22s %8lld %8.1f%%\n", "all ternary layers", (long long)total,
                      100.0 * double(zeros) / double(total));
        os << buf;
    }
    return os.str();
}

}  // namespace tern
