// tests/test_layers.cpp — Module naming and state dicts, the layers' forward, and the caching allocator's
// promise: a steady training loop touches no new memory.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/ops/loss.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/simple_layers.h"
#include "optim/sgd.h"
#include "tests/gradcheck.h"

using namespace tern;

namespace {
// A small convnet: conv → bn+relu → conv(stride 2) → bn+relu → global pool → linear.
struct TinyNet : Module {
    TinyNet(Rng& rng) {
        conv1 = std::make_shared<Conv2d>(Conv2dConfig{3, 8, 3, 1, 1}, rng);
        bn1 = std::make_shared<BatchNorm2d>(8, true);
        conv2 = std::make_shared<Conv2d>(Conv2dConfig{8, 16, 3, 2, 1}, rng);
        bn2 = std::make_shared<BatchNorm2d>(16, true);
        fc = std::make_shared<Linear>(16, 10, true, rng);
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        register_module("fc", fc);
    }
    Tensor forward(const Tensor& x) override {
        return fc->forward(global_avg_pool(bn2->forward(conv2->forward(bn1->forward(conv1->forward(x))))));
    }
    std::shared_ptr<Conv2d> conv1, conv2;
    std::shared_ptr<BatchNorm2d> bn1, bn2;
    std::shared_ptr<Linear> fc;
};

long minor_faults() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}
}  // namespace

TEST_CASE("modules name parameters and buffers as PyTorch does") {
    Rng rng(0);
    TinyNet net(rng);
    std::vector<std::string> names;
    for (auto& [name, t] : net.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight",
                                            "bn2.bias", "fc.weight", "fc.bias"});
    auto sd = net.state_dict();
    CHECK(sd.count("bn2.running_var"));
    CHECK(sd.size() == 12);
    Sequential seq({std::make_shared<ReLU>(), std::make_shared<Linear>(4, 2, false, rng)});
    CHECK(seq.named_parameters()[0].first == "1.weight");
}

TEST_CASE("load_state_dict copies values, lists missing/unexpected keys and rejects wrong shapes") {
    Rng rng(1), rng2(2);
    TinyNet a(rng), b(rng2);
    auto sd = a.state_dict();
    CHECK(b.load_state_dict(sd).ok());
    CHECK(b.conv1->weight.to_vector() == a.conv1->weight.to_vector());

    sd.erase("fc.bias");
    sd["extra.weight"] = Tensor::zeros({1});
    sd["bn1.num_batches_tracked"] = Tensor::zeros({});  // a PyTorch counter: ignored
    LoadReport r = b.load_state_dict(sd, /*strict=*/false);
    CHECK(r.missing == std::vector<std::string>{"fc.bias"});
    CHECK(r.unexpected == std::vector<std::string>{"extra.weight"});
    CHECK_THROWS_WITH_AS(b.load_state_dict(sd), doctest::Contains("fc.bias"), tern::Error);

    auto bad = a.state_dict();
    bad["conv1.weight"] = Tensor::zeros({8, 3, 5, 5});
    CHECK_THROWS_WITH_AS(b.load_state_dict(bad), doctest::Contains("conv1.weight"), tern::Error);
}

TEST_CASE("train/eval mode reaches every submodule and switches batch norm statistics") {
    Rng rng(3);
    TinyNet net(rng);
    net.eval();
    CHECK_FALSE(net.bn2->is_training());
    Tensor x = tern::testing::uniform({2, 5, 5, 3}, -1, 1, 4);
    Tensor before = net.bn1->running_mean.clone();
    net.forward(x);
    CHECK(net.bn1->running_mean.to_vector() == before.to_vector());  // eval does not update statistics
    net.train();
    net.forward(x);
    CHECK(net.bn1->running_mean.to_vector() != before.to_vector());
}

TEST_CASE("precise BN sets running statistics to the plain mean of the batches' statistics") {
    // Three batches of (4 rows × 2 channels) through a lone BatchNorm2d: afterwards running_mean is the mean of
    // the three batch means and running_var the mean of the three unbiased batch variances, whatever they were
    // before; the module's momentum and mode are restored.
    BatchNorm2d bn(2);
    bn.running_mean.fill_(5.f);
    bn.eval();
    std::vector<Tensor> batches = {tern::testing::uniform({4, 2}, -1, 1, 11), tern::testing::uniform({4, 2}, 0, 3, 12),
                                   tern::testing::uniform({4, 2}, -2, 0, 13), tern::testing::uniform({4, 2}, 9, 9, 14)};
    size_t next = 0;
    const int64_t used = recompute_batch_norm_statistics(
        bn, [&](Tensor& x) { return next < batches.size() ? (x = batches[next++], true) : false; }, 3);
    CHECK(used == 3);
    CHECK(next == 3);  // the fourth batch was not drawn
    for (int64_t c = 0; c < 2; ++c) {
        double mean = 0, var = 0;
        for (int b = 0; b < 3; ++b) {
            double m = 0, v = 0;
            for (int64_t r = 0; r < 4; ++r) m += batches[b].data()[r * 2 + c] / 4.0;
            for (int64_t r = 0; r < 4; ++r) v += std::pow(batches[b].data()[r * 2 + c] - m, 2) / 3.0;  // unbiased
            mean += m / 3, var += v / 3;
        }
        CHECK(bn.running_mean.data()[c] == doctest::Approx(mean).epsilon(1e-5));
        CHECK(bn.running_var.data()[c] == doctest::Approx(var).epsilon(1e-5));
    }
    CHECK(bn.momentum == doctest::Approx(0.1f));
    CHECK_FALSE(bn.is_training());
}

TEST_CASE("after warm-up a training loop allocates no new memory") {
    Rng rng(5);
    TinyNet net(rng);
    SGD opt({{"all", net.parameters(), 1e-4f}}, {0.05f, 0.9f, false});
    Tensor x = tern::testing::uniform({16, 32, 32, 3}, -1, 1, 6);
    std::vector<int32_t> labels(16);
    for (int i = 0; i < 16; ++i) labels[size_t(i)] = i % 10;
    auto step = [&] {
        opt.zero_grad();
        Tensor loss = cross_entropy(net.forward(x), labels);
        loss.backward();
        opt.step();
        return loss.item();
    };
    for (int i = 0; i < 3; ++i) step();  // warm-up: the cache fills
    const size_t sys_before = allocator_stats().system_allocs;
    const long faults_before = minor_faults();
    float first = step(), last = first;
    for (int i = 0; i < 10; ++i) last = step();
    const long faults = minor_faults() - faults_before;
    MESSAGE("minor page faults over 11 steps: " << faults);
    CHECK(allocator_stats().system_allocs == sys_before);
    CHECK(faults < 50);  // a few from the runtime (OpenMP, stdio), never the ~1 MB of activations per step
    CHECK(last < first);  // and it is actually learning
}
