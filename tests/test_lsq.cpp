// tests/test_lsq.cpp — LSQ activation quantization (quant/lsq.h): levels, init, and both gradients; fused into the
// batch norm before it, the same numbers as apart.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/kernels/fake_quantize.h"
#include "core/ops/reduce.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/simple_layers.h"
#include "models/registry.h"
#include "quant/lsq.h"
#include "quant/quantize_model.h"
#include "quant/train_step.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::uniform;

TEST_CASE("LSQ initializes s = 2·mean|v|/√Q_P and the signedness from the first batch") {
    // Unsigned 2-bit: Q_P = 3. Batch {0, 1, 2, 3}: mean|v| = 1.5 → s = 3/√3 = √3.
    LsqQuantizer q(2);
    CHECK_FALSE(q.initialized());
    q.forward(Tensor::from_vector({1, 4}, {0, 1, 2, 3}));
    CHECK(q.initialized());
    CHECK_FALSE(q.is_signed());
    CHECK(q.step() == doctest::Approx(std::sqrt(3.0)));
    CHECK(q.qn() == 0);
    CHECK(q.qp() == 3);
    // A batch with negatives makes it signed: 4-bit signed has Q_N = 8, Q_P = 7.
    LsqQuantizer sq(4);
    sq.forward(Tensor::from_vector({1, 2}, {-1, 1}));
    CHECK(sq.is_signed());
    CHECK(sq.qn() == 8);
    CHECK(sq.qp() == 7);
    CHECK(sq.step() == doctest::Approx(2.0 / std::sqrt(7.0)));
}

TEST_CASE("LSQ switched off is the identity and initializes on its first batch once switched on") {
    LsqQuantizer q(2);
    q.enabled = false;
    const Tensor v = Tensor::from_vector({1, 4}, {0.3f, 1.1f, 2.2f, 9.f});
    CHECK(q.forward(v).to_vector() == v.to_vector());
    CHECK_FALSE(q.initialized());  // s was not touched
    q.enabled = true;
    q.forward(Tensor::from_vector({1, 4}, {0, 1, 2, 3}));
    CHECK(q.step() == doctest::Approx(std::sqrt(3.0)));  // initialized from this batch, as if it were the first
}

TEST_CASE("LSQ set_bits changes the width and re-initializes s from the next batch by the new width's rule") {
    // A 4-bit quantizer trained a while (s moved off its init), then switched to 2 bits (--act-warmup-bits).
    LsqQuantizer q(4);
    const Tensor v = Tensor::from_vector({1, 4}, {0, 1, 2, 3});  // mean|v| = 1.5
    q.forward(v);
    CHECK(q.step() == doctest::Approx(3.0 / std::sqrt(15.0)));
    q.s.fill_(0.123f);
    q.set_bits(2);
    CHECK(q.bits() == 2);
    CHECK(q.loaded_bits() == 2);  // the state dict records the new width
    CHECK_FALSE(q.initialized());
    const auto out = q.forward(v).to_vector();
    CHECK(q.step() == doctest::Approx(std::sqrt(3.0)));  // 2·1.5/√3: LSQ's init at 2 bits, not 0.123
    CHECK_FALSE(q.is_signed());
    std::set<float> levels(out.begin(), out.end());
    CHECK(levels.size() <= 4);
    CHECK_THROWS(q.set_bits(1));
}

TEST_CASE("set_activation_bits switches the body of a ResNet-20 and leaves the classifier's width") {
    auto model = make_model("resnet20", 10, 3);
    attach_activation_quantizers(*model, 4, false, true, /*last_bits=*/8);
    model->forward(uniform({2, 32, 32, 3}, -1, 1, 5));  // initializes the steps
    std::map<std::string, float> before;
    for (const auto& [name, t] : model->state_dict())
        if (name.find("input_quantizer.step") != std::string::npos) before[name] = t.item();
    CHECK(set_activation_bits(*model, 4, 8).empty());  // already so: nothing changes
    const std::vector<Tensor> changed = set_activation_bits(*model, 2, 8);
    CHECK(changed.size() == 18);  // 19 quantized inputs, the classifier's stays at 8 bits
    const auto state = model->state_dict();
    CHECK(state.at("layer3.2.conv2.input_quantizer.bits").item() == 2.f);
    CHECK(state.at("layer3.2.conv2.input_quantizer.signed").item() == 0.f);  // re-initializes on the next batch
    CHECK(state.at("linear.input_quantizer.bits").item() == 8.f);
    CHECK(state.at("linear.input_quantizer.step").item() == before.at("linear.input_quantizer.step"));
    model->forward(uniform({2, 32, 32, 3}, -1, 1, 5));
    check_activation_bits(*model, "switched");  // the attached widths and the state agree
    for (const auto& [name, t] : model->state_dict())
        if (name.find("conv2.input_quantizer.signed") != std::string::npos) CHECK_MESSAGE(t.item() == -1.f, name);
}

