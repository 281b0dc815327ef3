// tests/test_train_cifar_app.cpp — apps/train_cifar as a user runs it, on a small synthetic CIFAR-10, with the
// failures a long run meets: SIGKILL mid-epoch then --resume, SIGKILL while a checkpoint is being written, an
// unwritable --out, a full disk. `make test` builds the app first; TERN_APP_DIR says where it is (make asan
// points it at the sanitized build).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/progress.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "optim/checkpoint.h"
#include "tests/temp_dir.h"

using namespace tern;
using tern::testing::TempDir;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string app_path() {
    const char* dir = std::getenv("TERN_APP_DIR");
    return std::string(dir && *dir ? dir : "apps") + "/train_cifar";
}

// A learnable CIFAR-10: record r has label r % 10 and, on a dim noisy background, a bright 8×8 square whose
// position (one of 10 on a 4×4 grid) and colour channel depend on the label. 512 training records spread over
// the five data_batch files, 100 test records.
void write_synthetic_cifar(const std::string& dir) {
    uint32_t state = 12345;
    auto noise = [&] { return uint8_t((state = state * 1664525u + 1013904223u) >> 26); };  // 0..63
    auto records = [&](int first, int count) {
        std::string bytes;
        for (int r = first; r < first + count; ++r) {
            const int label = r % 10, top = (label / 4) * 8, left = (label % 4) * 8;
            bytes += char(label);
            for (int c = 0; c < 3; ++c)  // planes R, G, B, each 32×32 row-major
                for (int y = 0; y < 32; ++y)
                    for (int x = 0; x < 32; ++x) {
                        const bool square = y >= top && y < top + 8 && x >= left && x < left + 8 && c == label % 3;
                        bytes += char(square ? 200 + noise() / 2 : noise());
                    }
        }
        return bytes;
    };
    const int per_file[5] = {103, 103, 102, 102, 102};  // 512
    int first = 0;
    for (int k = 0; k < 5; ++k) {
        std::ofstream(dir + "/data_batch_" + std::to_string(k + 1) + ".bin", std::ios::binary)
            << records(first, per_file[k]);
        first += per_file[k];
    }
    std::ofstream(dir + "/test_batch.bin", std::ios::binary) << records(1000, 100);
}

