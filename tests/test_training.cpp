// tests/test_training.cpp — training as a whole: loss falls on real CIFAR images, a checkpoint round trip resumes
// bit-exactly, and TGA's alternating step (Algorithm 1) updates δ before w on the same batch.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cmath>

#include "core/ops/loss.h"
#include "data/cifar.h"
#include "data/loader.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/simple_layers.h"
#include "models/registry.h"
#include "optim/checkpoint.h"
#include "optim/sgd.h"
#include "quant/quantize_model.h"
#include "quant/train_step.h"
#include "tests/gradcheck.h"
#include "tests/temp_dir.h"

using namespace tern;

namespace {
// conv(3→8) → bn+relu → global pool → linear(8→4): small enough to train in milliseconds.
struct Tiny : Module {
    explicit Tiny(Rng& rng) {
        conv = std::make_shared<Conv2d>(Conv2dConfig{3, 8, 3, 1, 1}, rng);
        bn = std::make_shared<BatchNorm2d>(8, true);
        fc = std::make_shared<Linear>(8, 4, true, rng);
        register_module("conv", conv);
        register_module("bn", bn);
        register_module("fc", fc);
    }
    Tensor forward(const Tensor& x) override { return fc->forward(global_avg_pool(bn->forward(conv->forward(x)))); }
    std::shared_ptr<Conv2d> conv;
    std::shared_ptr<BatchNorm2d> bn;
    std::shared_ptr<Linear> fc;
};

std::vector<int32_t> labels_for(int64_t n) {
    std::vector<int32_t> y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) y[size_t(i)] = int32_t(i % 4);
    return y;
}
}  // namespace

TEST_CASE("a 20-step training run on 512 real CIFAR-10 images lowers the loss") {
    const std::string dir = "../shared/data/cifar-10-batches-bin";
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
        MESSAGE("skipped: " << dir << " not found");
        return;
    }
    CifarDataset data(load_cifar(dir, CifarKind::Cifar10, Split::Train), {true, 4, kImageNetStats});
    LoaderOptions lo;
    lo.batch_size = 64;
    lo.end = 512;
    lo.workers = 1;
    DataLoader loader(data, lo);
    auto model = make_model("resnet20", 10, 0);
    SGD opt({{"all", model->parameters(), 5e-4f}}, {0.05f, 0.9f, false});
    std::vector<float> losses;
    for (int64_t epoch = 0; losses.size() < 20; ++epoch) {
        loader.start_epoch(epoch);
        while (auto b = loader.next()) {
            if (losses.size() == 20) break;
            losses.push_back(train_step(*model, b->images, b->labels, opt, nullptr, UpdateMode::Joint).loss);
        }
    }
    const float first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[17] + losses[18] + losses[19]) / 3;
    MESSAGE("mean loss of steps 1–3: " << first << ", of steps 18–20: " << last);
    CHECK(last < first - 0.1f);
}

TEST_CASE("checkpoint → resume continues exactly as an uninterrupted run") {
    tern::testing::TempDir tmp;
    const Tensor x = tern::testing::uniform({8, 6, 6, 3}, -1, 1, 101);
    const std::vector<int32_t> y = labels_for(8);
    auto make = [](uint64_t seed, std::shared_ptr<Tiny>& m, std::unique_ptr<SGD>& o) {
        Rng rng(seed);
        m = std::make_shared<Tiny>(rng);
        o = std::make_unique<SGD>(std::vector<ParamGroup>{{"all", m->parameters(), 1e-3f}}, SgdOptions{0.1f, 0.9f, true});
    };
    std::shared_ptr<Tiny> a, b;
    std::unique_ptr<SGD> oa, ob;
    make(1, a, oa);
    for (int i = 0; i < 3; ++i) train_step(*a, x, y, *oa, nullptr, UpdateMode::Joint);
    save_checkpoint(tmp / "ck.safetensors", *a, {oa.get()}, {{"epoch", 3}});
    make(2, b, ob);  // different init: everything must come from the checkpoint
    CHECK(load_checkpoint(tmp / "ck.safetensors", *b, {ob.get()})["epoch"] == 3);
    for (int i = 0; i < 3; ++i) {
        const float la = train_step(*a, x, y, *oa, nullptr, UpdateMode::Joint).loss;
        const float lb = train_step(*b, x, y, *ob, nullptr, UpdateMode::Joint).loss;
        CHECK(la == lb);
    }
    const auto sa = a->state_dict(), sb = b->state_dict();
    for (auto& [name, t] : sa) CHECK(t.to_vector() == sb.at(name).to_vector());
}

TEST_CASE("TGA's alternating step updates δ first, then w on the same batch with the new δ (Algorithm 1)") {
    const Tensor x = tern::testing::uniform({8, 6, 6, 3}, -1, 1, 102);
    const std::vector<int32_t> y = labels_for(8);
    auto build = [](std::shared_ptr<Tiny>& m) {
        Rng rng(3);
        m = std::make_shared<Tiny>(rng);
        QuantizeConfig qc;
        qc.method = "tga";
        attach_weight_quantizers(*m, qc);
    };
    auto make_opts = [](Module& m, std::unique_ptr<SGD>& w, std::unique_ptr<SGD>& d) {
        const ParameterGroups g = group_parameters(m);
        w = std::make_unique<SGD>(std::vector<ParamGroup>{{"weights", g.weights, 0.f}, {"no_decay", g.no_decay, 0.f}},
                                  SgdOptions{0.5f, 0.f, false});
        d = std::make_unique<SGD>(std::vector<ParamGroup>{{"thresholds", g.thresholds, 0.f}}, SgdOptions{0.5f, 0.f, false});
    };
    // The step under test.
    std::shared_ptr<Tiny> m;
    std::unique_ptr<SGD> w_opt, d_opt;
    build(m);
    make_opts(*m, w_opt, d_opt);
    train_step(*m, x, y, *w_opt, d_opt.get(), UpdateMode::Alternating);
    // The same two phases by hand, in the order Algorithm 1 prescribes.
    std::shared_ptr<Tiny> r;
    std::unique_ptr<SGD> w_ref, d_ref;
    build(r);
    make_opts(*r, w_ref, d_ref);
    const Tensor delta_before = group_parameters(*r).thresholds[0].clone();
    w_ref->zero_grad();
    d_ref->zero_grad();
    cross_entropy(r->forward(x), y).backward();
    d_ref->step();  // phase 1: δ only
    const Tensor delta_after = group_parameters(*r).thresholds[0].clone();
    CHECK(delta_after.item() != delta_before.item());
    w_ref->zero_grad();
    d_ref->zero_grad();
    cross_entropy(r->forward(x), y).backward();  // phase 2 sees the new δ
    w_ref->step();
    const auto sm = m->state_dict(), sr = r->state_dict();
    for (auto& [name, t] : sm) CHECK_MESSAGE(t.to_vector() == sr.at(name).to_vector(), name);
    // And the reverse order (w first, then δ) would give different weights: the order is observable.
    std::shared_ptr<Tiny> rev;
    std::unique_ptr<SGD> w_rev, d_rev;
    build(rev);
    make_opts(*rev, w_rev, d_rev);
    w_rev->zero_grad();
    d_rev->zero_grad();
    cross_entropy(rev->forward(x), y).backward();
    w_rev->step();
    CHECK(rev->conv->weight.to_vector() != m->conv->weight.to_vector());
}
