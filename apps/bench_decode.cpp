// apps/bench_decode.cpp — how fast tern turns ImageNet JPEGs into model inputs: decode (stb_image) + eval
// transform (Resize 256, CenterCrop 224, normalize) over a folder, on N threads, plus a one-thread breakdown of
// where the time goes. Prints a summary and one JSON line.
//
//   apps/bench_decode [root = ../shared/data/imagenet-sample] [threads = 2] [passes = 3]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "data/image.h"
#include "data/imagenet.h"

using namespace tern;

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

int main(int argc, char** argv) {
    const std::string root = argc > 1 ? argv[1] : "../shared/data/imagenet-sample";
    const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    const int passes = argc > 3 ? std::atoi(argv[3]) : 3;
    try {
        const ImageNetDataset dataset(root);
        const int64_t n = dataset.size();
        std::printf("%s\n", dataset.describe().c_str());

        // Whole pipeline, as the DataLoader's workers run it: get(i) on `threads` threads. Best of `passes`.
        set_num_threads(threads);
        double best = 1e30;
        for (int pass = 0; pass < passes; ++pass) {
            const auto start = std::chrono::steady_clock::now();
#pragma omp parallel
            {
                std::vector<float> out(size_t(dataset.sample_shape().numel()));
#pragma omp for schedule(dynamic, 4)
                for (int64_t i = 0; i < n; ++i) {
                    Rng rng{uint64_t(i)};
                    dataset.get(i, out.data(), rng);
                }
            }
            best = std::min(best, seconds_since(start));
        }

        // One thread: decode alone, then the transform alone, to see which one to optimize.
        double decode_s = 0, transform_s = 0;
        int64_t pixels = 0;
        std::vector<float> out(size_t(dataset.sample_shape().numel()));
        for (int64_t i = 0; i < n; ++i) {
            auto start = std::chrono::steady_clock::now();
            const Image img = decode_image(dataset.path(i));
            decode_s += seconds_since(start);
            start = std::chrono::steady_clock::now();
            eval_transform(img, out.data());
            transform_s += seconds_since(start);
            pixels += int64_t(img.height) * img.width;
        }

        const double rate = double(n) / best;
        std::printf("%lld images, %d threads: %.3f s, %.0f images/s (best of %d passes)\n", (long long)n, threads,
                    best, rate, passes);
        std::printf("one thread: decode %.2f ms/image (%.0f Mpixel/s), eval transform %.2f ms/image\n",
                    1e3 * decode_s / double(n), double(pixels) / decode_s / 1e6, 1e3 * transform_s / double(n));
        for (const auto& failure : dataset.failures())
            std::fprintf(stderr, "warning: %s\n", failure.reason.c_str());
        std::printf("{\"bench\": \"decode_eval\", \"images\": %lld, \"threads\": %d, \"seconds\": %.4f, "
                    "\"images_per_s\": %.1f, \"decode_ms\": %.3f, \"transform_ms\": %.3f, \"failures\": %zu}\n",
                    (long long)n, threads, best, rate, 1e3 * decode_s / double(n), 1e3 * transform_s / double(n),
                    dataset.failures().size());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_decode: %s\n", e.what());
        return 1;
    }
    return 0;
}