// Starts the app with `args`, its stdout and stderr appended to `log`. A file-size limit (bytes) makes writes
// past it fail with EFBIG, as a full disk fails with ENOSPC (SIGXFSZ, which would kill it, is ignored).
pid_t start_app(const std::vector<std::string>& args, const std::string& log, rlim_t file_size_limit = RLIM_INFINITY) {
    std::vector<std::string> all = {app_path()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // the child: only async-signal-safe calls until exec
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        if (file_size_limit != RLIM_INFINITY) {
            signal(SIGXFSZ, SIG_IGN);
            const rlimit limit{file_size_limit, file_size_limit};
            setrlimit(RLIMIT_FSIZE, &limit);
        }
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

// Waits for the process to end (killing it after `timeout_s`) and returns its wait status.
int wait_for(pid_t pid, double timeout_s) {
    const auto start = Clock::now();
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::duration<double>(Clock::now() - start).count() > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            FAIL("train_cifar did not finish within " << timeout_s << " s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status;
}

// The timeout only catches a hung app: under `make asan` (ASan + UBSan, -O1) a few epochs of ResNet-20 on the
// synthetic set take a minute on a loaded 2-core machine, so it is generous.
constexpr double app_timeout_s = 300;
int run_app(const std::vector<std::string>& args, const std::string& log, double timeout_s = app_timeout_s,
            rlim_t file_size_limit = RLIM_INFINITY) {
    const int status = wait_for(start_app(args, log, file_size_limit), timeout_s);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The "epoch" of every record in metrics.jsonl, in order.
std::vector<int64_t> metric_epochs(const std::string& out) {
    std::vector<int64_t> epochs;
    std::istringstream in(read_text(out + "/metrics.jsonl"));
    std::string line;
    while (std::getline(in, line)) epochs.push_back(nlohmann::json::parse(line).at("epoch").get<int64_t>());
    return epochs;
}

std::vector<int64_t> one_to(int64_t n) {
    std::vector<int64_t> v;
    for (int64_t i = 1; i <= n; ++i) v.push_back(i);
    return v;
}

// Files in `dir` whose name contains ".tmp." (left by an interrupted atomic write).
std::vector<std::string> temp_files(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) names.push_back(e.path().filename());
    return names;
}

// Whether a checkpoint save is under way (or was cut short): a temp file of last or best.safetensors exists.
bool checkpoint_temp_file_exists(const std::string& out) {
    for (const std::string& name : temp_files(out))
        if (name.rfind("last.safetensors.tmp.", 0) == 0 || name.rfind("best.safetensors.tmp.", 0) == 0) return true;
    return false;
}

// The checkpoint must parse completely (every tensor) and name its epoch.
int64_t checkpoint_epoch(const std::string& path) {
    load_tensors(path);
    return read_checkpoint_info(path).at("epoch").get<int64_t>();
}

std::vector<std::string> common_args(const TempDir& data, const std::string& out) {
    return {"--data", data.path(), "--model", "resnet20", "--batch", "64", "--workers", "1", "--threads", "2",
            "--lr", "0.05", "--out", out};
}
std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("metrics.jsonl on resume keeps the records up to the checkpoint's epoch, and drops a cut-off line") {
    // A run killed after writing epoch 3's record but before its checkpoint resumes from epoch 2: record 3 must
    // go, or the resumed run would list epoch 3 twice. The kill may also have cut a line short.
    TempDir dir;
    const std::string path = dir / "metrics.jsonl";
    std::ofstream(path) << "{\"epoch\":1,\"lr\":0.1}\n{\"epoch\":2,\"lr\":0.09}\n{\"epoch\":3,\"lr\":0.08}\n{\"epo";
    keep_jsonl_epochs_through(path, 2);
    CHECK(read_text(path) == "{\"epoch\":1,\"lr\":0.1}\n{\"epoch\":2,\"lr\":0.09}\n");
    keep_jsonl_epochs_through(path, 0);  // a fresh run in an old folder starts a new file
    CHECK(read_text(path).empty());
    keep_jsonl_epochs_through(dir / "missing.jsonl", 3);  // nothing to trim: nothing created
    CHECK_FALSE(fs::exists(dir / "missing.jsonl"));
}

TEST_CASE("train_cifar app: SIGKILL mid-epoch, then --resume finishes with one metrics record per epoch") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", log1 = run / "first.log", log2 = run / "resumed.log";
    const auto args = common_args(data, out) + std::vector<std::string>{"--epochs", "4"};

    // Start, wait for the first checkpoint, then kill a third of an epoch later: in the middle of epoch 2.
    const auto t0 = Clock::now();
    const pid_t pid = start_app(args, log1);
    int status = 0;
    while (!fs::exists(out + "/last.safetensors") && waitpid(pid, &status, WNOHANG) == 0 &&
           Clock::now() - t0 < std::chrono::seconds(40))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE_MESSAGE(fs::exists(out + "/last.safetensors"), read_text(log1));
    std::this_thread::sleep_for((Clock::now() - t0) / 3);
    kill(pid, SIGKILL);
    status = wait_for(pid, 10);
    REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "the run ended before the kill:\n"
                                                                              << read_text(log1));
    const int64_t saved = checkpoint_epoch(out + "/last.safetensors");
    REQUIRE(saved >= 1);
    REQUIRE(saved < 4);

    REQUIRE_MESSAGE(run_app(args + std::vector<std::string>{"--resume"}, log2) == 0, read_text(log2));
    const std::string resumed = read_text(log2);
    CHECK(resumed.find("resumed from " + out + "/last.safetensors after epoch " + std::to_string(saved)) !=
          std::string::npos);
    // Numbering continues from the checkpoint: the resumed run reports epochs saved+1 … 4 and none before.
    for (int64_t e = 1; e <= 4; ++e) {
        CAPTURE(e);
        const bool reported = resumed.find("epoch " + std::to_string(e) + "/4  train loss") != std::string::npos;
        CHECK(reported == (e > saved));
    }
    CHECK(metric_epochs(out) == one_to(4));  // no duplicate of the epoch the kill interrupted
    CHECK(checkpoint_epoch(out + "/last.safetensors") == 4);
    CHECK(temp_files(out).empty());
}

TEST_CASE("train_cifar app: SIGKILL while checkpoints are written never leaves a broken last.safetensors") {
    // One training step per epoch (--train-limit 64), so a save ends every ~second. Each round starts the app
    // (with --resume once there is a checkpoint), watches for the temp file of a save, and kills the process
    // during its first or second save, 0–2 ms after the temp file appears.
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", log = run / "app.log";
    const auto args = common_args(data, out) + std::vector<std::string>{"--epochs", "8", "--train-limit", "64"};
    std::mt19937 rng(2024);
    int kills = 0, mid_save = 0;
    for (int round = 0; round < 6; ++round) {
        const bool have_checkpoint = fs::exists(out + "/last.safetensors");
        const pid_t pid = start_app(have_checkpoint ? args + std::vector<std::string>{"--resume"} : args, log);
        const int target = 1 + int(rng() % 2);  // kill during this save of the run
        int saves_seen = 0, status = 0;
        bool was_present = false, exited = false;
        const auto t0 = Clock::now();
        while (Clock::now() - t0 < std::chrono::seconds(30)) {
            if (waitpid(pid, &status, WNOHANG) != 0) {
                exited = true;
                break;
            }
            const bool present = fs::exists(out) && checkpoint_temp_file_exists(out);
            if (present && !was_present && ++saves_seen == target) break;
            was_present = present;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        if (exited) break;  // the run finished all its epochs before this round's kill
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
        kill(pid, SIGKILL);
        wait_for(pid, 10);
        ++kills;
        mid_save += checkpoint_temp_file_exists(out);  // its temp file outlived it: the kill landed inside a save
        if (fs::exists(out + "/last.safetensors")) {
            CAPTURE(round);
            CHECK_NOTHROW(checkpoint_epoch(out + "/last.safetensors"));
        }
    }
    MESSAGE(kills << " kills, " << mid_save << " of them while a checkpoint was being written");
    CHECK(kills >= 3);
    CHECK(mid_save >= 1);

    // A clean finish: all 8 epochs, one record each, and the killed runs' temp files cleaned up.
    const bool have_checkpoint = fs::exists(out + "/last.safetensors");
    REQUIRE_MESSAGE(run_app(have_checkpoint ? args + std::vector<std::string>{"--resume"} : args, log) == 0,
                    read_text(log));
    CHECK(checkpoint_epoch(out + "/last.safetensors") == 8);
    CHECK(metric_epochs(out) == one_to(8));
    CHECK(temp_files(out).empty());
}

TEST_CASE("train_cifar app: missing data and an unwritable --out fail at once; a full disk fails the save, keeping the checkpoint") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string log = run / "app.log";

    // No data: where to get it, exit 2.
    CHECK(run_app({"--data", run / "no-such-dir", "--out", run / "out0"}, log) == 2);
    CHECK(read_text(log).find("train_cifar: CIFAR data not found at '" + run / "no-such-dir" + "'") !=
          std::string::npos);

    // /proc accepts no new directories: the probe before training says so, naming the folder.
    CHECK(run_app(common_args(data, "/proc/tern-unwritable/run") + std::vector<std::string>{"--epochs", "1"}, log) == 1);
    CHECK(read_text(log).find("train_cifar: cannot create output directory /proc/tern-unwritable/run") !=
          std::string::npos);

    // Epoch 1 saves normally. Epoch 2 runs with a 1 MB file-size limit: the probe and the metrics line fit,
    // the 2.2 MB checkpoint does not. The run exits 1 naming the file and the reason; epoch 1's checkpoint is
    // untouched and no temp file is left; --resume then redoes epoch 2.
    const std::string out = run / "out";
    const auto args = common_args(data, out) + std::vector<std::string>{"--train-limit", "64"};
    REQUIRE(run_app(args + std::vector<std::string>{"--epochs", "1"}, log) == 0);
    const std::vector<uint8_t> epoch1 = read_file(out + "/last.safetensors");
    std::ofstream(log, std::ios::trunc).close();
    CHECK(run_app(args + std::vector<std::string>{"--epochs", "2", "--resume"}, log, app_timeout_s, 1 << 20) == 1);
    const std::string message = read_text(log);
    CHECK(message.find("train_cifar: cannot write " + out + "/last.safetensors: short write (File too large)") !=
          std::string::npos);
    CHECK(read_file(out + "/last.safetensors") == epoch1);
    CHECK(temp_files(out).empty());

    REQUIRE(run_app(args + std::vector<std::string>{"--epochs", "2", "--resume"}, log) == 0);
    CHECK(checkpoint_epoch(out + "/last.safetensors") == 2);
    CHECK(metric_epochs(out) == one_to(2));
}

TEST_CASE("train_cifar app: a TGA + LSQ checkpoint reloads with --init for --eval-only, --export and --eval-packed") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", packed = run / "model.packed.safetensors", log = run / "log";
    const std::vector<std::string> quant = {"--method", "tga", "--update", "single", "--act-bits", "4"};
    REQUIRE_MESSAGE(run_app(common_args(data, out) + quant + std::vector<std::string>{"--epochs", "1"}, log) == 0,
                    read_text(log));
    const std::vector<std::string> reload = quant + std::vector<std::string>{"--init", out + "/best.safetensors"};

    // The LSQ steps in the checkpoint are restored, not re-initialized: the export and the packed evaluation agree.
    REQUIRE_MESSAGE(run_app(common_args(data, run / "eval") + reload +
                                std::vector<std::string>{"--eval-only", "--export", packed},
                            log) == 0,
                    read_text(log));
    REQUIRE(fs::exists(packed));
    REQUIRE_MESSAGE(run_app(common_args(data, run / "eval") + reload + std::vector<std::string>{"--eval-packed", packed},
                            log) == 0,
                    read_text(log));
    const std::string text = read_text(log);
    const size_t at = text.find("same prediction on ");
    REQUIRE_MESSAGE(at != std::string::npos, text);
    CHECK(std::stod(text.substr(at + 19)) >= 99.0);  // 100 test records: at most one boundary case

    // Without --act-bits the checkpoint's LSQ steps are unexpected keys, and the error says what to add.
    CHECK(run_app(common_args(data, run / "eval") +
                      std::vector<std::string>{"--method", "tga", "--init", out + "/best.safetensors", "--eval-only"},
                  log) != 0);
    CHECK(read_text(log).find("it has LSQ steps: add its --act-bits") != std::string::npos);
}

