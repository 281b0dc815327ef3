// apps/average_checkpoints.cpp — average the weights of several checkpoints of one model (stochastic weight
// averaging done afterwards; optim/weight_average.h), e.g. the ends of a run's last epochs:
//
//   apps/average_checkpoints --out runs/x/avg.safetensors runs/x/epoch_16.safetensors ... runs/x/epoch_20.safetensors
//   apps/train_cifar --config ... --init runs/x/avg.safetensors --eval-only --precise-bn 200
//
// Inputs are training checkpoints (their model part) or plain state dicts; the output is a plain state dict that
// --init and --teacher load. The averaged BN statistics are stale: re-estimate them (--precise-bn) before judging.
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "optim/checkpoint.h"
#include "optim/weight_average.h"

using namespace tern;

int main(int argc, char** argv) {
    std::string out;
    std::vector<std::string> inputs;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (std::strncmp(argv[i], "--", 2) == 0) inputs.clear(), out.clear(), i = argc;  // --help or unknown
        else inputs.push_back(argv[i]);
    }
    if (out.empty() || inputs.size() < 2) {
        std::fprintf(stderr, "usage: average_checkpoints --out AVERAGE.safetensors CHECKPOINT CHECKPOINT...\n"
                             "  the equal-weight average of two or more checkpoints of one model\n");
        return 2;
    }
    try {
        WeightAverage average;
        for (const std::string& path : inputs) average.add(load_model_state(path), path);
        const nlohmann::json info = {{"averaged_from", inputs}};
        save_tensors(out, average.average(), {{"tern.checkpoint", info.dump()}});
        std::printf("%s: the average of %d checkpoints (%zu tensors); re-estimate BN statistics before use "
                    "(train_cifar --precise-bn N)\n", out.c_str(), average.count(), average.average().size());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "average_checkpoints: %s\n", e.what());
        return 1;
    }
    return 0;
}