TEST_CASE("LSQ output takes exactly Q_N + Q_P + 1 distinct levels") {
    for (int bits : {2, 3, 4, 8}) {
        for (bool negative : {false, true}) {
            LsqQuantizer q(bits);
            Tensor v = uniform({4, 5000}, negative ? -3.f : 0.f, 3.f, uint32_t(bits));
            q.forward(v);           // init
            q.s.fill_(3.f / float(q.qp()) * 0.5f);  // a step that makes both clips reachable
            const auto out = q.forward(v).to_vector();
            std::set<float> levels(out.begin(), out.end());
            INFO(bits << " bits, signed " << q.is_signed());
            CHECK(int(levels.size()) == q.qn() + q.qp() + 1);
        }
    }
}

TEST_CASE("LSQ gradients on chosen values: ∂v̂/∂v (STE inside the range) and ∂v̂/∂s (LSQ Eq. 3–5)") {
    // Unsigned 2 bits (Q_P = 3), s = 1: v = {−0.5, 0.4, 1.6, 2.5, 4}:
    //   v/s    −0.5 (clipped low)  0.4           1.6            2.5 (rounds to 2)   4 (clipped high)
    //   ∂v̂/∂v  0                  1             1              1                   0
    //   ∂v̂/∂s  −Q_N = 0           −0.4 + 0     −1.6 + 2        −2.5 + 2            Q_P = 3
    LsqQuantizer q(2);
    Tensor v = Tensor::from_vector({1, 5}, {-0.5f, 0.4f, 1.6f, 2.5f, 4.f});
    q.forward(Tensor::from_vector({1, 1}, {1.f}));  // init as unsigned
    q.s.fill_(1.f);
    v.set_requires_grad();
    const Tensor y = q.forward(v);
    CHECK(y.to_vector() == std::vector<float>{0, 0, 2, 2, 3});
    y.backward(Tensor::ones({1, 5}));
    CHECK(v.grad().to_vector() == std::vector<float>{0, 1, 1, 1, 0});
    // Σ ∂v̂/∂s = 0 − 0.4 + 0.4 − 0.5 + 3 = 2.5, times g = 1/√(N·Q_P) = 1/√(5·3)
    CHECK(q.s.grad().item() == doctest::Approx(2.5 / std::sqrt(15.0)));
}

TEST_CASE("LSQ step gradient vs finite differences away from rounding boundaries") {
    // v̂ = round(v/s)·s. Moving s by ±ε (without crossing a rounding boundary) changes v̂ by round(v/s)·ε inside
    // the range and by Q_P·ε / −Q_N·ε at the clips. LSQ's gradient adds the straight-through term −v/s inside
    // (round treated as identity), so analytic − Σ_inside(−v/s)·g equals the finite difference.
    LsqQuantizer q(3);
    Tensor v = uniform({2, 50}, -1.f, 9.f, 91);
    q.forward(Tensor::from_vector({1, 1}, {1.f}));  // unsigned
    q.s.fill_(1.f);
    // keep every v/s at least 0.05 from a rounding boundary (k + 0.5) and from the clip points
    for (int64_t i = 0; i < v.numel(); ++i) {
        float& x = v.data()[i];
        const float frac = x - std::floor(x);
        if (std::fabs(frac - 0.5f) < 0.05f) x += 0.1f;
    }
    v.set_requires_grad();
    Tensor g = uniform({2, 50}, -1, 1, 92);
    q.s.zero_grad();
    q.forward(v).backward(g);
    const double scale = 1.0 / std::sqrt(50.0 * q.qp());
    double ste_term = 0;
    for (int64_t i = 0; i < v.numel(); ++i) {
        const double r = v.data()[i];
        if (r > 0 && r < q.qp()) ste_term += -r * g.data()[i];
    }
    const double analytic_without_ste = q.s.grad().item() / scale - ste_term;
    auto L = [&](float step) {
        q.s.fill_(step);
        NoGradGuard ng;
        const auto y = q.forward(v).to_vector();
        double s = 0;
        for (size_t i = 0; i < y.size(); ++i) s += double(y[i]) * g.data()[i];
        return s;
    };
    const float eps = 1e-3f;
    const double fd = (L(1.f + eps) - L(1.f - eps)) / (2 * eps);
    CHECK(analytic_without_ste == doctest::Approx(fd).epsilon(1e-3));
}

