// apps/train_cifar.cpp — train (or evaluate) a ResNet on CIFAR-10/100.
//
//   ./apps/train_cifar --model resnet20 --epochs 30 --lr 0.1 --wd 5e-4 --normalize imagenet --out runs/r20
//   ./apps/train_cifar --model resnet20 --init ../shared/data/weights/resnet20_cifar10_akamaster.safetensors
//                      --eval-only --normalize imagenet --eval-subset 0:1017
//   ./apps/train_cifar --out runs/r20 --resume          (continues a killed run from its last checkpoint)
//
// One batch's path: DataLoader (data/loader.h, worker threads) → model forward (models/, layers/, core/ops) →
// cross_entropy → backward (core/autograd) → SGD step (optim/sgd.h) with the learning rate of the schedule
// (optim/schedule.h) at this step. After each epoch: test accuracy, a JSONL record, an atomic checkpoint.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/flags.h"
#include "apps/runtime.h"
#include "apps/svg.h"
#include "apps/progress.h"
#include "core/atomic_file.h"
#include "core/autograd.h"
#include "core/ops/loss.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "data/cifar.h"
#include "data/loader.h"
#include "layers/batch_norm2d.h"
#include "models/registry.h"
#include "optim/checkpoint.h"
#include "optim/weight_average.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "quant/calibrate.h"
#include "quant/model_size.h"
#include "quant/oscillation_dampening.h"
#include "quant/packed_format.h"
#include "quant/packed_model.h"
#include "quant/quantize_model.h"
#include "quant/train_step.h"

using namespace tern;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct EvalResult {
    double loss = 0, accuracy = 0, subset_accuracy = -1;
    int64_t images = 0;
};

// Test-set loss and accuracy in eval mode (running BN statistics, no graph), plus the accuracy on the
// records [subset_begin, subset_end) when that range is not empty.
EvalResult evaluate(Module& model, const Dataset& test, int64_t batch, int64_t subset_begin, int64_t subset_end) {
    const bool was_training = model.is_training();
    model.eval();
    NoGradGuard no_grad;
    DataLoader loader(test, {batch, /*shuffle=*/false, false, 0, /*workers=*/1, 4});
    loader.start_epoch(0);
    EvalResult r;
    int64_t correct = 0, subset_correct = 0, subset_n = 0;
    double loss_sum = 0;
    while (auto b = loader.next()) {
        const Tensor logits = model.forward(b->images);
        const int64_t n = int64_t(b->labels.size()), K = logits.size(1);
        loss_sum += double(cross_entropy(logits, b->labels).item()) * double(n);
        for (int64_t i = 0; i < n; ++i) {
            const float* row = logits.data() + i * K;
            const bool ok = std::max_element(row, row + K) - row == b->labels[i];
            correct += ok;
            const int64_t idx = b->indices[i];
            if (idx >= subset_begin && idx < subset_end) subset_correct += ok, ++subset_n;
        }
        r.images += n;
    }
    r.loss = loss_sum / double(r.images);
    r.accuracy = 100.0 * double(correct) / double(r.images);
    if (subset_n > 0) r.subset_accuracy = 100.0 * double(subset_correct) / double(subset_n);
    model.train(was_training);
    return r;
}

std::vector<double> parse_list(const std::string& s) {
    std::vector<double> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty()) continue;
        char* end = nullptr;
        out.push_back(std::strtod(item.c_str(), &end));
        TERN_CHECK(end && *end == 0, "expected a comma-separated list of numbers, got '" << s << "'");
    }
    return out;
}

bool file_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

std::string default_data_dir() {
    if (const char* env = std::getenv("CIFAR10_DIR")) return env;
    for (const char* d : {"data/cifar-10-batches-bin", "../shared/data/cifar-10-batches-bin"})
        if (file_exists(d)) return d;
    return "data/cifar-10-batches-bin";
}

int ptq_stage_of(const std::vector<QuantLayer>& layers) {
    for (const QuantLayer& l : layers)
        if (auto* q = dynamic_cast<PtqQuantizer*>(l.quantizer.get())) return q->stage();
    return 0;
}

// PTQ's Figure 2: per layer, the histogram of the L2-normalized weights that are not zero (pruned or below Δ),
// with the ternary value ±√n/n (n = non-zero weights per output unit) marked.
void write_weight_histograms(const std::string& dir, int stage, const std::vector<QuantLayer>& layers) {
    probe_writable_dir(dir);
    std::vector<HistogramPanel> panels;
    for (const QuantLayer& l : layers) {
        if (!l.quantizer) continue;
        const Tensor w = contiguous_data(l.weight), c = l.quantizer->codes(l.weight);
        const int64_t rows = w.size(0), n = w.numel() / rows;
        HistogramPanel p;
        p.title = l.name;
        double ideal = 0;
        for (int64_t r = 0; r < rows; ++r) {
            double norm = 0;
            int64_t nnz = 0;
            for (int64_t i = 0; i < n; ++i)
                if (c.data()[r * n + i] != 0.f) norm += double(w.data()[r * n + i]) * w.data()[r * n + i], ++nnz;
            if (nnz == 0) continue;
            norm = std::sqrt(norm);
            for (int64_t i = 0; i < n; ++i)
                if (c.data()[r * n + i] != 0.f) p.values.push_back(float(w.data()[r * n + i] / norm));
            ideal += 1.0 / std::sqrt(double(nnz)) / double(rows);
        }
        p.markers = {-ideal, ideal};
        panels.push_back(std::move(p));
    }
    const std::string path = dir + "/ptq_stage" + std::to_string(stage) + "_weights.svg";
    write_histogram_grid(path, "PTQ stage " + std::to_string(stage) +
                                   ": L2-normalized non-zero weights per layer (red: ±√n/n)", panels);
    std::printf("wrote %s\n", path.c_str());
}

