// apps/bench_ternary_conv.cpp — speed of the ternary convolution kernels (core/kernels/ternary_conv.h) on the
// layers of CIFAR ResNet-20 and ImageNet ResNet-18, per instruction set, beside tern's FP32 direct convolution
// (kernels::conv2d_forward) on the same shapes.
//
//   ./apps/bench_ternary_conv [--net resnet20|resnet18|both] [--batch N] [--reps 7] [--threads 2] [--isa avx512]
//                             [--epilogue uint8|float|int32] [--no-fp32]
//
// Gop/s counts 2 operations per multiply-add (as GFLOP/s does for FP32). Each number is the median of --reps
// timed runs (each run repeats a small layer until it lasts ≥ 2 ms). The ternary layers use by default the
// Uint8 epilogue (scale, bias, requantize: what the engine feeds the next layer); `float` is scale, bias and
// ReLU to float, `int32` stores the raw sums. FP32 gets a bias. "stack" is the sum over a
// network's conv layers of count × median time; "stack, back to back" times all layers run in order, as in a
// forward pass (weights and activations then come from wherever the previous layer left them).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "apps/runtime.h"
#include "core/kernels/conv2d.h"
#include "core/kernels/ternary_conv.h"
#include "core/parallel.h"
#include "core/rng.h"

