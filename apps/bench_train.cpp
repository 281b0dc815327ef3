// apps/bench_train.cpp — times one full training step (forward, cross-entropy, backward, SGD update) on
// synthetic data, and splits the time by op kind.
//
//   ./apps/bench_train --model resnet20 --batch 128 [--steps 30] [--warmup 5] [--threads 2]
//                      [--quant none|tga|twn|ptq] [--act-bits K] [--unfused] [--baseline]
//
// Prints the median and p10/p90 step time, img/s, seconds per 50k-image epoch, the op-kind split, minor page
// faults per step, peak RSS, and one JSON line for scripts. --baseline also builds the FP32 model and times its
// steps alternately with these, so that a quantized configuration's cost is a ratio measured under the same
// machine conditions (this VM's speed drifts by ±25 % from minute to minute).
#include <sys/resource.h>

#include <algorithm>
#include <numeric>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/flags.h"
#include "apps/runtime.h"
#include "core/autograd.h"
#include "core/ops/loss.h"
#include "core/parallel.h"
#include "core/profiler.h"
#include "core/rng.h"
#include "layers/batch_norm2d.h"
#include "models/registry.h"
#include "optim/sgd.h"
#include "quant/quantize_model.h"
#include "quant/oscillation_dampening.h"
#include "quant/train_step.h"

using namespace tern;

static long minor_faults() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}
static double peak_rss_mb() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

// A model with its quantizers and optimizers, as train_cifar attaches them: weight quantizers on every
// conv/linear (PTQ in the stage asked for, by default the ternary one), LSQ on their inputs, thresholds updated in
// the same pass (single-pass mode).
struct Setup {
    std::shared_ptr<Module> model;
    ParameterGroups groups;
    std::unique_ptr<SGD> opt, thresholds;
    OscillationDampening dampening;  // λ = 0: off

    Setup(const std::string& model_name, const ModelInfo& info, const std::string& quant, int64_t act_bits,
          int64_t ptq_stage, bool fuse_act_quant = true, float dampen = 0) {
        model = make_model(model_name, info.num_classes, 0);
        model->train();
        QuantizeConfig qc;
        qc.method = quant == "none" ? "fp" : quant;
        qc.quantize_first = quant != "ptq";
        const std::vector<QuantLayer> layers = attach_weight_quantizers(*model, qc);
        dampening = {layers, dampen};
        if (quant == "ptq" && ptq_stage > 1)
            advance_ptq_stage(layers, 0, ptq_stage == 2 ? std::vector<int64_t>{0, 1, 0} : std::vector<int64_t>{0, 0, 1});
        if (act_bits > 0) attach_activation_quantizers(*model, int(act_bits), false, true);
        for (auto& [name, m] : model->named_modules())  // LSQ inside the BN before it (layers/batch_norm2d.h), or apart
            if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) bn->fuse_output_quantizer = fuse_act_quant;
        groups = group_parameters(*model);
        opt = std::make_unique<SGD>(std::vector<ParamGroup>{{"weights", groups.weights, 5e-4f},
                                                            {"no_decay", groups.no_decay, 0.f},
                                                            {"act_steps", groups.act_steps, 0.f}},
                                    SgdOptions{0.01f, 0.9f, false});
        thresholds = std::make_unique<SGD>(std::vector<ParamGroup>{{"thresholds", groups.thresholds, 0.f}},
                                           SgdOptions{0.01f, 0.f, false});
    }
    void step(const Tensor& x, const std::vector<int32_t>& labels) {
        train_step(*model, x, labels, *opt, groups.thresholds.empty() ? nullptr : thresholds.get(), UpdateMode::Joint,
                   0.f, nullptr, dampening.lambda > 0 ? &dampening : nullptr);
    }
};

