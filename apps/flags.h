// apps/flags.h — command-line flags for tern's programs: `--name value`, `--name=value`, `--switch`.
//
//   Flags f(argc, argv, "train_cifar: train a ResNet on CIFAR");
//   int epochs = f.get_int("epochs", 30, "number of epochs");
//   f.done();   // rejects unknown flags; prints usage for --help
//
// A JSON config file (`--config FILE.json`, an object of flag names to values) supplies defaults that explicit
// flags override.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace tern {

// The flag values of a JSON config: an object of flag names to strings, booleans, numbers or lists of them
// (lists become comma-separated: "milestones": [80, 120] → "80,120"); keys starting with "_" are comments.
// Anything else is a tern::Error naming `path`. Separate from the file reading so that
// tests/fuzz/fuzz_flags_config.cpp can feed it arbitrary text.
inline std::map<std::string, std::string> parse_config_json(const std::string& text, const std::string& path) {
    // Nesting is refused early: a flag value is at most a list, and the error messages below render values
    // with dump(), which recurses once per level (100,000 '[' would overflow the stack).
    constexpr int kMaxDepth = 16;
    auto limit_depth = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        TERN_CHECK(depth <= kMaxDepth, "config file " << path << " nests deeper than " << kMaxDepth << " levels");
        return true;
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, limit_depth);
    } catch (const nlohmann::json::exception& e) {
        TERN_FAIL("config file " << path << " is not valid JSON: " << e.what());
    }
    TERN_CHECK(j.is_object(), "config file " << path << " must hold a JSON object of flag names to values");
    std::map<std::string, std::string> config;
    auto scalar = [&](const std::string& key, const nlohmann::json& value) -> std::string {
        if (value.is_string()) return value.get<std::string>();
        if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
        if (value.is_number_integer()) return value.dump();  // exact, also for integers above INT64_MAX
        if (value.is_number()) {
            std::ostringstream os;
            os.precision(10);
            os << value.get<double>();
            return os.str();
        }
        TERN_FAIL("config file " << path << ": key '" << key << "' has an unsupported value " << value.dump());
    };
    for (auto& [key, value] : j.items()) {
        if (key.rfind("_", 0) == 0) continue;  // "_comment" and friends
        if (value.is_array()) {  // lists become comma-separated ("milestones": [80, 120])
            std::string s;
            for (auto& e : value) s += (s.empty() ? "" : ",") + scalar(key, e);
            config[key] = s;
        } else {
            config[key] = scalar(key, value);
        }
    }
    return config;
}

class Flags {
public:
    Flags(int argc, char** argv, std::string about) : about_(std::move(about)) {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            TERN_CHECK(a.rfind("--", 0) == 0, "unexpected argument '" << a << "' (flags start with --; try --help)");
            a = a.substr(2);
            const size_t eq = a.find('=');
            if (eq != std::string::npos) {
                values_[a.substr(0, eq)] = a.substr(eq + 1);
            } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
                values_[a] = argv[++i];
            } else {
                values_[a] = "true";  // a switch
            }
        }
        help_ = values_.count("help") > 0;
        values_.erase("help");
        if (values_.count("config")) load_config(values_["config"]);
    }

    std::string get_string(const std::string& name, const std::string& def, const std::string& help) {
        describe(name, def, help);
        const std::string* v = find(name);
        return v ? *v : def;
    }
    int64_t get_int(const std::string& name, int64_t def, const std::string& help) {
        describe(name, std::to_string(def), help);
        const std::string* v = find(name);
        if (!v) return def;
        char* end = nullptr;
        const long long x = std::strtoll(v->c_str(), &end, 10);
        TERN_CHECK(end && *end == 0 && !v->empty(), "--" << name << " expects an integer, got '" << *v << "'");
        return x;
    }
    double get_double(const std::string& name, double def, const std::string& help) {
        std::ostringstream d;
        d << def;
        describe(name, d.str(), help);
        const std::string* v = find(name);
        if (!v) return def;
        char* end = nullptr;
        const double x = std::strtod(v->c_str(), &end);
        TERN_CHECK(end && *end == 0 && !v->empty(), "--" << name << " expects a number, got '" << *v << "'");
        return x;
    }
    bool get_bool(const std::string& name, bool def, const std::string& help) {
        describe(name, def ? "true" : "false", help);
        const std::string* v = find(name);
        if (!v) return def;
        TERN_CHECK(*v == "true" || *v == "false" || *v == "1" || *v == "0",
                   "--" << name << " expects true or false, got '" << *v << "'");
        return *v == "true" || *v == "1";
    }
    bool has(const std::string& name) const { return values_.count(name) || config_.count(name); }

    // Call after reading every flag: prints usage and exits for --help; rejects flags nobody asked for.
    void done() {
        if (help_) {
            std::printf("%s\n\nflags:\n%s", about_.c_str(), usage_.str().c_str());
            std::exit(0);
        }
        for (auto& [name, v] : values_)
            TERN_CHECK(known_.count(name) || name == "config", "unknown flag --" << name << " (try --help)");
        for (auto& [name, v] : config_)
            TERN_CHECK(known_.count(name), "unknown key '" << name << "' in config file " << config_path_);
    }

    // Every flag's effective value, for logging the run's configuration.
    const std::map<std::string, std::string>& effective() const { return effective_; }

private:
    void describe(const std::string& name, const std::string& def, const std::string& help) {
        known_[name] = true;
        usage_ << "  --" << name << " (default " << (def.empty() ? "\"\"" : def) << ")\n      " << help << "\n";
        const std::string* v = find(name);
        effective_[name] = v ? *v : def;
    }
    const std::string* find(const std::string& name) const {
        auto it = values_.find(name);
        if (it != values_.end()) return &it->second;
        auto jt = config_.find(name);
        return jt != config_.end() ? &jt->second : nullptr;
    }
    void load_config(const std::string& path) {
        config_path_ = path;
        std::ifstream in(path, std::ios::binary);
        TERN_CHECK(in, "cannot open config file " << path);
        std::ostringstream text;
        text << in.rdbuf();
        TERN_CHECK(!in.bad(), "cannot read config file " << path);
        config_ = parse_config_json(text.str(), path);
    }

    std::string about_, config_path_;
    std::map<std::string, std::string> values_, config_, effective_;
    std::map<std::string, bool> known_;
    std::ostringstream usage_;
    bool help_ = false;
};

}  // namespace tern