TEST_CASE("train_cifar app: --act-start-epoch trains with float activations first, then switches LSQ on") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", log = run / "log";
    const std::vector<std::string> quant = {"--method", "tga", "--update", "single", "--act-bits", "2"};
    // Out of range: an error naming the flag, before any training.
    CHECK(run_app(common_args(data, out) + quant + std::vector<std::string>{"--epochs", "2", "--act-start-epoch", "2"},
                  log) != 0);
    CHECK(read_text(log).find("--act-start-epoch must be in [0, --epochs)") != std::string::npos);
    // Switched on at the second epoch. best.safetensors is then the best model *with* LSQ (the best accuracy is
    // reset at the switch), so its steps are initialized: signed = −1 (unsigned inputs after a ReLU), step > 0.
    REQUIRE_MESSAGE(run_app(common_args(data, out) + quant + std::vector<std::string>{"--epochs", "2", "--act-start-epoch", "1"},
                            log) == 0,
                    read_text(log));
    CHECK(read_text(log).find("LSQ 2-bit activations switched on at epoch 2") != std::string::npos);
    int steps = 0;
    for (const auto& [name, t] : load_tensors(out + "/best.safetensors")) {
        if (name.find("input_quantizer.signed") != std::string::npos) CHECK_MESSAGE(t.item() == -1.f, name);
        if (name.find("input_quantizer.step") != std::string::npos) {
            CHECK_MESSAGE(t.item() > 0.f, name);
            ++steps;
        }
    }
    CHECK(steps == 19);  // every conv but the first, and the classifier
}

