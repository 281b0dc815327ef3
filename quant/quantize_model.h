// quant/quantize_model.h — turn an ordinary model into a quantized one by attaching weight quantizers to its
// Conv2d and Linear layers (the layers stay what they are; see layers/conv2d.h), and group its parameters for
// the optimizers.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"
#include "layers/quantizable.h"
#include "optim/sgd.h"
#include "quant/ptq.h"
#include "quant/tga.h"
#include "quant/weight_quantizer.h"

namespace tern {

struct QuantizeConfig {
    std::string method = "fp";   // fp | tga | twn | ptq
    bool quantize_first = true;  // the first conv (TGA ternarizes it; PTQ keeps it full precision)
    bool quantize_last = true;   // the classifier
    TgaOptions tga;
    PtqOptions ptq;
};

struct QuantLayer {
    std::string name;                            // "layer1.0.conv1"
    QuantizableLayer* layer = nullptr;           // the Conv2d or Linear
    Tensor weight;                               // its full-precision weight
    std::shared_ptr<WeightQuantizer> quantizer;  // null for layers kept in full precision
};

// Every Conv2d and Linear of the model in forward order (named_modules order), with their quantizers if any.
std::vector<QuantLayer> weight_layers(Module& model);
// Attaches a new quantizer (initialized from the current weights) to each chosen layer; returns all layers.
std::vector<QuantLayer> attach_weight_quantizers(Module& model, const QuantizeConfig& config);
std::shared_ptr<WeightQuantizer> make_weight_quantizer(const std::string& method, const Tensor& weight,
                                                       const QuantizeConfig& config);

// LSQ activation quantizers (quant/lsq.h) on the inputs of the conv/linear layers: every layer that has a weight
// quantizer (or every layer, when none has), except the first layer's input (the image) unless `first`, and the
// classifier's input unless `last`. The classifier's input gets `last_bits` (0: `bits`): LSQ and most low-bit work
// keep the last layer at 8 bits. Returns the number attached.
int attach_activation_quantizers(Module& model, int bits, bool first, bool last, int last_bits = 0);
// Switches every attached LSQ quantizer on or off (LsqQuantizer::enabled); returns how many there are.
int enable_activation_quantizers(Module& model, bool on);
// Sets the width of every attached LSQ quantizer as attach_activation_quantizers would (the classifier's input
// `last_bits`, 0: `bits`); a quantizer whose width changes is re-initialized from its next batch
// (LsqQuantizer::set_bits). Returns the steps of those that changed, whose momentum the caller drops.
std::vector<Tensor> set_activation_bits(Module& model, int bits, int last_bits = 0);
// After loading `source` into the model: throws, naming the file and the layer, if an LSQ quantizer's loaded bit
// width differs from the one attached (e.g. a run trained with --act-bits-last 8 resumed without the flag).
void check_activation_bits(Module& model, const std::string& source);

// The model's parameters in the groups tern's training uses:
//   weights     conv/linear weights (dim ≥ 2)                     weight decay wd
//   no_decay    BN γ/β and biases                                 no weight decay
//   thresholds  weight-quantizer parameters (TGA δ, PTQ Δ)        no weight decay (TGA Sec. III.B)
//   act_steps   input-quantizer parameters (LSQ step sizes)       no weight decay
struct ParameterGroups {
    std::vector<Tensor> weights, no_decay, thresholds, act_steps;
};
ParameterGroups group_parameters(const Module& model);

// PTQ's three stages as epochs: stage_epochs = {E1, E2, E3}. Moves every PTQ quantizer to the stage that `epoch`
// falls in — pruning (with the resetting trick) at the start of stage 2, Δ initialization at the start of stage 3 —
// and returns the new stage if a transition happened (0 otherwise). The quantizers remember their stage (it is
// checkpointed), so calling this after a resume never prunes twice.
int advance_ptq_stage(const std::vector<QuantLayer>& layers, int64_t epoch, const std::vector<int64_t>& stage_epochs);

// The gradual entry into PTQ's stage 3 (quant/ptq.h, not in the paper): every PTQ quantizer computes with
// (1 − λ)·w̃ + λ·ŵ/‖ŵ‖, λ = clamp(epochs into stage 3 / ramp_epochs, 0, 1); ramp_epochs = 0 leaves λ = 1.
void set_ptq_ternary_blend(const std::vector<QuantLayer>& layers, double epochs_into_stage3, double ramp_epochs);

// One text table of per-layer quantizer figures (sparsity, thresholds, scale), for logs.
std::string format_layer_stats(const std::vector<QuantLayer>& layers);
nlohmann::json layer_stats_json(const std::vector<QuantLayer>& layers);

}  // namespace tern