// ---- LSQ fused into the batch norm that produces its input (layers/quantizable.h, BatchNorm2d::output_consumer)

namespace {
// All parameter gradients of `model` by name, after a forward/backward of Σ r·model(x) (r fixed); and the output.
std::map<std::string, std::vector<float>> output_and_gradients(Module& model, const Tensor& x, const Tensor& r) {
    for (auto& [name, p] : model.named_parameters()) p.zero_grad();
    const Tensor y = model.forward(x);
    y.backward(r);
    std::map<std::string, std::vector<float>> out{{"output", y.to_vector()}};
    for (auto& [name, p] : model.named_parameters())
        if (p.grad().defined()) out[name] = p.grad().to_vector();
    return out;
}
void set_fusion(Module& model, bool on) {
    for (auto& [name, m] : model.named_modules())
        if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) bn->fuse_output_quantizer = on;
}
void check_same(const std::map<std::string, std::vector<float>>& fused,
                const std::map<std::string, std::vector<float>>& apart) {
    REQUIRE(fused.size() == apart.size());
    CHECK(fused.at("output") == apart.at("output"));  // the same float operations: bit-exact
    for (const auto& [name, a] : apart) {
        INFO(name);
        const std::vector<float>& f = fused.at(name);
        REQUIRE(f.size() == a.size());
        double diff = 0, norm = 0;
        for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, double(std::fabs(f[i] - a[i]))), norm = std::max(norm, double(std::fabs(a[i])));
        CHECK(diff <= 1e-5 * std::max(norm, 1e-3));  // summation order only
    }
}
}  // namespace

TEST_CASE("LSQ fused into the preceding BN + ReLU: the same output and gradients as the two apart") {
    // conv(lsq(relu(bn(x)))): C = 16 (vector kernels) and C = 5 (reference loops); 2-bit and 4-bit.
    for (int64_t C : {16, 5})
        for (int bits : {2, 4}) {
            INFO("C = " << C << ", bits = " << bits);
            Rng rng(uint64_t(C + bits));
            Sequential net;
            auto bn = std::make_shared<BatchNorm2d>(C, /*fused_relu=*/true);
            auto conv = std::make_shared<Conv2d>(Conv2dConfig{C, 3, 3, 1, 1}, rng);
            conv->set_input_quantizer(std::make_shared<LsqQuantizer>(bits));
            bn->output_consumer = conv.get();
            bn->weight.copy_(uniform({C}, 0.5f, 1.5f, 7));
            bn->bias.copy_(uniform({C}, -0.3f, 0.3f, 8));
            net.push_back(bn);
            net.push_back(conv);
            const Tensor x = uniform({2, 6, 5, C}, -2, 2, 9), r = uniform({2, 6, 5, 3}, -1, 1, 10);
            net.forward(x);  // the first batch initializes s, unfused
            auto* lsq = dynamic_cast<LsqQuantizer*>(conv->input_quantizer());
            REQUIRE(lsq->initialized());
            // Fused, BN's own output is already quantized: every value a multiple k·s, k in [0, Q_P].
            for (float v : bn->forward(x).to_vector()) {
                const float k = v / lsq->step();
                CHECK(k == doctest::Approx(std::nearbyint(k)).epsilon(1e-5));
                CHECK((k > -0.5f && k < float(lsq->qp()) + 0.5f));
            }
            set_fusion(net, true);
            const auto fused = output_and_gradients(net, x, r);
            set_fusion(net, false);
            const auto apart = output_and_gradients(net, x, r);
            CHECK(apart.count("1.input_quantizer.step") == 1);
            check_same(fused, apart);
        }
}

