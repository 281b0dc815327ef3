// apps/bench_conv.cpp — GFLOP/s of the conv kernels (forward, backward-data, backward-weight) on the shapes of
// a CIFAR ResNet's layers, fast path vs reference (reference only with --ref, it is slow).
//
//   ./apps/bench_conv [--batch 128] [--reps 5] [--threads 2]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "apps/flags.h"
#include "apps/runtime.h"
#include "core/kernels/conv2d.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/tensor.h"

using namespace tern;
using kernels::ConvShape;

static double median_seconds(int reps, const std::function<void()>& fn) {
    fn();  // warm-up
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main(int argc, char** argv) try {
    prefer_passive_openmp_wait(argv);
    Flags flags(argc, argv, "bench_conv: conv kernel GFLOP/s on ResNet-20 layer shapes");
    const int64_t batch = flags.get_int("batch", 128, "batch size");
    const int reps = int(flags.get_int("reps", 5, "timed repetitions (median reported)"));
    const int64_t threads = flags.get_int("threads", 0, "threads (0: OpenMP default)");
    flags.done();
    if (threads > 0) set_num_threads(int(threads));
    struct L {
        const char* name;
        int64_t H, C, OC, stride;
    };
    const L layers[] = {{"conv1 32x32 3->16", 32, 3, 16, 1},     {"layer1 32x32 16->16", 32, 16, 16, 1},
                        {"layer2.0 16x16 16->32 s2", 32, 16, 32, 2}, {"layer2 16x16 32->32", 16, 32, 32, 1},
                        {"layer3.0 8x8 32->64 s2", 16, 32, 64, 2},   {"layer3 8x8 64->64", 8, 64, 64, 1}};
    std::printf("%-28s %10s %10s %10s   (GFLOP/s, %d threads, batch %lld)\n", "layer", "forward", "bwd-data",
                "bwd-weight", num_threads(), (long long)batch);
    Rng rng(0);
    for (const L& l : layers) {
        const auto s = ConvShape::make(batch, l.H, l.H, l.C, l.OC, 3, 3, l.stride, l.stride, 1, 1, 1);
        Tensor x = Tensor::empty({batch, l.H, l.H, l.C}), w = Tensor::empty({l.OC, l.C, 3, 3});
        Tensor y = Tensor::empty({batch, s.OH, s.OW, l.OC}), dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape());
        for (Tensor* t : {&x, &w, &y})
            for (int64_t i = 0; i < t->numel(); ++i) t->data()[i] = rng.normal();
        const double f = s.flops() / 1e9;
        const double tf = median_seconds(reps, [&] { kernels::conv2d_forward(s, x.data(), w.data(), nullptr, y.data()); });
        const double td = median_seconds(reps, [&] { kernels::conv2d_backward_data(s, y.data(), w.data(), dx.data()); });
        const double tw = median_seconds(reps, [&] { kernels::conv2d_backward_weight(s, x.data(), y.data(), dw.data()); });
        std::printf("%-28s %10.1f %10.1f %10.1f\n", l.name, f / tf, f / td, f / tw);
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
}