// Writes the packed model. Layers without a trained activation quantizer get 8-bit steps from the ranges seen
// on the first `n` training images (eval mode: the BN statistics do not move).
void export_model(Module& model, const std::string& model_name, const std::string& path, const Dataset& train_images,
                  int64_t n, bool codebook) {
    const int observers = attach_range_observers(model);
    if (observers > 0) {
        const bool was_training = model.is_training();
        model.eval();
        NoGradGuard no_grad;
        LoaderOptions lo;
        lo.batch_size = 128;
        lo.shuffle = false;
        lo.end = std::min<int64_t>(n, train_images.size());
        DataLoader loader(train_images, lo);
        loader.start_epoch(0);
        while (auto b = loader.next()) model.forward(b->images);
        model.train(was_training);
        std::printf("calibrated 8-bit activation ranges of %d layers on %lld training images\n", observers,
                    (long long)lo.end);
    }
    export_packed(model, path, {codebook, model_name});
    std::printf("exported the packed model to %s\n", path.c_str());
}

// --precise-bn: BN statistics averaged over `batches` training batches (augmented as in training) with the final
// weights (layers/batch_norm2d.h), instead of the running averages collected while the weights moved.
void precise_batch_norm(Module& model, const Dataset& train_set, int64_t batch, int64_t batches, uint64_t seed,
                        int workers) {
    LoaderOptions lo;
    lo.batch_size = batch;
    lo.shuffle = true;
    lo.seed = seed + 1000;  // other batches than the last epoch's
    lo.workers = workers;
    DataLoader loader(train_set, lo);
    loader.start_epoch(0);
    const int64_t used = recompute_batch_norm_statistics(
        model,
        [&loader](Tensor& x) {
            auto b = loader.next();
            if (b) x = b->images;
            return b.has_value();
        },
        batches);
    std::printf("precise BN: statistics recomputed over %lld batches of %lld\n", (long long)used, (long long)batch);
}

}  // namespace

