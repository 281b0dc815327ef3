// apps/eval_imagenet.cpp — top-1 / top-5 accuracy of an ImageNet model on an ImageNet folder.
//
//   ./apps/eval_imagenet --model resnet18 --weights resnet18.safetensors --data DIR
//                        [--synsets FILE] [--limit N] [--batch 32] [--threads T] [--workers 2]
//                        [--show K] [--json OUT] [--ground-truth FILE [--devkit-map FILE]]
//   ./apps/eval_imagenet --model resnet50 --weights random --data DIR     (random init: accuracy ≈ chance)
//   ./apps/eval_imagenet --model resnet18 --weights random --save-random r18.safetensors   (write it, exit)
//   ./apps/eval_imagenet --data DIR --weights random --decode-only        (the data pipeline alone)
//   ./apps/eval_imagenet --model resnet18 --weights random --data DIR --export-packed r18.packed.safetensors
//   ./apps/eval_imagenet --model resnet18 --weights r18.packed.safetensors --data DIR   (the integer engine)
//
// Models: resnet18, resnet34, resnet50, mobilenet_v2 (models/registry.h), with torchvision's state-dict names.
// DIR is an ImageFolder (DIR/<synset>/<image>.JPEG, optional DIR/labels.txt) or, with --ground-truth, the flat
// validation folder (data/imagenet.h). Images go through torchvision's eval transform (Resize 256, CenterCrop
// 224, normalize), decoded by --workers threads ahead of the model, which runs on --threads threads.
// When workers + threads exceed the cores, or other programs share them, run with OMP_WAIT_POLICY=passive:
// OpenMP threads otherwise spin between ops and take the cores from the decoding workers (measured here:
// 2 to 3× slower on a shared 2-core machine).
//
// Weights are a safetensors state dict with torchvision's names. PyTorch writes one in three lines:
//
//     import torchvision, safetensors.torch
//     model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
//     safetensors.torch.save_file(model.state_dict(),
//                                 "resnet18.safetensors")
//
// (BatchNorm's int64 num_batches_tracked counters are skipped on loading: tern keeps none). Without the
// safetensors package, the same file from json, struct and numpy (also in models/README.md):
//
//     import json, struct, numpy as np
//     def save_safetensors(state_dict, path):
//         arrays = {k: v.detach().cpu().numpy().astype("<f4") for k, v in state_dict.items() if v.is_floating_point()}
//         header, offset = {}, 0
//         for k, a in arrays.items():
//             header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
//             offset += a.nbytes
//         h = json.dumps(header).encode()
//         h += b" " * (-len(h) % 8)
//         with open(path, "wb") as f:
//             f.write(struct.pack("<Q", len(h)) + h)
//             for a in arrays.values(): f.write(np.ascontiguousarray(a).tobytes())
//     save_safetensors(model.state_dict(), "resnet18.safetensors")
//
// Prints a live progress line (images, img/s, ETA, running top-1/top-5), then top-1, top-5, images/s, where the
// time went (waiting for decoded images vs running the model), and the files that could not be decoded
// (evaluated as a blank image, and listed). --show K prints the top-5 classes of the first K images;
// --json OUT writes a summary.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "core/kernels/ternary_conv.h"
#include "quant/calibrate.h"
#include "quant/packed_format.h"
#include "quant/packed_model.h"
#include "quant/quantize_model.h"
#include "core/autograd.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "data/imagenet.h"
#include "data/loader.h"
#include "models/registry.h"