TEST_CASE("train_cifar app: --act-warmup-bits runs LSQ at 4 bits first, then 2; --resume on either side of the switch") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", log = run / "log";
    const auto args = common_args(data, out) + std::vector<std::string>{"--train-limit", "64", "--method", "tga",
                                                                         "--update", "single", "--act-bits-last", "8"};
    const std::vector<std::string> warmup = {"--act-bits", "2", "--act-warmup-bits", "4", "--act-warmup-epochs", "2"};
    CHECK(run_app(args + warmup + std::vector<std::string>{"--epochs", "2"}, log) != 0);  // no epoch left at 2 bits
    CHECK(read_text(log).find("--act-warmup-epochs must be ≥ 1 and end before --epochs") != std::string::npos);
    const auto widths = [&](const std::string& path) {
        std::map<std::string, float> bits;
        for (const auto& [name, t] : load_model_state(path))  // a checkpoint's model part, or a state dict
            if (name.find("input_quantizer.bits") != std::string::npos) bits[name] = t.item();
        return bits;
    };
    // Epoch 1 at 4 bits (a plain A4 run), then resumed inside the warm-up: epoch 2 at 4 bits, epoch 3 at 2.
    REQUIRE_MESSAGE(run_app(args + std::vector<std::string>{"--act-bits", "4", "--epochs", "1"}, log) == 0, read_text(log));
    REQUIRE_MESSAGE(run_app(args + warmup + std::vector<std::string>{"--epochs", "3", "--resume"}, log) == 0, read_text(log));
    CHECK(read_text(log).find("LSQ activations switched from 4 to 2 bits at epoch 3 (18 steps re-initialized)") !=
          std::string::npos);
    auto bits = widths(out + "/last.safetensors");
    CHECK(bits.at("layer1.0.conv1.input_quantizer.bits") == 2.f);
    CHECK(bits.at("linear.input_quantizer.bits") == 8.f);
    CHECK(widths(out + "/best.safetensors").at("layer2.1.conv2.input_quantizer.bits") == 2.f);  // best at 2 bits
    // Resumed after the switch: attached at 2 bits (the checkpoint's), no second switch.
    const std::string log4 = run / "log4";  // run_app appends: a fresh log for this run
    REQUIRE_MESSAGE(run_app(args + warmup + std::vector<std::string>{"--epochs", "4", "--resume"}, log4) == 0, read_text(log4));
    CHECK(read_text(log4).find("resumed from " + out + "/last.safetensors after epoch 3") != std::string::npos);
    CHECK_MESSAGE(read_text(log4).find("switched from") == std::string::npos, read_text(log4));
    CHECK(widths(out + "/last.safetensors").at("layer3.0.conv1.input_quantizer.bits") == 2.f);
}

