// tests/test_flags.cpp — the JSON config of apps/flags.h: values become flag strings, explicit flags win, and
// every malformed config is a tern::Error naming the file.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "core/error.h"
#include "tests/temp_dir.h"

using namespace tern;
using tern::testing::TempDir;

namespace {
// The message of the tern::Error that fn throws ("" if it throws none).
template <class Fn>
std::string error_of(Fn fn) {
    try {
        fn();
    } catch (const tern::Error& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("config: JSON values become flag strings; lists are comma-separated; _keys are comments") {
    const auto config = parse_config_json(
        R"({"epochs": 30, "lr": 0.1, "nesterov": true, "milestones": [80, 120], "model": "resnet20", "_note": 1})",
        "c.json");
    CHECK(config == std::map<std::string, std::string>{{"epochs", "30"},
                                                       {"lr", "0.1"},
                                                       {"nesterov", "true"},
                                                       {"milestones", "80,120"},
                                                       {"model", "resnet20"}});
}

TEST_CASE("config: malformed files are refused, naming the file and what is wrong") {
    auto message = [](const std::string& text) { return error_of([&] { parse_config_json(text, "c.json"); }); };
    CHECK(message(R"({"lr": 0.1,})").find("config file c.json is not valid JSON: ") == 0);
    CHECK(message("").find("config file c.json is not valid JSON: ") == 0);
    CHECK(message("[1, 2]") == "config file c.json must hold a JSON object of flag names to values");
    CHECK(message(R"({"lr": {"a": 1}})") == R"(config file c.json: key 'lr' has an unsupported value {"a":1})");
    CHECK(message(R"({"lr": null})") == "config file c.json: key 'lr' has an unsupported value null");
    CHECK(message(R"({"milestones": [80, [120]]})") ==
          "config file c.json: key 'milestones' has an unsupported value [120]");

    // Through Flags: a missing file, an unknown key (at done()), a value of the wrong type, and precedence.
    TempDir dir;
    const std::string path = dir / "run.json";
    std::ofstream(path) << R"({"epochs": "ten", "batch": 64, "learning-rate": 0.1})";
    std::string arg0 = "prog", arg1 = "--config", arg2 = path, arg3 = "--batch", arg4 = "32";
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), arg3.data(), arg4.data()};
    Flags flags(5, argv, "test");
    CHECK(error_of([&] { flags.get_int("epochs", 1, ""); }) == "--epochs expects an integer, got 'ten'");
    CHECK(flags.get_int("batch", 128, "") == 32);  // the command line wins over the config
    CHECK(error_of([&] { flags.done(); }) == "unknown key 'learning-rate' in config file " + path);
    std::string missing = dir / "missing.json";
    char* argv2[] = {arg0.data(), arg1.data(), missing.data()};
    CHECK(error_of([&] { Flags(3, argv2, "test"); }) == "cannot open config file " + missing);
}
