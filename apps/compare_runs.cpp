// apps/compare_runs.cpp — a results table (Markdown) of finished train_cifar runs, and optionally an SVG plot of
// accuracy against compressed model size (for the PTQ pruning-ratio ablation).
//
//   apps/compare_runs runs/ptq_p05 runs/ptq_p07 runs/ptq_p08 [--svg acc_vs_size.svg] [--title "..."]
//
// Reads from each run directory what train_cifar wrote there: metrics.jsonl (one record per epoch) and, for a
// quantized run, size.json (quant/model_size.h). Columns: epochs, final and best test accuracy (for a PTQ run, the
// best of its last stage), final accuracy on the exact subset, training time, the ternary layers' fraction of zeros
// and the compressed sizes; evaluations after training (--precise-bn, --average-epochs), when the run has them.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/svg.h"
#include "core/error.h"

using namespace tern;
using nlohmann::json;

namespace {

struct Run {
    std::string dir;
    int epochs = 0;
    double final_acc = 0, best_acc = 0, final_subset = -1, seconds = 0;
    std::string after;  // evaluations after training (records without "epoch": precise BN, weight averaging)
    int stage = 0;  // PTQ stage of the latest record (0: not a PTQ run)
    bool has_size = false;
    json size;  // size.json
};

// The PTQ stage recorded in an epoch record's per-layer statistics (0 if there is none).
int ptq_stage_of(const json& rec) {
    if (!rec.contains("layers") || !rec["layers"].is_object()) return 0;
    for (const auto& [name, stats] : rec["layers"].items())
        if (stats.is_object() && stats.contains("stage") && stats["stage"].is_number()) return stats["stage"].get<int>();
    return 0;
}

// Reads one run directory: its epoch records (metrics.jsonl) and, when present, its size report (size.json).
Run read_run(const std::string& dir) {
    Run r;
    r.dir = dir;
    const std::string metrics_path = dir + "/metrics.jsonl";
    std::ifstream in(metrics_path);
    TERN_CHECK(in, "cannot open " << metrics_path << " (is " << dir << " a train_cifar --out directory?)");
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.empty()) continue;
        json rec = json::parse(line, nullptr, false);
        TERN_CHECK(!rec.is_discarded() && rec.is_object() && rec.contains("test_acc") && rec["test_acc"].is_number(),
                   metrics_path << " line " << line_no << " is not a train_cifar epoch record");
        if (!rec.contains("epoch")) {  // "averaged 5 + BN 88.10 / 90.36 %", "precise BN 87.90 / 90.27 %"
            char text[160];
            const std::string label = rec.contains("averaged_epochs")
                                          ? "averaged " + std::to_string(rec.value("averaged_epochs", 0)) + " + BN"
                                          : std::string("precise BN");
            std::snprintf(text, sizeof text, "%s%s %.2f / %.2f %%", r.after.empty() ? "" : "; ", label.c_str(),
                          rec["test_acc"].get<double>(), rec.value("subset_acc", -1.0));
            r.after += text;
            continue;
        }
        r.epochs = rec.value("epoch", r.epochs + 1);
        r.final_acc = rec["test_acc"].get<double>();
        // A PTQ run's stages are different models: "best" is the best epoch of the last stage (the ternary one).
        const int stage = ptq_stage_of(rec);
        if (stage != r.stage) r.best_acc = 0, r.stage = stage;
        r.best_acc = std::max(r.best_acc, r.final_acc);
        r.final_subset = rec.value("subset_acc", -1.0);
        r.seconds += rec.value("seconds", 0.0);
    }
    TERN_CHECK(r.epochs > 0, metrics_path << " holds no epoch record");
    std::ifstream size_in(dir + "/size.json");
    if (size_in) {
        r.size = json::parse(size_in, nullptr, false);
        TERN_CHECK(!r.size.is_discarded() && r.size.is_object(), dir << "/size.json is not valid JSON");
        r.has_size = true;
    }
    return r;
}

// "runs/ptq_p05/" → "ptq_p05": the label of a run in the table and the plot legend.
std::string base_name(const std::string& dir) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    const size_t slash = d.find_last_of('/');
    return slash == std::string::npos ? d : d.substr(slash + 1);
}

}  // namespace

int main(int argc, char** argv) try {
    std::vector<std::string> dirs;
    std::string svg_path, title = "test accuracy vs compressed size";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "--svg" || a == "--title") && i + 1 < argc) (a == "--svg" ? svg_path : title) = argv[++i];
        else if (a.rfind("--", 0) == 0) throw Error("unknown flag " + a + " (flags: --svg FILE, --title TEXT)");
        else dirs.push_back(a);
    }
    if (dirs.empty()) {
        std::fprintf(stderr, "usage: compare_runs RUN_DIR... [--svg FILE] [--title TEXT]\n");
        return 2;
    }
    std::vector<Run> runs;
    for (const std::string& d : dirs) runs.push_back(read_run(d));

    std::printf("| run | epochs | test acc (final) | best | exact subset (final) | time | zeros | 2-bit KB | "
                "codebook+LZMA KB | bits/weight (LZMA / entropy) | after training (full / subset) |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const Run& r : runs) {
        std::printf("| %s | %d | %.2f %% | %.2f %% | %.2f %% | %.0f min |", base_name(r.dir).c_str(), r.epochs, r.final_acc,
                    r.best_acc, r.final_subset, r.seconds / 60);
        if (r.has_size)
            std::printf(" %.1f %% | %.1f | %.1f | %.3f / %.3f |", 100 * r.size.value("zero_fraction", 0.0),
                        r.size.value("bytes_2bit", 0.0) / 1024, r.size.value("bytes_codebook_lzma", 0.0) / 1024,
                        r.size.value("bits_per_weight_lzma", 0.0), r.size.value("bits_per_weight_entropy", 0.0));
        else
            std::printf(" – | – | – | – |");
        std::printf(" %s |\n", r.after.empty() ? "–" : r.after.c_str());
    }
    if (!svg_path.empty()) {
        std::vector<Series> points;  // one per run, so that the legend names each point
        for (const Run& r : runs) {
            TERN_CHECK(r.has_size, r.dir << " has no size.json (not a quantized run): it cannot be plotted by size");
            points.push_back({base_name(r.dir), {{r.size.value("bytes_codebook_lzma", 0.0) / 1024, r.final_acc}}});
        }
        write_line_plot(svg_path, title, "ternary weights, codebook + LZMA (KB)", "final test accuracy (%)", points);
        std::printf("wrote %s\n", svg_path.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "compare_runs: %s\n", e.what());
    return 1;
}