TEST_CASE("train_cifar app: --average-epochs evaluates and saves the mean of the last epochs' weights") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string one = run / "one", two = run / "two", log = run / "log";
    // A constant learning rate, so that epoch 1 of the 2-epoch run is the 1-epoch run (same seed, same batches).
    const auto args = [&](const std::string& out) {
        return common_args(data, out) + std::vector<std::string>{"--train-limit", "128", "--schedule", "constant"};
    };
    REQUIRE_MESSAGE(run_app(args(one) + std::vector<std::string>{"--epochs", "1"}, log) == 0, read_text(log));
    CHECK(run_app(args(two) + std::vector<std::string>{"--epochs", "2", "--average-epochs", "3"}, log) != 0);
    CHECK(read_text(log).find("--average-epochs must be in [0, --epochs]") != std::string::npos);
    REQUIRE_MESSAGE(run_app(args(two) + std::vector<std::string>{"--epochs", "2", "--average-epochs", "2",
                                                                  "--precise-bn", "2"}, log) == 0, read_text(log));
    CHECK(read_text(log).find("averaged over the last 2 epochs, after precise BN: test loss") != std::string::npos);
    // metrics.jsonl: 2 epoch records, then precise BN of the final model, then the average.
    std::istringstream in(read_text(two + "/metrics.jsonl"));
    std::vector<nlohmann::json> recs;
    for (std::string line; std::getline(in, line);) recs.push_back(nlohmann::json::parse(line));
    REQUIRE(recs.size() == 4);
    CHECK(recs[3].at("averaged_epochs") == 2);
    CHECK(recs[3].at("precise_bn_batches") == 2);
    CHECK(recs[3].contains("test_acc"));
    // The averaged weights are the mean of the two epochs' (BN statistics are re-estimated, so compare weights).
    const auto w1 = load_model_state(one + "/last.safetensors").at("layer2.0.conv1.weight").to_vector();
    const auto w2 = load_model_state(two + "/last.safetensors").at("layer2.0.conv1.weight").to_vector();
    const auto avg = load_tensors(two + "/averaged.safetensors").at("layer2.0.conv1.weight").to_vector();
    REQUIRE(avg.size() == w1.size());
    CHECK(w1 != w2);
    for (size_t i = 0; i < avg.size(); ++i) CHECK(avg[i] == doctest::Approx((w1[i] + w2[i]) / 2).epsilon(1e-5).scale(1e-6));
}