TEST_CASE("LSQ expecting a fused input still quantizes any other tensor") {
    LsqQuantizer q(2);
    q.forward(Tensor::from_vector({1, 4}, {0, 1, 2, 3}));  // init: unsigned, s = √3
    const Tensor y = Tensor::from_vector({1, 2}, {0.4f, 9.f});
    q.expect_quantized(y);
    const Tensor other = Tensor::from_vector({1, 2}, {0.4f, 9.f});  // equal values, another tensor
    const auto out = q.forward(other).to_vector();
    CHECK(out[0] == 0.f);                                           // 0.4/√3 rounds to 0
    CHECK(out[1] == doctest::Approx(3 * std::sqrt(3.0)));           // clipped to Q_P·s
    CHECK(q.forward(y).to_vector() == out);  // the expectation was consumed: y itself is quantized now
}

TEST_CASE("ResNet-20 with TGA weights and LSQ-A2: a training step fused equals the step unfused") {
    auto model = make_model("resnet20", 10, 3);
    QuantizeConfig qc;
    qc.method = "tga";
    attach_weight_quantizers(*model, qc);
    CHECK(attach_activation_quantizers(*model, 2, false, true) == 19);
    int wired = 0;  // each block's bn1 → conv2: 9 of the 19 quantizers run inside a batch norm
    for (auto& [name, m] : model->named_modules())
        if (auto* bn = dynamic_cast<BatchNorm2d*>(m); bn && bn->output_consumer) ++wired;
    CHECK(wired == 9);
    const Tensor x = uniform({3, 32, 32, 3}, -2, 2, 11), r = uniform({3, 10}, -1, 1, 12);
    model->forward(x);  // initializes every step
    const auto fused = output_and_gradients(*model, x, r);
    set_fusion(*model, false);
    const auto apart = output_and_gradients(*model, x, r);
    CHECK(fused.count("layer2.1.conv2.input_quantizer.step") == 1);
    check_same(fused, apart);
}

TEST_CASE("LSQ keeps its bit width in the state dict; loading another width is an error naming file and layer") {
    auto trained = make_model("resnet20", 10, 3);
    attach_activation_quantizers(*trained, 2, false, true, /*last_bits=*/8);  // A2, the classifier's input A8
    trained->forward(uniform({2, 32, 32, 3}, -1, 1, 5));  // initializes the steps
    const auto state = trained->state_dict();
    REQUIRE(state.count("linear.input_quantizer.bits") == 1);
    CHECK(state.at("linear.input_quantizer.bits").item() == 8.f);
    CHECK(state.at("layer1.0.conv2.input_quantizer.bits").item() == 2.f);

    auto same = make_model("resnet20", 10, 3);  // the same widths: loads and checks clean
    attach_activation_quantizers(*same, 2, false, true, 8);
    same->load_state_dict(state);
    check_activation_bits(*same, "run.safetensors");

    auto other = make_model("resnet20", 10, 3);  // --act-bits-last forgotten: the classifier's input at 2 bits
    attach_activation_quantizers(*other, 2, false, true);
    other->load_state_dict(state);
    std::string message;
    try {
        check_activation_bits(*other, "run.safetensors");
    } catch (const std::exception& e) {
        message = e.what();
    }
    CHECK(message.find("run.safetensors") != std::string::npos);
    CHECK(message.find("linear") != std::string::npos);
    CHECK(message.find("--act-bits-last") != std::string::npos);
    CHECK_THROWS(other->forward(uniform({2, 32, 32, 3}, -1, 1, 6)));  // and the forward pass refuses too
}

