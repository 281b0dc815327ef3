// tests/fuzz/fuzz_cifar.cpp — libFuzzer harness for the CIFAR binary reader (data/cifar.h).
// Input: one selector byte (even: CIFAR-10, odd: CIFAR-100), then the bytes of a "file". They go through
// parse_cifar_records — the function load_cifar uses for every file — and, if accepted, each image through
// the training transform. Any outcome but success or a tern::Error is a bug (libFuzzer reports uncaught
// exceptions, and ASan/UBSan memory errors). Build and run: make fuzz SECS=60.
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "data/cifar.h"

using namespace tern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    CifarData cifar;
    cifar.kind = data[0] % 2 == 0 ? CifarKind::Cifar10 : CifarKind::Cifar100;
    try {
        parse_cifar_records(data + 1, size - 1, /*max_records=*/10000, "fuzz.bin", cifar);
    } catch (const Error&) {
        return 0;
    }
    // Accepted: every label is in range and every image is whole, so the dataset must serve each one.
    CifarDataset dataset(std::move(cifar), {/*augment=*/true, 4, kCifarStats});
    std::vector<float> out(static_cast<size_t>(kCifarImageBytes));
    Rng rng(size);
    for (int64_t i = 0; i < dataset.size(); ++i) dataset.get(i, out.data(), rng);
    return 0;
}