using namespace tern;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The k classes with the largest logits, best first (ties: the lower class index first, so top-1 is
// torch.argmax), with their softmax probabilities.
struct Ranked {
    std::vector<int32_t> classes;
    std::vector<double> probabilities;
};
Ranked top_k(const float* logits, int64_t num_classes, int64_t k) {
    std::vector<int32_t> order(static_cast<size_t>(num_classes));
    std::iota(order.begin(), order.end(), 0);
    k = std::min(k, num_classes);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [logits](int32_t a, int32_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    // softmax(z)_c = e^{z_c − max} / Σ_j e^{z_j − max}
    const double top = logits[order[0]];
    double total = 0;
    for (int64_t j = 0; j < num_classes; ++j) total += std::exp(double(logits[j]) - top);
    Ranked r;
    for (int64_t i = 0; i < k; ++i) {
        r.classes.push_back(order[size_t(i)]);
        r.probabilities.push_back(std::exp(double(logits[order[size_t(i)]]) - top) / total);
    }
    return r;
}

std::string format_duration(double seconds) {
    const long s = long(std::lround(std::max(0.0, seconds)));
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

}  // namespace

int main(int argc, char** argv) try {
    Flags flags(argc, argv, "eval_imagenet: top-1/top-5 accuracy of an ImageNet model on an ImageNet folder");
    const std::string model_name =
        flags.get_string("model", "resnet18", "resnet18, resnet34, resnet50 or mobilenet_v2");
    const std::string weights = flags.get_string(
        "weights", "", "a safetensors state dict (torchvision names), or 'random' for a random init");
    const std::string data =
        flags.get_string("data", "", "ImageNet folder (ImageFolder layout, or flat with --ground-truth)");
    const std::string synsets = flags.get_string("synsets", "", "class names file (default DIR/synsets.txt)");
    const std::string ground_truth = flags.get_string(
        "ground-truth", "", "flat validation folder: labels file (0-based, or devkit IDs with --devkit-map)");
    const std::string devkit_map =
        flags.get_string("devkit-map", "", "the devkit's map_clsloc.txt (with --ground-truth)");
    const int64_t limit = flags.get_int("limit", -1, "evaluate only the first N images (-1: all)");
    const int64_t batch_size = flags.get_int("batch", 32, "images per forward pass");
    const int64_t threads = flags.get_int("threads", 0, "threads for the model (0: OpenMP default)");
    const int64_t workers = flags.get_int("workers", 2, "threads decoding images ahead of the model");
    const int64_t show = flags.get_int("show", 0, "print the top-5 classes of the first K images");
    const std::string json_path = flags.get_string("json", "", "write a JSON summary to this file");
    const int64_t seed = flags.get_int("seed", 0, "seed of the random init (--weights random)");
    const std::string save_random =
        flags.get_string("save-random", "", "write the random init to this safetensors file");
    const bool decode_only = flags.get_bool(
        "decode-only", false, "run only the data pipeline, not the model (does decoding bound the throughput?)");
    const std::string export_packed_path = flags.get_string(
        "export-packed", "", "ternarize every layer (TGA's quantizer), calibrate 8-bit activations on the first "
                             "--calibration-images of --data, write a packed model here, and evaluate that");
    const int64_t calibration_images = flags.get_int("calibration-images", 64, "images for --export-packed");
    flags.done();
    if (threads > 0) set_num_threads(int(threads));

    // ---- the model ----
    const ModelInfo info = model_info(model_name);
    TERN_CHECK(!weights.empty(), "--weights is required: a .safetensors file, or 'random'");
    TERN_CHECK(save_random.empty() || weights == "random",
               "--save-random writes a random init: use it with --weights random");
    // A packed ternary file (quant/packed_format.h) runs on the integer engine; anything else is a state dict.
    std::unique_ptr<PackedModel> packed;
    if (weights != "random" && read_safetensors(weights).metadata.count("tern.packed")) {
        packed = std::make_unique<PackedModel>(weights);
        std::printf("packed ternary model (integer engine, %s kernels, %.1f KB)\n",
                    kernels::isa_name(kernels::active_isa()), double(packed->file_bytes()) / 1024);
    }
    auto model = make_model(model_name, info.num_classes, uint64_t(seed));
    if (weights != "random" && !packed) {
        const LoadReport report = model->load_state_dict(load_tensors(weights), /*strict=*/false);
        TERN_CHECK(report.ok(), weights << " does not fit --model " << model_name << ": " << report.describe()
                                        << " (exported from another model? see models/README.md)");
    }
    if (!save_random.empty()) {
        save_tensors(save_random, model->state_dict(),
                     {{"arch", model_name}, {"init", "tern random init, seed " + std::to_string(seed)}});
        std::printf("wrote the random init of %s (seed %lld) to %s\n", model_name.c_str(), (long long)seed,
                    save_random.c_str());
        if (data.empty()) return 0;
    }
    TERN_CHECK(!data.empty(), "--data DIR is required (an ImageNet folder)");
    model->eval();
    NoGradGuard no_grad;

    // ---- the data ----
    ImageNetOptions options;
    options.limit = limit;
    options.synsets = synsets;
    options.ground_truth = ground_truth;
    if (!devkit_map.empty()) {
        options.ground_truth_format = GroundTruth::Devkit;
        options.devkit_map = devkit_map;
    }
    const ImageNetDataset dataset(data, options);
    TERN_CHECK(dataset.num_classes() <= info.num_classes,
               dataset.describe() << " has " << dataset.num_classes() << " classes, more than the model's "
                                  << info.num_classes);
    LoaderOptions lo;
    lo.batch_size = batch_size;
    lo.shuffle = false;  // in file order, so --show's "first K" are the first files
    lo.workers = int(workers);
    lo.prefetch = std::max(4, 2 * int(workers));
    DataLoader loader(dataset, lo);
    const int64_t total = loader.num_samples();
    std::printf("%s, weights %s, %s\n%lld images, batch %lld, %d model threads, %lld decoding workers\n",
                model_name.c_str(), weights.c_str(), dataset.describe().c_str(), (long long)total,
                (long long)batch_size, num_threads(), (long long)workers);
    std::fflush(stdout);

    if (!export_packed_path.empty()) {
        TERN_CHECK(!packed, "--export-packed starts from float weights, not from a packed file");
        QuantizeConfig qc;
        qc.method = "tga";
        attach_weight_quantizers(*model, qc);  // every conv and the classifier ternary, the stem too (for speed)
        attach_range_observers(*model, /*include_first=*/true);
        LoaderOptions co = lo;
        co.end = std::min<int64_t>(calibration_images, dataset.size());
        DataLoader calib(dataset, co);
        calib.start_epoch(0);
        while (auto b = calib.next()) model->forward(b->images);
        export_packed(*model, export_packed_path, {false, model_name});
        packed = std::make_unique<PackedModel>(export_packed_path);
        std::printf("exported %s (calibrated on %lld images), %.1f KB; evaluating it\n", export_packed_path.c_str(),
                    (long long)co.end, double(packed->file_bytes()) / 1024);
    }

    // ---- the evaluation loop ----
    const bool tty = isatty(fileno(stderr));
    int64_t seen = 0, top1 = 0, top5 = 0;
    double wait_s = 0, model_s = 0, last_report = -1e9;
    std::vector<std::string> shown;
    const auto start = Clock::now();
    loader.start_epoch(0);
    for (;;) {
        auto t = Clock::now();
        std::optional<Batch> batch = loader.next();  // blocks while the workers are still decoding it
        wait_s += seconds_since(t);
        if (!batch) break;

        t = Clock::now();
        const int64_t B = batch->images.size(0);
        if (!decode_only) {
            const Tensor logits = packed ? packed->forward(batch->images) : model->forward(batch->images);
            const int64_t K = logits.size(1);
            for (int64_t b = 0; b < B; ++b) {
                const Ranked r = top_k(logits.data() + b * K, K, 5);
                const int32_t label = batch->labels[size_t(b)];
                top1 += r.classes[0] == label;
                top5 += std::find(r.classes.begin(), r.classes.end(), label) != r.classes.end();
                if (seen + b < show) {
                    std::string s = dataset.path(batch->indices[size_t(b)]) + "   (true: " +
                                    dataset.class_name(label) + ")\n";
                    for (size_t i = 0; i < r.classes.size(); ++i) {
                        char line[256];
                        std::snprintf(line, sizeof line, "    %6.2f %%  %s\n", 100 * r.probabilities[i],
                                      dataset.class_name(r.classes[i]).c_str());
                        s += line;
                    }
                    shown.push_back(s);
                }
            }
        }
        seen += B;
        model_s += seconds_since(t);

        // Progress: refreshed in place on a terminal; in a log, one line every 10 s.
        const double elapsed = seconds_since(start);
        if (tty || elapsed - last_report >= 10 || seen == total) {
            const double rate = double(seen) / elapsed;
            char accuracy[64] = "";
            if (!decode_only)
                std::snprintf(accuracy, sizeof accuracy, "  top-1 %.2f %%  top-5 %.2f %%",
                              100.0 * double(top1) / double(seen), 100.0 * double(top5) / double(seen));
            std::fprintf(stderr, "%s%lld/%lld images  %.1f img/s  ETA %s%s%s", tty ? "\r" : "", (long long)seen,
                         (long long)total, rate, format_duration(double(total - seen) / rate).c_str(), accuracy,
                         tty ? "   " : "\n");
            last_report = elapsed;
        }
    }
    const double seconds = seconds_since(start);
    if (tty) std::fprintf(stderr, "\n");

    // ---- the report ----
    for (const std::string& s : shown) std::printf("%s", s.c_str());
    const auto failures = dataset.failures();
    const double ips = double(seen) / seconds;
    if (decode_only) std::printf("decode only: %lld images, no model\n", (long long)seen);
    else std::printf("top-1 %.2f %%  top-5 %.2f %%  (%lld images)\n", 100.0 * double(top1) / double(seen),
                     100.0 * double(top5) / double(seen), (long long)seen);
    std::printf("%.1f images/s: %.1f s in all, %.1f s running the model, %.1f s waiting for decoded images\n", ips,
                seconds, model_s, wait_s);
    std::printf("%zu undecodable files (evaluated as blank images)%s\n", failures.size(), failures.empty() ? "" : ":");
    for (const auto& f : failures) std::printf("  %s\n", f.reason.c_str());

    if (!json_path.empty()) {
        nlohmann::json failed = nlohmann::json::array();
        for (const auto& f : failures) failed.push_back({{"path", f.path}, {"reason", f.reason}});
        const nlohmann::json j = {
            {"model", model_name}, {"weights", weights}, {"data", data}, {"images", seen},
            {"top1", double(top1) / double(seen)}, {"top5", double(top5) / double(seen)},
            {"seconds", seconds}, {"images_per_s", ips}, {"model_seconds", model_s}, {"wait_seconds", wait_s},
            {"batch", batch_size}, {"threads", num_threads()}, {"workers", workers}, {"decode_only", decode_only},
            {"failures", failed}};
        std::ofstream out(json_path);
        TERN_CHECK(out, "cannot write --json file " << json_path);
        out << j.dump(2) << "\n";
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "eval_imagenet: %s\n", e.what());
    return 1;
}
