// tests/test_optim.cpp — SGD against its update formula over 3 steps; learning-rate schedules against their
// closed forms.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

using namespace tern;

namespace {
// Runs 3 SGD steps on L = Σ c·p (so ∂L/∂p = c, constant) and returns p.
float three_steps(float p0, float c, SgdOptions o, float wd) {
    Tensor p = Tensor::from_vector({1}, {p0});
    p.set_requires_grad();
    SGD opt({{"all", {p}, wd}}, o);
    for (int i = 0; i < 3; ++i) {
        opt.zero_grad();
        sum(p * c).backward();
        opt.step();
    }
    return p.item();
}
}  // namespace

TEST_CASE("SGD with momentum, nesterov and weight decay follows the PyTorch update over 3 steps") {
    // p0 = 1, gradient c = 0.5, lr 0.1, μ = 0.9.
    // Plain momentum, wd 0: b1 = .5, b2 = .95, b3 = 1.355; p = 1 − .1(.5 + .95 + 1.355) = 0.7195
    CHECK(three_steps(1, 0.5f, {0.1f, 0.9f, false}, 0) == doctest::Approx(0.7195));
    // Nesterov, wd 0: steps use g + μb: .95, 1.355, 1.7195 → p = 1 − .1·4.0245 = 0.59755
    CHECK(three_steps(1, 0.5f, {0.1f, 0.9f, true}, 0) == doctest::Approx(0.59755));
    // Weight decay 0.1, momentum 0: p ← p − .1(.5 + .1p) = .99p − .05: 0.94, 0.8806, 0.821794
    CHECK(three_steps(1, 0.5f, {0.1f, 0.f, false}, 0.1f) == doctest::Approx(0.821794));
    // Weight decay 0.1 with momentum 0.9:
    //   d1 = .5 + .1·1 = .6,          b1 = .6,                p1 = 1 − .06 = .94
    //   d2 = .5 + .094 = .594,        b2 = .54 + .594 = 1.134, p2 = .94 − .1134 = .8266
    //   d3 = .5 + .08266 = .58266,    b3 = 1.0206 + .58266 = 1.60326, p3 = .8266 − .160326 = .666274
    CHECK(three_steps(1, 0.5f, {0.1f, 0.9f, false}, 0.1f) == doctest::Approx(0.666274));
}

TEST_CASE("a frozen group is not updated and groups keep their own weight decay") {
    Tensor a = Tensor::from_vector({1}, {1}), b = Tensor::from_vector({1}, {1});
    a.set_requires_grad();
    b.set_requires_grad();
    SGD opt({{"decay", {a}, 0.5f}, {"frozen", {b}, 0.f, 1.f, true}}, {0.1f, 0.f, false});
    sum(a + b).backward();
    opt.step();
    CHECK(a.item() == doctest::Approx(1 - 0.1 * (1 + 0.5)));
    CHECK(b.item() == 1.f);
}

TEST_CASE("SGD state round-trips the momentum buffers") {
    Tensor p = Tensor::from_vector({2}, {1, 2});
    p.set_requires_grad();
    SGD opt({{"w", {p}}}, {0.1f, 0.9f, false});
    sum(p).backward();
    opt.step();
    auto state = opt.state();
    REQUIRE(state.count("w/0"));
    SGD other({{"w", {p}}}, {0.1f, 0.9f, false});
    other.load_state(state);
    CHECK(other.state().at("w/0").to_vector() == state.at("w/0").to_vector());
}

TEST_CASE("SGD forgets one parameter's momentum on request and keeps the others'") {
    Tensor a = Tensor::from_vector({1}, {1}), b = Tensor::from_vector({1}, {1}), stranger = Tensor::from_vector({1}, {1});
    a.set_requires_grad();
    b.set_requires_grad();
    SGD opt({{"w", {a}}, {"v", {b}}}, {0.1f, 0.9f, false});
    sum(a + b).backward();
    opt.step();  // both buffers = 1
    CHECK(opt.reset_state(b));
    CHECK_FALSE(opt.reset_state(stranger));
    CHECK(opt.state().count("w/0") == 1);
    CHECK(opt.state().count("v/0") == 0);
    opt.zero_grad();
    sum(a + b).backward();
    opt.step();  // a: buffer 0.9 + 1 = 1.9 → 0.9 − 0.19; b starts from rest: buffer 1 → 0.9 − 0.1
    CHECK(a.item() == doctest::Approx(0.71));
    CHECK(b.item() == doctest::Approx(0.8));
}

TEST_CASE("SGDR learning rate at chosen steps equals the closed form") {
    // T_0 = 10, T_mult = 2, lr0 = 0.1, η_min = 0.001: cycles [0,10), [10,30), [30,70)
    ScheduleConfig c;
    c.kind = "sgdr";
    c.base_lr = 0.1;
    c.eta_min = 0.001;
    c.t0 = 10;
    c.t_mult = 2;
    LrSchedule s(c);
    auto closed = [](double tcur, double ti) { return 0.001 + (0.1 - 0.001) * (1 + std::cos(M_PI * tcur / ti)) / 2; };
    CHECK(s.lr_at(0) == doctest::Approx(0.1));
    CHECK(s.lr_at(5) == doctest::Approx(closed(5, 10)));      // middle of cycle 0: (0.1 + 0.001) / 2
    CHECK(s.lr_at(9.99) == doctest::Approx(closed(9.99, 10)));
    CHECK(s.lr_at(10) == doctest::Approx(0.1));               // restart
    CHECK(s.lr_at(25) == doctest::Approx(closed(15, 20)));
    CHECK(s.lr_at(31.5) == doctest::Approx(closed(1.5, 40)));
    c.t_mult = 1;
    CHECK(LrSchedule(c).lr_at(27) == doctest::Approx(closed(7, 10)));
    c.cycles = {4, 6, 6};  // restarts at 4 and 10 (one per PTQ stage), then every 6
    CHECK(LrSchedule(c).lr_at(3) == doctest::Approx(closed(3, 4)));
    CHECK(LrSchedule(c).lr_at(7) == doctest::Approx(closed(3, 6)));
    CHECK(LrSchedule(c).lr_at(17) == doctest::Approx(closed(1, 6)));
}

TEST_CASE("cosine, multistep, warm-up and per-epoch schedules") {
    ScheduleConfig c;
    c.kind = "cosine";
    c.base_lr = 0.1;
    c.total_epochs = 30;
    CHECK(LrSchedule(c).lr_at(15) == doctest::Approx(0.05));
    CHECK(LrSchedule(c).lr_at(30) == doctest::Approx(0.0));
    c.per_step = false;
    CHECK(LrSchedule(c).lr_at(15.7) == doctest::Approx(0.05));  // per epoch: rounds down to epoch 15
    ScheduleConfig m;
    m.kind = "multistep";
    m.base_lr = 0.1;
    m.milestones = {80, 120};
    CHECK(LrSchedule(m).lr_at(79) == doctest::Approx(0.1));
    CHECK(LrSchedule(m).lr_at(80) == doctest::Approx(0.01));
    CHECK(LrSchedule(m).lr_at(130) == doctest::Approx(0.001));
    m.warmup_epochs = 2;
    CHECK(LrSchedule(m).lr_at(0.5) == doctest::Approx(0.025));
    ScheduleConfig bad;
    bad.kind = "step";
    CHECK_THROWS_AS(LrSchedule{bad}, tern::Error);
}
