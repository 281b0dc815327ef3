// tests/test_checkpoint.cpp — checkpoints (optim/checkpoint.h) survive a failed save: a full disk during the
// write of a new checkpoint leaves the previous one whole and loadable, and no temp file behind. Loading names the
// file when it does not fit; load_model_state takes a checkpoint's model part or a plain state dict.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "layers/linear.h"
#include "optim/checkpoint.h"
#include "optim/sgd.h"
#include "tests/temp_dir.h"

using namespace tern;
using tern::testing::TempDir;

TEST_CASE("checkpoint: a save that fails on a full disk keeps the previous checkpoint, and leaves no temp file") {
    TempDir dir;
    const std::string path = dir / "last.safetensors";
    Rng rng(1);
    Linear model(64, 32, true, rng);  // 2,080 parameters: an 8 KB checkpoint
    SGD opt({{"all", model.parameters(), 0.f}}, {0.1f, 0.f, false});
    save_checkpoint(path, model, {&opt}, {{"epoch", 1}});
    const std::vector<float> epoch1 = model.weight.to_vector();

    // "Epoch 2": new weights, saved under a 4 KB file-size limit. write() fails with EFBIG as it would with
    // ENOSPC on a full disk (tests/test_atomic_file.cpp does the same; SIGXFSZ would kill us, so it is ignored).
    model.weight.fill_(0.5f);
    rlimit saved{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    rlimit small = saved;
    small.rlim_cur = 4096;
    const auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string message;
    try {
        save_checkpoint(path, model, {&opt}, {{"epoch", 2}});
    } catch (const tern::Error& e) {
        message = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, saved_handler);

    CHECK(message.find("cannot write " + path) == 0);
    CHECK(message.find("File too large") != std::string::npos);
    Linear restored(64, 32, true, rng);
    SGD restored_opt({{"all", restored.parameters(), 0.f}}, {0.1f, 0.f, false});
    CHECK(load_checkpoint(path, restored, {&restored_opt}).at("epoch") == 1);
    CHECK(restored.weight.to_vector() == epoch1);
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) files.push_back(entry.path().filename());
    CHECK(files == std::vector<std::string>{"last.safetensors"});  // the failed save's temp file was removed
}

TEST_CASE("checkpoint: loading into a model it does not fit names the file") {
    TempDir dir;
    const std::string path = dir / "last.safetensors";
    Rng rng(2);
    Linear saved(8, 4, true, rng), other(8, 5, true, rng);
    SGD opt({{"all", saved.parameters(), 0.f}}, {0.1f, 0.f, false});
    save_checkpoint(path, saved, {&opt}, {{"epoch", 3}});
    SGD other_opt({{"all", other.parameters(), 0.f}}, {0.1f, 0.f, false});
    CHECK_THROWS_WITH_AS(load_checkpoint(path, other, {&other_opt}),
                         doctest::Contains((path + ": checkpoint does not fit this model/optimizer: ").c_str()), tern::Error);
    CHECK_THROWS_WITH_AS(load_checkpoint(dir / "missing.safetensors", saved, {&opt}),
                         doctest::Contains(("cannot open " + dir / "missing.safetensors").c_str()), tern::Error);
}

TEST_CASE("checkpoint: load_model_state reads a checkpoint's model part, or a plain state dict as it is") {
    TempDir dir;
    Rng rng(3);
    Linear model(6, 3, true, rng);
    SGD opt({{"all", model.parameters(), 0.f}}, {0.1f, 0.9f, false});
    save_checkpoint(dir / "last.safetensors", model, {&opt}, {{"epoch", 1}});
    save_tensors(dir / "plain.safetensors", model.state_dict());
    for (const std::string file : {"last.safetensors", "plain.safetensors"}) {
        const std::map<std::string, Tensor> state = load_model_state(dir / file);
        CHECK(state.size() == 2);  // weight and bias; no "optim." entries, no "model." prefix
        REQUIRE(state.count("weight") == 1);
        REQUIRE(state.count("bias") == 1);
        CHECK(state.at("weight").to_vector() == model.weight.to_vector());
        CHECK(state.at("bias").to_vector() == model.bias.to_vector());
    }
}