TEST_CASE("LSQ's vector backward kernel equals the scalar formulas on odd sizes (signed and unsigned, clipped "
          "values, exact rounding ties)") {
    using namespace tern::kernels;
    for (const FakeQuant f : {make_fake_quant(0.25f, 0.f, 3.f), make_fake_quant(0.1f, -8.f, 7.f)})
        for (int64_t n : {1, 7, 8, 17, 130, 1001}) {
            INFO("n = " << n << ", range [" << f.lo << ", " << f.hi << "]");
            std::vector<float> v = uniform({n}, -1.2f, 1.2f, uint32_t(n)).to_vector();
            const std::vector<float> g = uniform({n}, -1, 1, uint32_t(n + 1)).to_vector();
            if (n > 3) v[1] = 0.5f * f.step, v[2] = 1.5f * f.step, v[3] = f.hi * f.step;  // ties, the upper clip
            std::vector<float> gv(static_cast<size_t>(n), 7.f);
            const double sum = fake_quantize_backward(v.data(), g.data(), gv.data(), n, f);
            double expected = 0;
            for (size_t i = 0; i < size_t(n); ++i) {
                const float q = v[i] * f.inv_step;
                CHECK(gv[i] == (q > f.lo && q < f.hi ? g[i] : 0.f));
                expected += double(g[i]) * double(q <= f.lo ? f.lo : q >= f.hi ? f.hi : std::nearbyint(q) - q);
            }
            CHECK(sum == doctest::Approx(expected).epsilon(1e-5));
        }
}

TEST_CASE("LSQ trains with every weight method (fp, twn, tga, ptq) at 2, 3, 4 and 8 bits") {
    // ResNet-20 memorizes one batch of 16 images whose label is written into the image (class c brightens
    // column band c), as train_cifar wires it: weight quantizers on every conv and the classifier (PTQ: the first
    // conv float, already in its ternary stage 3), LSQ on their inputs (the image left float), the step sizes in
    // their own group without weight decay. Each combination must lower the loss and keep every step finite and
    // positive; the unsigned quantizers (after a ReLU) must have Q_P = 2^k − 1.
    const int64_t n = 16;
    std::vector<float> pixels(size_t(n * 32 * 32 * 3));
    std::vector<int32_t> labels(static_cast<size_t>(n));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> noise(-0.5f, 0.5f);
    for (int64_t i = 0; i < n; ++i) {
        labels[size_t(i)] = int32_t(i % 10);
        for (int64_t p = 0; p < 32 * 32 * 3; ++p) {
            const int64_t col = (p / 3) % 32;
            pixels[size_t(i * 32 * 32 * 3 + p)] = noise(rng) + (col / 3 == i % 10 ? 1.5f : 0.f);
        }
    }
    const Tensor images = Tensor::from_vector({n, 32, 32, 3}, pixels);
    for (const std::string method : {"fp", "twn", "tga", "ptq"}) {
        for (int bits : {2, 3, 4, 8}) {
            INFO(method << " weights, " << bits << "-bit activations");
            auto model = make_model("resnet20", 10, 5);
            QuantizeConfig qc;
            qc.method = method;
            qc.quantize_first = method != "ptq";
            const std::vector<QuantLayer> layers = attach_weight_quantizers(*model, qc);
            if (method == "ptq") CHECK(advance_ptq_stage(layers, 2, {1, 1, 1}) == 3);  // pruned and ternary
            CHECK(attach_activation_quantizers(*model, bits, false, true) == 19);
            const ParameterGroups g = group_parameters(*model);
            REQUIRE(g.act_steps.size() == 19);
            SGD opt({{"weights", g.weights, 5e-4f}, {"no_decay", g.no_decay, 0.f}, {"act_steps", g.act_steps, 0.f}},
                    {0.05f, 0.9f, false});
            std::vector<float> losses;
            for (int step = 0; step < 24; ++step) {
                const StepResult r = train_step(*model, images, labels, opt, nullptr, UpdateMode::Joint);
                REQUIRE(r.diverged.empty());
                losses.push_back(r.loss);
            }
            const float first = (losses[0] + losses[1] + losses[2]) / 3.f;
            const float last = (losses[21] + losses[22] + losses[23]) / 3.f;
            MESSAGE(method << " A" << bits << ": loss " << first << " → " << last);
            CHECK(last < 0.7f * first);
            int unsigned_quantizers = 0;
            for (auto& [name, m] : model->named_modules()) {
                auto* q = dynamic_cast<LsqQuantizer*>(m);
                if (!q) continue;
                CHECK(q->initialized());
                CHECK(std::isfinite(q->step()));
                CHECK(q->step() > 0.f);
                if (q->is_signed()) continue;
                ++unsigned_quantizers;
                CHECK(q->qp() == (1 << bits) - 1);
            }
            CHECK(unsigned_quantizers == 19);  // every conv/linear input in ResNet-20 follows a ReLU
        }
    }
}