TEST_CASE("train_cifar app: --resume inside the --average-epochs window continues the saved average") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", log = run / "log", first = run / "epoch1.safetensors";
    const auto args = common_args(data, out) + std::vector<std::string>{"--train-limit", "128", "--schedule", "constant",
                                                                         "--precise-bn", "2"};
    // Epoch 1 alone, averaging it; then the same run resumed to 2 epochs, averaging the last 2.
    REQUIRE_MESSAGE(run_app(args + std::vector<std::string>{"--epochs", "1", "--average-epochs", "1"}, log) == 0, read_text(log));
    REQUIRE(fs::exists(out + "/average_running.safetensors"));
    fs::copy_file(out + "/last.safetensors", first);
    REQUIRE_MESSAGE(run_app(args + std::vector<std::string>{"--epochs", "2", "--average-epochs", "2", "--resume"}, log) == 0,
                    read_text(log));
    CHECK(read_text(log).find("resumed the weight average of epochs 1–1 from " + out + "/average_running.safetensors") !=
          std::string::npos);
    CHECK(read_text(log).find("averaged over the last 2 epochs") != std::string::npos);
    const auto w1 = load_model_state(first).at("layer2.0.conv1.weight").to_vector();
    const auto w2 = load_model_state(out + "/last.safetensors").at("layer2.0.conv1.weight").to_vector();
    const auto avg = load_tensors(out + "/averaged.safetensors").at("layer2.0.conv1.weight").to_vector();
    REQUIRE(avg.size() == w1.size());
    CHECK(w1 != w2);
    for (size_t i = 0; i < avg.size(); ++i) CHECK(avg[i] == doctest::Approx((w1[i] + w2[i]) / 2).epsilon(1e-5).scale(1e-6));
    // Without a saved average that ends at the checkpoint's epoch (here: none), the resumed run says so and averages
    // only the epochs after the resume.
    fs::remove(out + "/average_running.safetensors");
    REQUIRE_MESSAGE(run_app(args + std::vector<std::string>{"--epochs", "3", "--average-epochs", "3", "--resume"}, log) == 0,
                    read_text(log));
    CHECK(read_text(log).find("without a matching") != std::string::npos);
    CHECK(read_text(log).find("averaged over the last 1 epochs") != std::string::npos);
}

