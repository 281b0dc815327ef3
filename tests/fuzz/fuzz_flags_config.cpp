// tests/fuzz/fuzz_flags_config.cpp — libFuzzer harness for the JSON config reader of apps/flags.h.
// The input is the text of a `--config` file: parse_config_json must return flag values or throw a
// tern::Error. The values it returns are then read back as every type of flag (integer, number, boolean,
// string), as the programs would, each of which must succeed or throw a tern::Error. Build and run:
// make fuzz SECS=60.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "core/error.h"

using namespace tern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::map<std::string, std::string> config;
    try {
        config = parse_config_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    } catch (const Error&) {
        return 0;
    }
    // The same values as command-line flags: --name=value.
    std::vector<std::string> args = {"fuzz"};
    for (const auto& [name, value] : config) args.push_back("--" + name + "=" + value);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    try {
        Flags flags(int(argv.size()), argv.data(), "fuzz");
        for (const auto& [name, value] : config) {
            try { flags.get_int(name, 0, ""); } catch (const Error&) {}
            try { flags.get_double(name, 0, ""); } catch (const Error&) {}
            try { flags.get_bool(name, false, ""); } catch (const Error&) {}
            flags.get_string(name, "", "");
        }
    } catch (const Error&) {
    }
    return 0;
}
