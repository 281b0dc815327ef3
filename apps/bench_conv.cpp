// apps/bench_conv.cpp — GFLOP/s of the conv kernels (forward, backward-data, backward-weight) on the shapes of
// a CIFAR ResNet's layers: the direct kernels, and Winograd where it can run (timed alternately with the direct
// ones). GFLOP/s count the direct algorithm's FLOPs for both, so they compare as speeds.
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

static double median(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// Median seconds of each of `fns`, timed in alternation (one call of each per round) so that the machine's
// slow phases hit them alike, after one warm-up call each.
static std::vector<double> median_seconds(int reps, const std::vector<std::function<void()>>& fns) {
    for (auto& fn : fns) fn();
    std::vector<std::vector<double>> t(fns.size());
    for (int i = 0; i < reps; ++i)
        for (size_t k = 0; k < fns.size(); ++k) {
            const auto t0 = std::chrono::steady_clock::now();
            fns[k]();
            t[k].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
    std::vector<double> m;
    for (auto& v : t) m.push_back(median(v));
    return m;
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
        // The direct kernels (conv2d_fast.cpp), and Winograd F(2×2, 3×3) and F(4×4, 3×3) where they can run, timed
        // alternately.
        const bool wino = kernels::conv2d_winograd_supports(s);
        auto direct = [](std::function<void()> fn) -> std::function<void()> {
            return [fn] {
                const kernels::WinogradScope off(false);
                fn();
            };
        };
        std::vector<std::function<void()>> fwd = {
            direct([&] { kernels::conv2d_forward(s, x.data(), w.data(), nullptr, y.data()); })};
        std::vector<std::function<void()>> bwd_d = {
            direct([&] { kernels::conv2d_backward_data(s, y.data(), w.data(), dx.data()); })};
        std::vector<std::function<void()>> bwd_w = {
            direct([&] { kernels::conv2d_backward_weight(s, x.data(), y.data(), dw.data()); })};
        if (wino)
            for (int tile : {2, 4}) {
                fwd.push_back([&, tile] { kernels::conv2d_winograd_forward(s, x.data(), w.data(), nullptr, y.data(), tile); });
                bwd_d.push_back([&, tile] { kernels::conv2d_winograd_backward_data(s, y.data(), w.data(), dx.data(), tile); });
                bwd_w.push_back([&, tile] { kernels::conv2d_winograd_backward_weight(s, x.data(), y.data(), dw.data(), tile); });
            }
        const auto tf = median_seconds(reps, fwd), td = median_seconds(reps, bwd_d), tw = median_seconds(reps, bwd_w);
        std::printf("%-28s %10.1f %10.1f %10.1f\n", l.name, f / tf[0], f / td[0], f / tw[0]);
        if (wino)
            for (int i : {1, 2}) {
                const int tile = 2 * i;
                const bool used = kernels::conv2d_winograd_applies(s) && kernels::conv2d_winograd_tile(s) == tile;
                std::printf("  Winograd F(%dx%d,3x3)        %10.1f %10.1f %10.1f   (%s by default)\n", tile, tile,
                            f / tf[i], f / td[i], f / tw[i], used ? "used" : "not used");
            }
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
}