int main(int argc, char** argv) try {
    prefer_openmp_wait_policy_by_load(argv);  // spin if alone, sleep if not (apps/runtime.h)
    Flags flags(argc, argv, "bench_train: time a training step of a model on synthetic data");
    const std::string model_name = flags.get_string("model", "resnet20", "model name (see models/registry.h)");
    const int64_t batch = flags.get_int("batch", 128, "batch size");
    const int64_t steps = flags.get_int("steps", 30, "timed steps (at least 20 recommended)");
    const int64_t warmup = flags.get_int("warmup", 5, "untimed warm-up steps");
    const int64_t threads = flags.get_int("threads", 0, "threads (0: OpenMP default)");
    const std::string quant = flags.get_string("quant", "none", "weight quantizer: none | tga | twn | ptq (single-pass)");
    const int64_t act_bits = flags.get_int("act-bits", 0, "LSQ activation bits on every quantized layer (0: off)");
    const int64_t ptq_stage = flags.get_int("ptq-stage", 3, "--quant ptq: the stage to time (1 L2-normalized, 2 pruned, 3 ternary)");
    const bool unfused = flags.get_bool("unfused", false, "LSQ in passes of its own, not inside the batch norm before it");
    const double dampen = flags.get_double("dampen", 0, "add oscillation dampening with this λ to the step (train_cifar --dampen; with --quant ptq only in stage 3)");
    const bool baseline = flags.get_bool("baseline", false,
                                         "also time the FP32 model, its steps alternating with these (for ratios on a "
                                         "machine whose speed drifts); the split stays this configuration's");
    flags.done();
    TERN_CHECK(ptq_stage >= 1 && ptq_stage <= 3, "--ptq-stage must be 1, 2 or 3");
    TERN_CHECK(dampen == 0 || quant != "none", "--dampen needs a weight quantizer (--quant tga|twn|ptq)");
    if (threads > 0) set_num_threads(int(threads));

    const ModelInfo info = model_info(model_name);
    Rng rng(1);
    Tensor x = Tensor::empty({batch, info.input_size, info.input_size, 3});
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.normal();
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    for (auto& l : labels) l = int32_t(rng.below(10));

    Setup timed(model_name, info, quant, act_bits, ptq_stage, !unfused, float(dampen));
    std::unique_ptr<Setup> fp32;  // --baseline: the plain FP32 model, its steps alternating with the timed ones
    if (baseline) fp32 = std::make_unique<Setup>(model_name, info, "none", 0, 3);
    for (int64_t i = 0; i < warmup; ++i) {
        timed.step(x, labels);
        if (fp32) fp32->step(x, labels);
    }

    std::vector<double> times, fp32_times;
    auto seconds_of = [&](Setup& s) {
        const auto t0 = std::chrono::steady_clock::now();
        s.step(x, labels);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const long faults0 = minor_faults();
    profile_reset();
    for (int64_t i = 0; i < steps; ++i) {
        set_profiling(true);  // the split is the timed configuration's only
        times.push_back(seconds_of(timed));
        set_profiling(false);
        if (fp32) fp32_times.push_back(seconds_of(*fp32));
    }
    const Profile prof = profile_snapshot();
    const double faults_per_step = double(minor_faults() - faults0) / double(steps);

    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    auto pct = [&](double q) { return sorted[size_t(q * double(sorted.size() - 1) + 0.5)]; };
    const double median = pct(0.5), p10 = pct(0.1), p90 = pct(0.9);
    const double ips = double(batch) / median;
    double total = 0;
    for (double s : prof.seconds) total += s;
    const double wall = std::accumulate(times.begin(), times.end(), 0.0);

    std::printf("%s, batch %lld, %d threads, quant %s, act-bits %lld%s, %lld steps after %lld warm-up\n",
                model_name.c_str(), (long long)batch, num_threads(), quant.c_str(), (long long)act_bits,
                act_bits > 0 && unfused ? " (LSQ unfused)" : "",
                (long long)steps, (long long)warmup);
    std::printf("%s\n", openmp_wait_policy_note().c_str());
    std::printf("step: median %.1f ms  (p10 %.1f, p90 %.1f)\n", median * 1e3, p10 * 1e3, p90 * 1e3);
    std::printf("throughput: %.0f img/s   epoch of 50k images: %.1f s\n", ips, 50000.0 / ips);
    std::printf("time by op kind (%% of step wall time):\n");
    nlohmann::json split;
    for (int k = 0; k < int(OpKind::Count); ++k) {
        if (prof.seconds[k] <= 0) continue;
        std::printf("  %-22s %6.1f ms/step  %5.1f %%\n", op_kind_name(OpKind(k)), prof.seconds[k] / steps * 1e3,
                    100.0 * prof.seconds[k] / wall);
        split[op_kind_name(OpKind(k))] = prof.seconds[k] / double(steps);
    }
    std::printf("  %-22s %6.1f ms/step  %5.1f %%\n", "(unaccounted)", (wall - total) / steps * 1e3,
                100.0 * (wall - total) / wall);
    std::printf("minor page faults per step: %.1f   peak RSS: %.0f MB%s\n", faults_per_step, peak_rss_mb(),
                fp32 ? " (both models)" : "");
    double fp32_median = 0;
    if (fp32) {
        std::sort(fp32_times.begin(), fp32_times.end());
        fp32_median = fp32_times[fp32_times.size() / 2];
        std::printf("FP32 baseline, alternating: median %.1f ms; this configuration / FP32 = %.3f\n",
                    fp32_median * 1e3, median / fp32_median);
    }
    nlohmann::json j = {{"model", model_name}, {"batch", batch}, {"threads", num_threads()}, {"quant", quant},
                        {"act_bits", act_bits}, {"lsq_fused", !unfused}, {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "default"},
                        {"median_ms", median * 1e3}, {"p10_ms", p10 * 1e3}, {"p90_ms", p90 * 1e3},
                        {"img_per_s", ips}, {"epoch_50k_s", 50000.0 / ips}, {"faults_per_step", faults_per_step},
                        {"peak_rss_mb", peak_rss_mb()}, {"split_s_per_step", split}};
    if (fp32) {
        j["fp32_median_ms"] = fp32_median * 1e3;
        j["vs_fp32"] = median / fp32_median;
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
}
