// tests/fuzz/fuzz_safetensors.cpp — libFuzzer harness for the strict safetensors reader (core/safetensors.h).
// The input is a whole file: parse_safetensors must accept it or throw a tern::Error, and every array it
// accepts must convert to a tensor or be refused with a tern::Error (integer dtypes). Anything else — a crash,
// an ASan/UBSan report, another exception, a huge allocation — is a bug. Build and run: make fuzz SECS=60.
#include <cstdint>

#include "core/error.h"
#include "core/safetensors.h"

using namespace tern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    SafetensorsFile file;
    try {
        file = parse_safetensors(data, size, "fuzz.safetensors");
    } catch (const Error&) {
        return 0;
    }
    for (const NamedArray& a : file.arrays) {
        try {
            array_to_tensor(a, "fuzz.safetensors");
        } catch (const Error&) {
        }
    }
    return 0;
}