int main(int argc, char** argv) try {
    prefer_openmp_wait_policy_by_load(argv);  // spin if alone, sleep if not (apps/runtime.h)
    Flags f(argc, argv, "train_cifar: train or evaluate a ResNet on CIFAR-10/100 (see README.md)");
    const std::string data_dir = f.get_string("data", default_data_dir(), "CIFAR binary folder (default $CIFAR10_DIR)");
    const std::string dataset = f.get_string("dataset", "cifar10", "cifar10 | cifar100");
    const std::string model_name = f.get_string("model", "resnet20", "resnet20 | resnet32 | resnet44 | resnet56 | resnet110");
    const int64_t epochs = f.get_int("epochs", 30, "number of epochs");
    const int64_t batch = f.get_int("batch", 128, "batch size");
    const double lr = f.get_double("lr", 0.1, "initial learning rate");
    const double momentum = f.get_double("momentum", 0.9, "SGD momentum");
    const bool nesterov = f.get_bool("nesterov", false, "Nesterov momentum");
    const double wd = f.get_double("wd", 5e-4, "weight decay (conv and linear weights only)");
    const std::string schedule = f.get_string("schedule", "cosine", "cosine | sgdr | multistep | constant");
    const double t0 = f.get_double("t0", 10, "sgdr: epochs of the first cycle");
    const double tmult = f.get_double("tmult", 1, "sgdr: cycle length multiplier");
    const std::string cycles = f.get_string("cycles", "", "sgdr: explicit cycle lengths in epochs, e.g. 4,8,8 (PTQ: its stages)");
    const std::string milestones = f.get_string("milestones", "", "multistep: epochs, comma-separated");
    const double eta_min = f.get_double("eta-min", 0, "final / minimum learning rate");
    const double warmup = f.get_double("warmup", 0, "linear warm-up epochs");
    const int64_t seed = f.get_int("seed", 0, "random seed (init, shuffling, augmentation)");
    const int64_t threads = f.get_int("threads", 0, "compute threads (0: all cores)");
    const int64_t workers = f.get_int("workers", 1, "data loader threads");
    const std::string normalize = f.get_string("normalize", "cifar", "input normalization: cifar | imagenet");
    const std::string init = f.get_string("init", "", "start from these weights (a .safetensors state dict, or a training checkpoint: its model part)");
    const bool eval_only = f.get_bool("eval-only", false, "only evaluate (use with --init or --resume)");
    const int64_t precise_bn = f.get_int("precise-bn", 0, "after training (or --eval-only): recompute BN statistics as the plain mean over this many training batches, then evaluate again (0: off)");
    const int64_t average_epochs = f.get_int("average-epochs", 0, "weight averaging (SWA): after training, also evaluate the average of the model at the ends of the last K epochs, its BN statistics re-estimated over --precise-bn batches (200 if 0); saved as <out>/averaged.safetensors");
    const std::string out = f.get_string("out", "runs/train_cifar", "output folder: checkpoints, metrics.jsonl");
    const bool resume = f.get_bool("resume", false, "continue from <out>/last.safetensors");
    const std::string subset = f.get_string("eval-subset", "", "also report accuracy on test records A:B");
    const int64_t train_limit = f.get_int("train-limit", -1, "use only the first N training images");
    const float label_smoothing = float(f.get_double("label-smoothing", 0, "cross-entropy label smoothing ε"));
    // Knowledge distillation from a trained model of the same architecture (quant/train_step.h).
    const std::string teacher_path = f.get_string("teacher", "", "distill from this model (.safetensors of the same --model, full precision): loss = (1 − α)·CE + α·T²·KL");
    const float kd_alpha = float(f.get_double("kd-alpha", 0.5, "distillation: weight α of the teacher's term"));
    const float kd_temperature = float(f.get_double("kd-temperature", 4, "distillation: temperature T"));
    const std::string on_divergence = f.get_string("on-divergence", "stop", "a NaN/Inf loss or gradient: stop | skip (the step; halves the lr; stops after 5 skips)");
    // Quantization (quant/): which weight quantizer the conv/linear layers host, and its options.
    QuantizeConfig qc;
    qc.method = f.get_string("method", "fp", "weights: fp | tga | twn | ptq");
    qc.quantize_first = f.get_bool("quantize-first", qc.method != "ptq", "quantize the first conv too (TGA: yes, PTQ: no)");
    qc.quantize_last = f.get_bool("quantize-last", true, "quantize the classifier too (TGA: yes)");
    qc.tga.delta_init = f.get_double("delta-init", 0.1, "TGA: δ₀ = factor · max|w|");
    qc.tga.gradient_correctness = f.get_bool("gradient-correctness", true, "TGA: ∂Tern/∂w = 1/S (Eq. 15)");
    qc.tga.stats_gradient = f.get_bool("stats-gradient", true, "TGA: μ and σ pass gradient");
    const float dampen_flag = float(f.get_double("dampen", 0, "oscillation dampening: add λ·Σ(w − q(w))² to the loss, pulling latent weights away from the thresholds; λ_max (0: off; ignored with --method fp, so a recipe's FP32 twin is the same file; PTQ: from stage 3)"));
    const float dampen = qc.method == "fp" ? 0.f : dampen_flag;
    const std::string dampen_schedule = f.get_string("dampen-schedule", "cosine", "dampening weight over the ternary epochs (PTQ: stage 3): cosine (0 → λ_max) | constant");
    const std::string update = f.get_string("update", qc.method == "tga" ? "alternating" : "single",
                                             "alternating (TGA's Algorithm 1; the default for tga) | single (one backward; the default otherwise)");
    TERN_CHECK(update == "alternating" || update == "single", "--update must be alternating or single, got '" << update << "'");
    const double threshold_lr_scale = f.get_double("threshold-lr-scale", 1, "thresholds' lr = lr × this");
    const double threshold_momentum = f.get_double("threshold-momentum", 0, "thresholds' SGD momentum (paper: vanilla SGD)");
    const std::vector<double> ptq_stage_list = parse_list(f.get_string("ptq-stages", "4,8,8", "PTQ: epochs of stages 1 (L2 norm), 2 (pruned), 3 (ternary)"));
    qc.ptq.prune_ratio = f.get_double("prune", 0.7, "PTQ: pruning ratio p");
    qc.ptq.reset = f.get_bool("ptq-reset", true, "PTQ: the resetting trick (false: STE-Only ablation)");
    const std::string reset_scale = f.get_string("ptq-reset-scale", "norm", "PTQ: survivors reset to ±1 (unit) or to ± the RMS of the layer's kept weights (norm: same ŵ/‖ŵ‖, same step size)");
    TERN_CHECK(reset_scale == "norm" || reset_scale == "unit", "--ptq-reset-scale must be norm or unit, got '" << reset_scale << "'");
    qc.ptq.reset_keeps_norm = reset_scale == "norm";
    const std::string ptq_mask = f.get_string("ptq-mask", "fixed", "PTQ: pruned positions stay zero (fixed) or may regrow (free)");
    TERN_CHECK(ptq_mask == "fixed" || ptq_mask == "free", "--ptq-mask must be fixed or free, got '" << ptq_mask << "'");
    qc.ptq.fixed_mask = ptq_mask == "fixed";
    qc.ptq.delta_init = f.get_double("ptq-delta-init", 0.5, "PTQ: Δ₀ = factor · mean|w| of the non-zero weights");
    const double ptq_ramp = f.get_double("ptq-ramp", 0, "PTQ: enter stage 3 gradually, (1 − λ)·w̃ + λ·ŵ/‖ŵ‖ with λ 0 → 1 over this many epochs (0: at once, the paper)");
    const std::string plots = f.get_string("plots", "", "PTQ: write SVG histograms of normalized weights per stage here");
    const int64_t act_bits = f.get_int("act-bits", 0, "LSQ activation quantization bits (0: off; 2, 3, 4, 8)");
    const bool act_first = f.get_bool("act-quantize-first", false, "LSQ also on the first layer's input (the image)");
    const bool act_last = f.get_bool("act-quantize-last", true, "LSQ also on the classifier's input");
    const int64_t act_bits_last = f.get_int("act-bits-last", 0, "LSQ bits of the classifier's input (0: --act-bits)");
    const int64_t act_start_epoch = f.get_int("act-start-epoch", 0, "LSQ is switched on at the start of this epoch (0-based; before it, activations stay full precision)");
    const int64_t act_warmup_bits = f.get_int("act-warmup-bits", 0, "LSQ runs at this width for the first --act-warmup-epochs after --act-start-epoch, then at --act-bits (0: off; e.g. 4 before 2)");
    const int64_t act_warmup_epochs = f.get_int("act-warmup-epochs", 0, "epochs at --act-warmup-bits");
    const std::string export_path = f.get_string("export", "", "after training (or --eval-only), write a packed model here");
    const int64_t calibration_images = f.get_int("calibration-images", 512, "--export without LSQ: images for 8-bit ranges");
    const bool export_codebook = f.get_bool("export-codebook", false, "--export: also store the 5-bit codebook form");
    const std::string eval_packed = f.get_string("eval-packed", "", "evaluate this packed model file on the test set and exit (with --init and the model's --method/--act-bits: also compare with the fake-quantized model)");
    f.done();
    TERN_CHECK(update == "alternating" || update == "single", "--update must be alternating or single");
    TERN_CHECK(on_divergence == "stop" || on_divergence == "skip", "--on-divergence must be stop or skip");
    std::vector<int64_t> ptq_stages;
    for (double e : ptq_stage_list) ptq_stages.push_back(int64_t(e));
    if (qc.method == "ptq")
        TERN_CHECK(ptq_stages.size() == 3 && ptq_stages[0] + ptq_stages[1] + ptq_stages[2] == epochs,
                   "--ptq-stages must give 3 stage lengths adding up to --epochs (" << epochs << ")");
    if (qc.method == "ptq")
        TERN_CHECK(ptq_ramp >= 0 && ptq_ramp <= double(ptq_stages[2]),
                   "--ptq-ramp must be in [0, stage 3's " << ptq_stages[2] << " epochs], got " << ptq_ramp);
    // --ptq-ramp: how far (in epochs, fractional) a point of the run lies past the start of PTQ's stage 3
    const auto epochs_into_stage3 = [&](double run_epochs) { return run_epochs - double(ptq_stages[0] + ptq_stages[1]); };
    // --dampen: how far (0 → 1) a point of the run lies through its ternary epochs (PTQ: stage 3; others: the run)
    const auto ternary_progress = [&](double run_epochs) {
        if (qc.method != "ptq") return run_epochs / double(epochs);
        return ptq_stages[2] > 0 ? epochs_into_stage3(run_epochs) / double(ptq_stages[2]) : 0.0;
    };

    TERN_CHECK(act_start_epoch >= 0 && (act_bits == 0 || act_start_epoch < epochs),
               "--act-start-epoch must be in [0, --epochs), got " << act_start_epoch);
    if (act_warmup_bits > 0) {
        TERN_CHECK(act_bits > 0 && act_warmup_bits >= 2 && act_warmup_bits <= 8 && act_warmup_bits != act_bits,
                   "--act-warmup-bits needs --act-bits and a different width in [2, 8], got " << act_warmup_bits);
        TERN_CHECK(act_warmup_epochs >= 1 && act_start_epoch + act_warmup_epochs < epochs,
                   "--act-warmup-epochs must be ≥ 1 and end before --epochs (" << epochs << "), got " << act_warmup_epochs);
    }
    // The width of the LSQ layers that run at --act-bits, in a given epoch (the classifier's --act-bits-last stays).
    const int64_t act_switch_epoch = act_start_epoch + (act_warmup_bits > 0 ? act_warmup_epochs : 0);
    const auto act_bits_in = [&](int64_t epoch) { return int(epoch < act_switch_epoch && act_warmup_bits > 0 ? act_warmup_bits : act_bits); };
    if (threads > 0) set_num_threads(int(threads));
    TERN_CHECK(dataset == "cifar10" || dataset == "cifar100", "--dataset must be cifar10 or cifar100");
    TERN_CHECK(normalize == "cifar" || normalize == "imagenet", "--normalize must be cifar or imagenet");
    TERN_CHECK(epochs >= 0 && batch >= 1, "--epochs must be ≥ 0 and --batch ≥ 1");
    TERN_CHECK(average_epochs >= 0 && average_epochs <= epochs, "--average-epochs must be in [0, --epochs]");
    if (!file_exists(data_dir)) {
        std::fprintf(stderr,
                     "train_cifar: CIFAR data not found at '%s'.\n"
                     "Download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html\n"
                     "(cifar-10-binary.tar.gz), extract it, and pass --data DIR or set CIFAR10_DIR.\n",
                     data_dir.c_str());
        return 2;
    }
    int64_t subset_begin = 0, subset_end = 0;
    if (!subset.empty()) {
        const size_t colon = subset.find(':');
        TERN_CHECK(colon != std::string::npos, "--eval-subset expects A:B, got '" << subset << "'");
        subset_begin = std::stoll(subset.substr(0, colon));
        subset_end = std::stoll(subset.substr(colon + 1));
        TERN_CHECK(0 <= subset_begin && subset_begin < subset_end, "--eval-subset A:B needs 0 ≤ A < B");
    }
    const std::string subset_label = subset.empty() ? "" : "subset[" + subset + "]";

    // ---- data ----
    const CifarKind kind = dataset == "cifar10" ? CifarKind::Cifar10 : CifarKind::Cifar100;
    const Normalization norm = normalize == "cifar" ? kCifarStats : kImageNetStats;
    CifarDataset test_set(load_cifar(data_dir, kind, Split::Test), {false, 4, norm});
    const int64_t num_classes = test_set.data().num_classes();

    // ---- model and optimizer ----
    auto model = make_model(model_name, num_classes, uint64_t(seed));
    // Quantizers are attached first, so that --init and --resume can restore their parameters (a PTQ stage, a
    // TGA δ). When --init is a full-precision state dict (no quantizer entries), they are attached again, now
    // initialized from the loaded weights (TGA's δ₀ = 0.1·max|w| needs the real w).
    // LSQ quantizers likewise: their steps come from --init / --resume when it has them (a model trained with
    // LSQ), else they initialize on the first batch they see.
    std::vector<QuantLayer> qlayers = attach_weight_quantizers(*model, qc);
    if (act_bits > 0) {
        // With --act-warmup-bits, the quantizers are attached at the width of the first epoch this process runs
        // (a resumed checkpoint's epoch; the end for --eval-only), so that a loaded state matches them.
        int64_t first_epoch = eval_only ? epochs : 0;
        if (resume && !eval_only && act_warmup_bits > 0 && file_exists(out + "/last.safetensors"))
            first_epoch = read_checkpoint_info(out + "/last.safetensors").at("epoch").get<int64_t>();
        const int n = attach_activation_quantizers(*model, act_bits_in(first_epoch), act_first, act_last, int(act_bits_last));
        std::printf("LSQ: %d-bit activations at the inputs of %d layers", int(act_bits), n);
        if (act_last && act_bits_last > 0) std::printf(" (the classifier's: %d-bit)", int(act_bits_last));
        if (act_warmup_bits > 0)
            std::printf(", %d-bit for their first %lld epochs", int(act_warmup_bits), (long long)act_warmup_epochs);
        std::printf("\n");
    }
    if (!init.empty()) {
        const LoadReport r = model->load_state_dict(load_model_state(init), /*strict=*/false);
        bool quantizer_state_missing = false;
        for (const std::string& k : r.missing) {
            TERN_CHECK(k.find("_quantizer.") != std::string::npos,
                       "--init " << init << " does not match " << model_name << ": " << r.describe());
            if (k.find("weight_quantizer.") != std::string::npos) quantizer_state_missing = true;
        }
        bool has_lsq_steps = false;
        for (const std::string& k : r.unexpected) has_lsq_steps = has_lsq_steps || k.find("input_quantizer.") != std::string::npos;
        TERN_CHECK(r.unexpected.empty(), "--init " << init << " does not match " << model_name << " with --method "
                                                   << qc.method << (has_lsq_steps ? " (it has LSQ steps: add its --act-bits)" : "")
                                                   << ": " << r.describe());
        if (quantizer_state_missing) qlayers = attach_weight_quantizers(*model, qc);
        check_activation_bits(*model, "--init " + init);
        std::printf("initialized from %s\n", init.c_str());
    }
    // The teacher: evaluated once on the test set, then run in eval mode without a graph beside every step.
    std::shared_ptr<Module> teacher;
    if (!teacher_path.empty() && !eval_only) {
        TERN_CHECK(kd_alpha >= 0.f && kd_alpha <= 1.f, "--kd-alpha must be in [0, 1], got " << kd_alpha);
        teacher = make_model(model_name, num_classes, uint64_t(seed));
        // A state dict, or a training checkpoint (optim/checkpoint.h).
        const LoadReport r = teacher->load_state_dict(load_model_state(teacher_path), /*strict=*/false);
        TERN_CHECK(r.missing.empty() && r.unexpected.empty(),
                   "--teacher " << teacher_path << " is not a full-precision " << model_name << ": " << r.describe());
        const EvalResult te = evaluate(*teacher, test_set, 500, 0, 0);
        std::printf("distilling from %s (test accuracy %.2f %%), α = %g, T = %g\n", teacher_path.c_str(),
                    te.accuracy, double(kd_alpha), double(kd_temperature));
        teacher->eval();  // running BN statistics (evaluate() restored the training mode a fresh model starts in)
    }
    if (!eval_packed.empty()) {
        // The integer engine (quant/packed_model.h) on the test set; with --init, the fake-quantized model it was
        // exported from runs on the same batches, and the two are compared prediction by prediction.
        PackedModel packed(eval_packed);
        const bool compare = !init.empty();
        if (compare) model->eval();
        NoGradGuard no_grad;
        DataLoader loader(test_set, {500, false, false, 0, 1, 4});
        loader.start_epoch(0);
        int64_t correct = 0, seen = 0, sub_correct = 0, sub_seen = 0, fq_correct = 0, agree = 0;
        double engine_secs = 0;
        while (auto b = loader.next()) {
            const auto t = Clock::now();
            const Tensor logits = packed.forward(b->images);
            engine_secs += std::chrono::duration<double>(Clock::now() - t).count();
            const Tensor fq = compare ? model->forward(b->images) : Tensor();
            const int64_t K = logits.size(1);
            for (size_t i = 0; i < b->labels.size(); ++i) {
                const float* row = logits.data() + int64_t(i) * K;
                const int32_t pred = int32_t(std::max_element(row, row + K) - row);
                correct += pred == b->labels[i];
                if (b->indices[i] >= subset_begin && b->indices[i] < subset_end)
                    sub_correct += pred == b->labels[i], ++sub_seen;
                if (compare) {
                    const float* frow = fq.data() + int64_t(i) * K;
                    const int32_t fpred = int32_t(std::max_element(frow, frow + K) - frow);
                    fq_correct += fpred == b->labels[i];
                    agree += fpred == pred;
                }
            }
            seen += int64_t(b->labels.size());
        }
        std::printf("packed %s: accuracy %.2f %% on %lld test images (engine %.0f img/s, file %.1f KB)\n",
                    eval_packed.c_str(), 100.0 * double(correct) / double(seen), (long long)seen,
                    double(seen) / engine_secs, double(packed.file_bytes()) / 1024);
        if (sub_seen) std::printf("%s accuracy %.2f %%\n", subset_label.c_str(), 100.0 * double(sub_correct) / double(sub_seen));
        if (compare)
            std::printf("fake-quantized model (%s): accuracy %.2f %%; same prediction on %.2f %% of the images\n",
                        init.c_str(), 100.0 * double(fq_correct) / double(seen), 100.0 * double(agree) / double(seen));
        return 0;
    }

    const bool quantized = qc.method != "fp" || act_bits > 0;
    if (dampen_flag > 0 && qc.method == "fp") std::printf("note: --dampen is off with --method fp (no ternary weights)\n");
    OscillationDampening dampening{qlayers, 0.f};
    const ParameterGroups groups = group_parameters(*model);
    SGD opt({{"weights", groups.weights, float(wd)}, {"no_decay", groups.no_decay, 0.f},
             {"act_steps", groups.act_steps, 0.f}},
            {float(lr), float(momentum), nesterov});
    SGD threshold_opt({{"thresholds", groups.thresholds, 0.f, float(threshold_lr_scale)}},
                      {float(lr), float(threshold_momentum), false});
    SGD* thresholds = groups.thresholds.empty() ? nullptr : &threshold_opt;
    const UpdateMode mode = thresholds && update == "alternating" ? UpdateMode::Alternating : UpdateMode::Joint;
    if (quantized)
        std::printf("quantized with %s (%s updates); layers:\n%s", qc.method.c_str(),
                    mode == UpdateMode::Alternating ? "alternating" : "joint", format_layer_stats(qlayers).c_str());
    ScheduleConfig sc;
    sc.kind = schedule;
    sc.base_lr = lr;
    sc.eta_min = eta_min;
    sc.total_epochs = double(epochs);
    sc.t0 = t0;
    sc.t_mult = tmult;
    sc.milestones = parse_list(milestones);
    sc.warmup_epochs = warmup;
    sc.cycles = parse_list(cycles);
    if (qc.method == "ptq" && schedule == "sgdr" && cycles.empty() && !f.has("t0"))  // one restart per PTQ stage
        for (int64_t e : ptq_stages)
            if (e > 0) sc.cycles.push_back(double(e));
    const LrSchedule lr_schedule(sc);

    // ---- resume ----
    int64_t start_epoch = 0;
    double best_acc = -1;
    // Divergence guard (--on-divergence skip): each skipped step halves the learning rate for the rest of the
    // run, a multiplier on the schedule kept in the checkpoint; after kMaxSkips skips the run stops.
    constexpr int64_t kMaxSkips = 5;
    double lr_multiplier = 1;
    int64_t skips = 0;
    const std::string last_path = out + "/last.safetensors", best_path = out + "/best.safetensors";
    if (resume) {
        TERN_CHECK(file_exists(last_path), "--resume: no checkpoint at " << last_path);
        const json info = load_checkpoint(last_path, *model, {&opt, &threshold_opt});
        check_activation_bits(*model, "--resume " + last_path);
        TERN_CHECK(info.value("model", "") == model_name, "--resume: " << last_path << " holds a "
                                                                       << info.value("model", "?") << ", not a "
                                                                       << model_name);
        start_epoch = info.at("epoch").get<int64_t>();
        best_acc = info.value("best_acc", -1.0);
        lr_multiplier = info.value("lr_multiplier", 1.0);
        skips = info.value("divergence_skips", int64_t(0));
        std::printf("resumed from %s after epoch %lld\n", last_path.c_str(), (long long)start_epoch);
    }

    if (eval_only) {
        if (precise_bn > 0) {
            CifarDataset train_set(load_cifar(data_dir, kind, Split::Train), {true, 4, norm});
            precise_batch_norm(*model, train_set, batch, precise_bn, uint64_t(seed), int(workers));
        }
        const auto t = Clock::now();
        const EvalResult r = evaluate(*model, test_set, 500, subset_begin, subset_end);
        const double secs = std::chrono::duration<double>(Clock::now() - t).count();
        std::printf("%s on %s test: loss %.4f, accuracy %.2f %% (%lld images, %.0f img/s)\n", model_name.c_str(),
                    dataset.c_str(), r.loss, r.accuracy, (long long)r.images, double(r.images) / secs);
        if (r.subset_accuracy >= 0) std::printf("%s accuracy %.2f %%\n", subset_label.c_str(), r.subset_accuracy);
        if (!export_path.empty()) {
            CifarDataset calib(load_cifar(data_dir, kind, Split::Train), {false, 4, norm});
            export_model(*model, model_name, export_path, calib, calibration_images, export_codebook);
        }
        return 0;
    }

    probe_writable_dir(out);  // fail now, not after the first epoch, if we cannot save
    if (const int n = remove_stale_temp_files(out))  // left by a run killed while saving
        std::printf("removed %d unfinished temporary file(s) from %s\n", n, out.c_str());
    CifarDataset train_set(load_cifar(data_dir, kind, Split::Train), {true, 4, norm});
    LoaderOptions lo;
    lo.batch_size = batch;
    lo.shuffle = true;
    lo.seed = uint64_t(seed);
    lo.workers = int(workers);
    if (train_limit > 0) lo.end = std::min<int64_t>(train_limit, train_set.size());
    DataLoader loader(train_set, lo);
    const int64_t steps_per_epoch = loader.batches_per_epoch();
    // One record per epoch: drop those after the checkpoint's epoch (a run killed between writing an epoch's
    // record and its checkpoint redoes that epoch; a fresh run in an old folder starts a new file).
    keep_jsonl_epochs_through(out + "/metrics.jsonl", start_epoch);
    JsonlWriter metrics(out + "/metrics.jsonl");
    std::printf("%s on %s: %lld epochs × %lld steps of %lld, %d threads; writing to %s\n", model_name.c_str(),
                train_set.describe().c_str(), (long long)epochs, (long long)steps_per_epoch, (long long)batch,
                num_threads(), out.c_str());
    std::printf("%s\n", openmp_wait_policy_note().c_str());

    // --average-epochs: the running mean of the model's state at the ends of the last K epochs (optim/weight_average.h).
    // Saved after each epoch's checkpoint to <out>/average_running.safetensors with the epoch it runs through, so
    // that --resume inside the window continues it; a file that does not end at the checkpoint's epoch (a kill
    // between the two saves) is not used, and the average then covers the epochs after the resume only.
    WeightAverage average;
    const std::string average_path = out + "/average_running.safetensors";
    if (average_epochs > 0 && start_epoch > epochs - average_epochs) {
        int64_t through = -1, count = 0;
        std::map<std::string, Tensor> saved;
        if (file_exists(average_path)) {  // its info names the epochs it holds (as best.safetensors' info does)
            const json info = read_checkpoint_info(average_path);
            try {
                through = info.value("through_epoch", int64_t(-1));
                count = info.value("count", int64_t(0));
            } catch (const json::exception& e) {
                TERN_FAIL(average_path << ": bad count or through_epoch in its info: " << e.what());
            }
            saved = load_tensors(average_path);
        }
        if (through == start_epoch && count >= 1 && start_epoch - count >= epochs - average_epochs) {
            average.restore(saved, int(count), average_path);
            std::printf("resumed the weight average of epochs %lld–%lld from %s\n", (long long)(start_epoch - count + 1),
                        (long long)start_epoch, average_path.c_str());
        } else {
            std::printf("note: resumed inside the --average-epochs window without a matching %s; the average covers "
                        "epochs %lld–%lld only\n", average_path.c_str(), (long long)start_epoch + 1, (long long)epochs);
        }
    }
    model->train();
    ProgressLine progress;
    const auto run_start = Clock::now();
    for (int64_t epoch = start_epoch; epoch < epochs; ++epoch) {
        const auto t_epoch = Clock::now();
        if (qc.method == "ptq") {
            const int before = ptq_stage_of(qlayers);
            if (const int stage = advance_ptq_stage(qlayers, epoch, ptq_stages)) {
                if (!plots.empty()) write_weight_histograms(plots, before, qlayers);
                opt.reset_state();  // a new stage starts from rest: stale momentum would move pruned/reset weights
                threshold_opt.reset_state();
                best_acc = -1;  // best.safetensors is the best model of the current stage: in the end, a ternary one
                std::printf("PTQ stage %d starts at epoch %lld%s\n", stage, (long long)epoch + 1,
                            stage == 2 ? (qc.ptq.reset_keeps_norm ? " (pruned, survivors reset to ±RMS of the layer's kept weights)" : " (pruned, survivors reset to ±1)") : " (ternary with learned Δ)");
                std::printf("%s", format_layer_stats(qlayers).c_str());
            }
        }
        if (act_bits > 0) {
            const bool on = epoch >= act_start_epoch;
            enable_activation_quantizers(*model, on);
            if (on && epoch == act_start_epoch && epoch > 0) {
                best_acc = -1;  // best.safetensors: the best model with quantized activations
                std::printf("LSQ %d-bit activations switched on at epoch %lld\n", act_bits_in(epoch), (long long)epoch + 1);
            }
            if (act_warmup_bits > 0) {  // --act-warmup-bits: the switch to --act-bits re-initializes the steps
                const std::vector<Tensor> changed = set_activation_bits(*model, act_bits_in(epoch), int(act_bits_last));
                for (const Tensor& step : changed) opt.reset_state(step), threshold_opt.reset_state(step);
                if (!changed.empty()) {
                    best_acc = -1;  // best.safetensors: the best model at the final width
                    std::printf("LSQ activations switched from %d to %d bits at epoch %lld (%zu steps re-initialized)\n",
                                int(act_warmup_bits), act_bits_in(epoch), (long long)epoch + 1, changed.size());
                }
            }
        }
        // The ternary codes at the start of the epoch, to count the flips it makes (see --dampen).
        std::vector<Tensor> codes_before;
        if (quantized)
            for (const QuantLayer& l : qlayers) codes_before.push_back(l.quantizer ? l.quantizer->codes(l.weight) : Tensor());
        loader.start_epoch(epoch);
        double loss_sum = 0;
        int64_t correct = 0, seen = 0, step = 0;
        double lr_now = 0;
        while (auto b = loader.next()) {
            lr_now = lr_multiplier * lr_schedule.lr_at(double(epoch) + double(step) / double(steps_per_epoch));
            opt.set_lr(float(lr_now));
            threshold_opt.set_lr(float(lr_now));
            if (qc.method == "ptq" && ptq_ramp > 0)
                set_ptq_ternary_blend(qlayers, epochs_into_stage3(double(epoch) + double(step) / double(steps_per_epoch)), ptq_ramp);
            Distillation kd{Tensor(), kd_alpha, kd_temperature};
            if (teacher) {
                NoGradGuard no_grad;
                kd.teacher_logits = teacher->forward(b->images);
            }
            if (dampen > 0)  // the ramp runs over the ternary epochs: all of them, or PTQ's stage 3
                dampening.lambda = dampening_weight(dampen_schedule, dampen, ternary_progress(double(epoch) + double(step) / double(steps_per_epoch)));
            const StepResult sr = train_step(*model, b->images, b->labels, opt, thresholds, mode, label_smoothing,
                                             teacher ? &kd : nullptr, dampen > 0 ? &dampening : nullptr);
            const float loss_value = sr.loss;
            if (!sr.diverged.empty()) {  // nothing was applied (quant/train_step.h)
                progress.finish();
                if (on_divergence == "stop" || skips == kMaxSkips) {
                    std::fprintf(stderr,
                                 "train_cifar: training diverged at epoch %lld step %lld/%lld: %s%s. The last good "
                                 "checkpoint is %s (try a lower --lr).\n",
                                 (long long)epoch + 1, (long long)step + 1, (long long)steps_per_epoch,
                                 sr.diverged.c_str(), skips ? (" (after " + std::to_string(skips) + " skipped steps)").c_str() : "",
                                 file_exists(last_path) ? last_path.c_str() : "(none yet)");
                    return 3;
                }
                ++skips;
                lr_multiplier *= 0.5;
                std::printf("epoch %lld step %lld/%lld: %s; step skipped, learning rate halved to %.4g × the schedule "
                            "(skip %lld of %lld)\n",
                            (long long)epoch + 1, (long long)step + 1, (long long)steps_per_epoch,
                            sr.diverged.c_str(), lr_multiplier, (long long)skips, (long long)kMaxSkips);
                ++step;
                continue;
            }
            const int64_t n = int64_t(b->labels.size());
            loss_sum += double(loss_value) * double(n);
            correct += sr.correct;
            seen += n;
            ++step;
            // Speed over this epoch so far (a run that was paused or resumed does not skew it).
            const double ips = double(seen) / std::chrono::duration<double>(Clock::now() - t_epoch).count();
            const double remaining =
                double((epochs - epoch) * steps_per_epoch - step) * double(batch) / std::max(ips, 1e-9);
            char line[256];
            std::snprintf(line, sizeof line, "epoch %lld/%lld  step %lld/%lld  loss %.4f  acc %.2f%%  lr %.4g  %.0f img/s  ETA %s",
                          (long long)epoch + 1, (long long)epochs, (long long)step, (long long)steps_per_epoch,
                          loss_sum / double(seen), 100.0 * double(correct) / double(seen), lr_now, ips,
                          format_duration(remaining).c_str());
            progress.update(line);
        }
        progress.finish();
        const double train_secs = std::chrono::duration<double>(Clock::now() - t_epoch).count();
        if (qc.method == "ptq" && ptq_ramp > 0)  // evaluate and save the model as it stands at the end of the epoch
            set_ptq_ternary_blend(qlayers, epochs_into_stage3(double(epoch + 1)), ptq_ramp);
        const EvalResult r = evaluate(*model, test_set, 500, subset_begin, subset_end);
        const double epoch_secs = std::chrono::duration<double>(Clock::now() - t_epoch).count();
        if (!std::isfinite(r.loss)) {  // the weights themselves went bad: do not save them over a good checkpoint
            std::fprintf(stderr, "train_cifar: the test loss after epoch %lld is %f: training diverged. The last good "
                                 "checkpoint is %s (try a lower --lr).\n", (long long)epoch + 1, r.loss,
                         file_exists(last_path) ? last_path.c_str() : "(none yet)");
            return 3;
        }
        const bool is_best = r.accuracy > best_acc;
        if (is_best) best_acc = r.accuracy;
        std::printf("epoch %lld/%lld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%%s  lr %.4g  %.0fs (%.0f img/s)%s\n",
                    (long long)epoch + 1, (long long)epochs, loss_sum / double(seen), 100.0 * double(correct) / double(seen),
                    r.loss, r.accuracy,
                    r.subset_accuracy >= 0 ? ("  " + subset_label + " " + std::to_string(r.subset_accuracy).substr(0, 5) + "%").c_str() : "",
                    lr_now, epoch_secs, double(seen) / train_secs, is_best ? "  *best" : "");
        std::fflush(stdout);
        json rec = {{"epoch", epoch + 1}, {"lr", lr_now}, {"train_loss", loss_sum / double(seen)},
                    {"train_acc", 100.0 * double(correct) / double(seen)}, {"test_loss", r.loss},
                    {"test_acc", r.accuracy}, {"seconds", epoch_secs}, {"train_img_per_s", double(seen) / train_secs}};
        if (r.subset_accuracy >= 0) {
            rec["subset"] = subset;
            rec["subset_acc"] = r.subset_accuracy;
        }
        if (quantized) {
            rec["layers"] = layer_stats_json(qlayers);
            std::printf("%s", format_layer_stats(qlayers).c_str());
            int64_t flips = 0, total = 0;  // net code changes over the epoch (a weight that flips and flips back: 0)
            for (size_t i = 0; i < qlayers.size(); ++i) {
                if (!qlayers[i].quantizer) continue;
                const int64_t changed = count_code_changes(codes_before[i], qlayers[i].quantizer->codes(qlayers[i].weight));
                rec["layers"][qlayers[i].name]["codes_changed"] = changed;
                flips += changed;
                total += qlayers[i].weight.numel();
            }
            if (total > 0) {  // not for FP32 weights with LSQ activations only
                rec["codes_changed"] = flips;
                if (dampen > 0) rec["dampen_lambda"] = dampening.lambda;
                // Before a threshold exists (PTQ stages 1–2) codes() is sign(w): these are sign flips, not ternary ones
                const bool signs = std::any_of(qlayers.begin(), qlayers.end(), [](const QuantLayer& l) {
                    return l.quantizer && !l.quantizer->codes_are_ternary();
                });
                std::printf("%s changed this epoch: %lld of %lld (%.2f %%)%s\n",
                            signs ? "weight signs (no threshold yet)" : "ternary codes", (long long)flips,
                            (long long)total, 100.0 * double(flips) / double(total),
                            dampen > 0 ? ("; dampening λ " + std::to_string(dampening.lambda)).c_str() : "");
            }
        }
        metrics.write(rec);
        json info = {{"model", model_name}, {"dataset", dataset}, {"epoch", epoch + 1}, {"best_acc", best_acc},
                     {"test_acc", r.accuracy}, {"flags", f.effective()}};
        if (skips > 0) {
            info["lr_multiplier"] = lr_multiplier;
            info["divergence_skips"] = skips;
        }
        save_checkpoint(last_path, *model, {&opt, &threshold_opt}, info);
        if (epoch >= epochs - average_epochs) {
            average.add(model->state_dict(), "epoch " + std::to_string(epoch + 1));
            const json meta = {{"count", average.count()}, {"through_epoch", epoch + 1}};
            save_tensors(average_path, average.average(), {{"tern.checkpoint", meta.dump()}});
        }
        if (is_best)  // a plain state dict (loadable with --init, or by PyTorch), with the info as metadata
            save_tensors(best_path, model->state_dict(), {{"tern.checkpoint", info.dump()}});
    }
    // After training: BN statistics re-estimated, then the test set; printed, recorded in metrics.jsonl (a record
    // without "epoch") and saved as a plain state dict.
    auto evaluate_after_precise_bn = [&](const char* what, int64_t bn_batches, json rec, const std::string& path) {
        precise_batch_norm(*model, train_set, batch, bn_batches, uint64_t(seed), int(workers));
        const EvalResult r = evaluate(*model, test_set, 500, subset_begin, subset_end);
        std::printf("%s: test loss %.4f acc %.2f%%", what, r.loss, r.accuracy);
        if (r.subset_accuracy >= 0) std::printf("  %s %.2f%%", subset_label.c_str(), r.subset_accuracy);
        std::printf("\n");
        rec["precise_bn_batches"] = bn_batches;
        rec["test_loss"] = r.loss;
        rec["test_acc"] = r.accuracy;
        if (r.subset_accuracy >= 0) rec["subset_acc"] = r.subset_accuracy;
        metrics.write(rec);
        json info = rec;
        info["model"] = model_name;
        save_tensors(path, model->state_dict(), {{"tern.checkpoint", info.dump()}});
    };
    if (precise_bn > 0) evaluate_after_precise_bn("after precise BN", precise_bn, json::object(), out + "/final_precise_bn.safetensors");
    if (quantized) {
        std::printf("final per-layer quantization:\n%s", format_layer_stats(qlayers).c_str());
        const SizeReport size = model_size_report(*model);
        std::printf("model size:\n%s", size.table().c_str());
        write_file_atomic(out + "/size.json", [&](std::FILE* fp) { write_bytes(fp, size.to_json().dump(2).data(),
                                                                                size.to_json().dump(2).size()); });
        if (qc.method == "ptq" && !plots.empty()) write_weight_histograms(plots, ptq_stage_of(qlayers), qlayers);
    }
    if (!export_path.empty()) {
        CifarDataset calib(load_cifar(data_dir, kind, Split::Train), {false, 4, norm});
        export_model(*model, model_name, export_path, calib, calibration_images, export_codebook);
    }
    if (average.count() > 0) {  // last: the model now becomes the average (the reports above are the final model's)
        model->load_state_dict(average.average());
        const std::string what = "averaged over the last " + std::to_string(average.count()) + " epochs, after precise BN";
        evaluate_after_precise_bn(what.c_str(), precise_bn > 0 ? precise_bn : 200,
                                  {{"averaged_epochs", average.count()}}, out + "/averaged.safetensors");
    }
    std::printf("done: best test accuracy %.2f %%, %s\n", best_acc,
                format_duration(std::chrono::duration<double>(Clock::now() - run_start).count()).c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "train_cifar: %s\n", e.what());
    return 1;
}