using namespace tern;
using namespace tern::kernels;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Median seconds per call of fn.
double median_seconds(int reps, const std::function<void()>& fn) {
    fn();  // warm-up (also sizes the scratch buffers)
    double t0 = now();
    fn();
    const double once = now() - t0;
    const int inner = std::max(1, int(2e-3 / std::max(once, 1e-7)));
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        t0 = now();
        for (int i = 0; i < inner; ++i) fn();
        t.push_back((now() - t0) / inner);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

struct Layer {
    const char* name;
    int count;  // how many layers of this shape the network has
    int64_t H, C, OC, K, stride, pad;
};

// CIFAR ResNet-20 (option-A shortcuts: no 1×1 convolutions) and ImageNet ResNet-18 at 224×224.
const std::vector<Layer> kResNet20 = {
    {"conv1 32x32 3->16", 1, 32, 3, 16, 3, 1, 1},      {"layer1 32x32 16->16", 6, 32, 16, 16, 3, 1, 1},
    {"layer2.0 32->16 16->32 s2", 1, 32, 16, 32, 3, 2, 1}, {"layer2 16x16 32->32", 5, 16, 32, 32, 3, 1, 1},
    {"layer3.0 16->8 32->64 s2", 1, 16, 32, 64, 3, 2, 1},  {"layer3 8x8 64->64", 5, 8, 64, 64, 3, 1, 1},
};
const std::vector<Layer> kResNet18 = {
    {"conv1 224->112 3->64 7x7 s2", 1, 224, 3, 64, 7, 2, 3},
    {"layer1 56x56 64->64", 4, 56, 64, 64, 3, 1, 1},
    {"layer2.0 56->28 64->128 s2", 1, 56, 64, 128, 3, 2, 1},
    {"layer2.0 down 1x1 s2 64->128", 1, 56, 64, 128, 1, 2, 0},
    {"layer2 28x28 128->128", 3, 28, 128, 128, 3, 1, 1},
    {"layer3.0 28->14 128->256 s2", 1, 28, 128, 256, 3, 2, 1},
    {"layer3.0 down 1x1 s2 128->256", 1, 28, 128, 256, 1, 2, 0},
    {"layer3 14x14 256->256", 3, 14, 256, 256, 3, 1, 1},
    {"layer4.0 14->7 256->512 s2", 1, 14, 256, 512, 3, 2, 1},
    {"layer4.0 down 1x1 s2 256->512", 1, 14, 256, 512, 1, 2, 0},
    {"layer4 7x7 512->512", 3, 7, 512, 512, 3, 1, 1},
};

// One layer's data for every run: uint8 input, packed weights, per-channel scale and bias, and the FP32 copies.
struct Data {
    TernaryConvShape s;
    std::vector<uint8_t> x, y;
    PackedTernaryWeights w;
    std::vector<float> scale, bias, xf, wf, yf;
    Epilogue e;
};

Data make_data(const Layer& l, int64_t batch, bool fp32, Epilogue::Kind kind, Rng& rng) {
    Data d;
    d.s = TernaryConvShape::make(batch, l.H, l.H, l.C, l.OC, l.K, l.K, l.stride, l.pad);
    d.x.resize(size_t(batch * l.H * l.H * l.C));
    for (uint8_t& v : d.x) v = uint8_t(rng.below(256));
    std::vector<int8_t> codes(size_t(l.OC * l.C * l.K * l.K));
    for (int8_t& c : codes) c = int8_t(int(rng.below(3)) - 1);
    d.w = PackedTernaryWeights::pack(codes.data(), l.OC, l.C, l.K, l.K);
    d.scale.assign(size_t(l.OC), 0.01f);
    d.bias.assign(size_t(l.OC), 100.f);
    d.y.resize(size_t(batch * d.s.OH * d.s.OW * l.OC) * (kind == Epilogue::Uint8 ? 1 : 4));
    d.e.kind = kind, d.e.scale = d.scale.data(), d.e.bias = d.bias.data(), d.e.qmax = 255;
    d.e.relu = kind == Epilogue::Float;
    if (fp32) {
        d.xf.assign(d.x.begin(), d.x.end());
        d.wf.assign(codes.begin(), codes.end());
        d.yf.resize(d.y.size());
    }
    return d;
}

void run_ternary(Data& d) { ternary_conv(d.s, d.x.data(), 0, d.w, d.e, d.y.data()); }
void run_fp32(Data& d) {
    const TernaryConvShape& s = d.s;
    conv2d_forward(ConvShape::make(s.N, s.H, s.W, s.C, s.OC, s.KH, s.KW, s.stride, s.stride, s.pad, s.pad, 1),
                   d.xf.data(), d.wf.data(), d.bias.data(), d.yf.data());
}

void bench_net(const char* title, const std::vector<Layer>& layers, int64_t batch, int reps,
               const std::vector<Isa>& isas, bool fp32, Epilogue::Kind kind) {
    static const char* kind_names[] = {"int32", "float", "uint8"};
    std::printf("\n%s, batch %lld, %d threads, %s epilogue (Gop/s = 2·MAC/s; ms per layer call; medians of %d)\n",
                title, (long long)batch, num_threads(), kind_names[kind], reps);
    std::printf("%-31s %3s", "layer", "×n");
    for (Isa isa : isas) std::printf(" %9s Gop/s %7s", isa_name(isa), "ms");
    if (fp32) std::printf(" %9s GFLOP/s %7s %8s", "fp32", "ms", isa_name(isas.front()));
    std::printf("\n");
    Rng rng(1);
    std::vector<Data> data;
    for (const Layer& l : layers) data.push_back(make_data(l, batch, fp32, kind, rng));
    std::vector<double> stack(isas.size() + 1, 0.0);
    double macs = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        Data& d = data[i];
        const double ops = 2 * d.s.macs();
        macs += layers[i].count * d.s.macs();
        std::printf("%-31s %3d", layers[i].name, layers[i].count);
        double first = 0;
        for (size_t k = 0; k < isas.size(); ++k) {
            force_isa(isas[k]);
            const double t = median_seconds(reps, [&] { run_ternary(d); });
            if (k == 0) first = t;
            stack[k] += layers[i].count * t;
            std::printf(" %15.1f %7.3f", ops / t / 1e9, t * 1e3);
        }
        if (fp32) {
            const double t = median_seconds(reps, [&] { run_fp32(d); });
            stack.back() += layers[i].count * t;
            std::printf(" %17.1f %7.3f %7.1fx", ops / t / 1e9, t * 1e3, t / first);
        }
        std::printf("\n");
    }
    std::printf("%-35s", "stack: Σ count × time, ms");
    for (size_t k = 0; k < isas.size(); ++k) std::printf(" %15.1f %7.3f", 2 * macs / stack[k] / 1e9, stack[k] * 1e3);
    if (fp32) std::printf(" %17.1f %7.3f %7.1fx", 2 * macs / stack.back() / 1e9, stack.back() * 1e3, stack.back() / stack[0]);
    std::printf("\n%-35s", "stack, back to back, ms");
    for (Isa isa : isas) {
        force_isa(isa);
        const double t = median_seconds(reps, [&] {
            for (size_t i = 0; i < layers.size(); ++i)
                for (int c = 0; c < layers[i].count; ++c) run_ternary(data[i]);
        });
        std::printf(" %15.1f %7.3f", 2 * macs / t / 1e9, t * 1e3);
    }
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) try {
    prefer_passive_openmp_wait(argv);
    Flags flags(argc, argv, "bench_ternary_conv: ternary conv kernels on ResNet-20 / ResNet-18 layer shapes");
    const std::string net = flags.get_string("net", "both", "resnet20, resnet18 or both");
    const int64_t batch = flags.get_int("batch", 0, "batch size (0: ResNet-20 at 1 and 256, ResNet-18 at 1 and 16)");
    const int reps = int(flags.get_int("reps", 7, "timed repetitions (median reported)"));
    const int64_t threads = flags.get_int("threads", 0, "threads (0: OpenMP default)");
    const std::string isa_flag = flags.get_string("isa", "all", "avx512, avx2, scalar, or all (the SIMD ones)");
    const bool fp32 = !flags.get_bool("no-fp32", false, "skip the FP32 comparison");
    const std::string epi = flags.get_string("epilogue", "uint8", "uint8, float (scale, bias, ReLU) or int32");
    flags.done();
    if (threads > 0) set_num_threads(int(threads));
    std::vector<Isa> isas;
    for (Isa isa : {Isa::Avx512Vnni, Isa::Avx2, Isa::Scalar})
        if (isa_supported(isa) && (isa_flag == isa_name(isa) || (isa_flag == "all" && isa != Isa::Scalar)))
            isas.push_back(isa);
    TERN_CHECK(!isas.empty(), "--isa " << isa_flag << ": not supported here");
    TERN_CHECK(epi == "uint8" || epi == "float" || epi == "int32", "--epilogue " << epi << ": expected uint8, float or int32");
    const Epilogue::Kind kind = epi == "uint8" ? Epilogue::Uint8 : epi == "float" ? Epilogue::Float : Epilogue::Int32;
    if (net == "resnet20" || net == "both")
        for (int64_t b : batch ? std::vector<int64_t>{batch} : std::vector<int64_t>{1, 256})
            bench_net("CIFAR ResNet-20 conv layers", kResNet20, b, reps, isas, fp32, kind);
    if (net == "resnet18" || net == "both")
        for (int64_t b : batch ? std::vector<int64_t>{batch} : std::vector<int64_t>{1, 16})
            bench_net("ImageNet ResNet-18 conv layers (224x224)", kResNet18, b, reps, isas, fp32, kind);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ternary_conv: %s\n", e.what());
    return 1;
}
