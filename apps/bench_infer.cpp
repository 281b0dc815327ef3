// apps/bench_infer.cpp — inference speed of a model in three forms: tern's FP32 eval path, the packed ternary
// engine (quant/packed_model.h) with the best kernels for this CPU, and the same engine on the scalar reference
// kernels. Batch-1 latency (median, p90) and batch-256 throughput; one JSON line at the end.
//
//   ./apps/bench_infer --model resnet20 [--packed FILE]       (without --packed: random ternary weights, calibrated)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "apps/flags.h"
#include "apps/runtime.h"
#include "core/autograd.h"
#include "core/kernels/ternary_conv.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "models/registry.h"
#include "quant/calibrate.h"
#include "quant/packed_format.h"
#include "quant/packed_model.h"
#include "quant/quantize_model.h"

using namespace tern;
using Clock = std::chrono::steady_clock;

namespace {
struct Timing {
    double median_ms = 0, p90_ms = 0;
};

Timing time_it(int reps, const std::function<void()>& fn) {
    fn();  // warm-up (fills the allocator's cache)
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = Clock::now();
        fn();
        t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t[std::min(t.size() - 1, size_t(0.9 * double(t.size())))]};
}

Tensor random_images(int64_t n, int64_t size, Rng& rng) {
    Tensor x = Tensor::empty({n, size, size, 3});
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = rng.normal();
    return x;
}
}  // namespace

int main(int argc, char** argv) try {
    prefer_openmp_wait_policy(argv, "ACTIVE");  // latency: spin between layers (apps/runtime.h)
    Flags f(argc, argv, "bench_infer: FP32 vs packed ternary inference latency and throughput");
    const std::string model_name = f.get_string("model", "resnet20", "model name");
    const std::string packed_path = f.get_string("packed", "", "a packed model file (default: random ternary weights)");
    const int64_t big = f.get_int("batch", 256, "batch size for the throughput measurement");
    const int reps1 = int(f.get_int("reps", 50, "repetitions at batch 1"));
    const int reps_big = int(f.get_int("reps-big", 5, "repetitions at the large batch"));
    const bool with_reference = f.get_bool("reference", true, "also time the scalar reference kernels");
    const int64_t threads = f.get_int("threads", 0, "threads (0: all cores)");
    f.done();
    if (threads > 0) set_num_threads(int(threads));
    const ModelInfo info = model_info(model_name);
    Rng rng(1);

    // The FP32 model (tern's ordinary eval path) and, from it, a packed ternary model.
    auto fp_model = make_model(model_name, info.num_classes, 0);  // the plain FP32 model: tern's eval path
    fp_model->eval();
    auto model = make_model(model_name, info.num_classes, 0);     // the same weights, quantized, to export
    model->eval();
    std::string path = packed_path;
    if (path.empty()) {
        // Random ternary weights (TGA's quantizer on the random init). CIFAR models keep the stem reading the image
        // in float, as trained; at 224×224 the 7×7 stem is too costly in float, so the ImageNet model is ternary end to
        // end, with the image quantized to signed 8 bits.
        const bool imagenet = info.input_size > 32;
        QuantizeConfig qc;
        qc.method = "tga";
        qc.quantize_first = imagenet;
        attach_weight_quantizers(*model, qc);
        attach_range_observers(*model, /*include_first=*/imagenet);
        {
            NoGradGuard ng;
            model->forward(random_images(info.input_size > 32 ? 4 : 32, info.input_size, rng));  // calibrate steps
        }
        path = "/tmp/bench_infer_" + model_name + ".packed.safetensors";
        export_packed(*model, path, {false, model_name});
    }
    PackedModel packed(path);

    const Tensor x1 = random_images(1, info.input_size, rng), xb = random_images(big, info.input_size, rng);
    auto fp32 = [&](const Tensor& x) {
        NoGradGuard ng;
        fp_model->forward(x);
    };
    auto ternary = [&](const Tensor& x) { packed.forward(x); };
    struct Row {
        const char* name;
        Timing b1, bb;
    };
    std::vector<Row> rows;
    rows.push_back({"tern FP32 eval", time_it(reps1, [&] { fp32(x1); }), time_it(reps_big, [&] { fp32(xb); })});
    kernels::force_isa(kernels::best_isa());
    rows.push_back({"tern packed ternary", time_it(reps1, [&] { ternary(x1); }), time_it(reps_big, [&] { ternary(xb); })});
    const std::string isa = kernels::isa_name(kernels::best_isa());
    if (with_reference) {
        kernels::force_isa(kernels::Isa::Scalar);
        rows.push_back({"packed, scalar reference", time_it(std::max(3, reps1 / 10), [&] { ternary(x1); }),
                        time_it(1, [&] { ternary(xb); })});
        kernels::force_isa(kernels::best_isa());
    }
    std::printf("%s, %d threads, ternary kernels: %s; packed weights %.1f KB in memory, file %.1f KB "
                "(arrays %.1f KB + the program)\n",
                model_name.c_str(), num_threads(), isa.c_str(), packed.packed_weight_bytes() / 1024.0,
                packed.file_bytes() / 1024.0, packed.array_bytes() / 1024.0);
    std::printf("  %-26s %12s %12s %16s\n", "form", "batch 1 ms", "p90 ms", "batch img/s");
    nlohmann::json j = {{"model", model_name}, {"threads", num_threads()}, {"isa", isa}, {"batch", big}};
    for (const Row& r : rows) {
        const double ips = double(big) / (r.bb.median_ms / 1e3);
        std::printf("  %-26s %12.3f %12.3f %16.0f\n", r.name, r.b1.median_ms, r.b1.p90_ms, ips);
        j[r.name] = {{"batch1_median_ms", r.b1.median_ms}, {"batch1_p90_ms", r.b1.p90_ms}, {"img_per_s", ips}};
    }
    std::printf("  packed vs FP32: %.2f× at batch 1, %.2f× at batch %lld\n", rows[0].b1.median_ms / rows[1].b1.median_ms,
                rows[0].bb.median_ms / rows[1].bb.median_ms, (long long)big);
    std::printf("%s\n", j.dump().c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bench_infer: %s\n", e.what());
    return 1;
}