TEST_CASE("train_cifar app: PTQ runs its three stages in one run; --ptq-ramp enters stage 3 gradually") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", log = run / "log";
    const std::vector<std::string> ptq = {"--method", "ptq", "--epochs", "3", "--ptq-stages", "1,1,1",
                                          "--train-limit", "64"};
    // Longer than stage 3: an error naming the flag, before any training.
    CHECK(run_app(common_args(data, out) + ptq + std::vector<std::string>{"--ptq-ramp", "2"}, log) != 0);
    CHECK(read_text(log).find("--ptq-ramp must be in [0, stage 3's 1 epochs], got 2") != std::string::npos);
    REQUIRE_MESSAGE(run_app(common_args(data, out) + ptq + std::vector<std::string>{"--ptq-ramp", "1"}, log) == 0,
                    read_text(log));
    const std::string text = read_text(log);
    CHECK(text.find("PTQ stage 2 starts at epoch 2") != std::string::npos);
    CHECK(text.find("PTQ stage 3 starts at epoch 3") != std::string::npos);
    // The saved model is the ternary one (λ = 1 at the end of the ramp): stage 3, and every quantized layer keeps
    // exactly round(0.3·n) weights (Δ₀ may zero a few more of them, never fewer).
    const auto state = load_model_state(out + "/last.safetensors");
    CHECK(state.at("layer2.0.conv1.weight_quantizer.stage").item() == 3.f);
    const auto mask = state.at("layer2.0.conv1.weight_quantizer.mask").to_vector();
    double kept = 0;
    for (float m : mask) kept += m;
    CHECK(kept == std::round(0.3 * double(mask.size())));
}

TEST_CASE("train_cifar app: --dampen records λ and the ternary codes changed per epoch; PTQ from stage 3, off for fp") {
    REQUIRE_MESSAGE(fs::exists(app_path()), app_path() << " is missing: `make test` builds it");
    TempDir data, run;
    write_synthetic_cifar(data.path());
    const std::string out = run / "out", log = run / "log";
    // Four steps per epoch (--train-limit 256): under `make asan` ResNet-20 trains at ~24 img/s.
    const std::vector<std::string> limit = {"--train-limit", "256"};
    const std::vector<std::string> tga = {"--method", "tga", "--update", "single", "--epochs", "2", "--dampen", "0.05"};
    REQUIRE_MESSAGE(run_app(common_args(data, out) + limit + tga, log) == 0, read_text(log));
    CHECK(read_text(log).find("ternary codes changed this epoch") != std::string::npos);
    std::ifstream in(out + "/metrics.jsonl");
    std::string line;
    std::vector<nlohmann::json> records;
    while (std::getline(in, line)) records.push_back(nlohmann::json::parse(line));
    REQUIRE(records.size() == 2);
    // λ rises on the cosine: 0.05·(1 − cos(π·t))/2 at the last step of each epoch (t = 3/8, then 7/8).
    CHECK(records[0]["dampen_lambda"].get<double>() < 0.025);
    CHECK(records[1]["dampen_lambda"].get<double>() > 0.04);
    CHECK(records[0]["codes_changed"].get<int64_t>() >= 0);
    CHECK(records[0]["layers"]["layer1.0.conv1"].contains("codes_changed"));
    // PTQ: the ramp runs over stage 3 only (epoch 3 here); before it, λ is 0. FP32 (a recipe's twin) runs with a note.
    const std::string ptq_out = run / "ptq";
    REQUIRE_MESSAGE(run_app(common_args(data, ptq_out) + limit + std::vector<std::string>{"--method", "ptq", "--epochs", "3", "--ptq-stages", "1,1,1", "--dampen", "0.05"},
                            log) == 0, read_text(log));
    CHECK(read_text(log).find("weight signs (no threshold yet) changed this epoch") != std::string::npos);  // stages 1–2
    std::ifstream ptq_in(ptq_out + "/metrics.jsonl");
    std::vector<nlohmann::json> ptq_records;
    while (std::getline(ptq_in, line)) ptq_records.push_back(nlohmann::json::parse(line));
    REQUIRE(ptq_records.size() == 3);
    CHECK(ptq_records[1]["dampen_lambda"].get<double>() == 0.0);
    CHECK(ptq_records[2]["dampen_lambda"].get<double>() > 0.04);
    REQUIRE_MESSAGE(run_app(common_args(data, run / "fp") + limit + std::vector<std::string>{"--epochs", "1", "--dampen", "0.05"}, log) == 0,
                    read_text(log));
    CHECK(read_text(log).find("note: --dampen is off with --method fp") != std::string::npos);
}
