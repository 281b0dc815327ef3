// tests/test_loss.cpp — log-softmax and cross-entropy: known values, label smoothing, gradients.
#include <doctest/doctest.h>

#include <cmath>

#include "core/ops/loss.h"
#include "tests/gradcheck.h"

using namespace tern;
using tern::testing::check_gradients;
using tern::testing::uniform;

TEST_CASE("cross entropy of uniform logits is log K") {
    // All logits equal → softmax = 1/K for every class → loss = log K, with or without smoothing.
    Tensor logits = Tensor::zeros({2, 4});
    CHECK(cross_entropy(logits, {0, 3}).item() == doctest::Approx(std::log(4.0)));
    CHECK(cross_entropy(logits, {0, 3}, 0.1f).item() == doctest::Approx(std::log(4.0)));
}

TEST_CASE("cross entropy on a hand-computed row, with label smoothing") {
    // logits (0, ln 3): softmax = (1/4, 3/4). Label 1: loss = −ln(3/4) = 0.28768.
    // Smoothing ε = 0.2 over K = 2: q = (0.1, 0.9): loss = −0.1 ln(1/4) − 0.9 ln(3/4) = 0.39755
    Tensor logits = Tensor::from_vector({1, 2}, {0.f, std::log(3.f)});
    CHECK(cross_entropy(logits, {1}).item() == doctest::Approx(0.287682));
    CHECK(cross_entropy(logits, {1}, 0.2f).item() == doctest::Approx(0.397545));
    CHECK(count_correct(logits, {1}) == 1);
    CHECK_THROWS_WITH_AS(cross_entropy(logits, {2}), doctest::Contains("label 2"), tern::Error);
}

TEST_CASE("log_softmax and cross entropy gradients match finite differences") {
    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    Tensor x = leaf(uniform({3, 5}, -2, 2, 41));
    check_gradients({"log_softmax", {x}, [](auto& in) { return log_softmax(in[0]); }});
    check_gradients({"cross_entropy", {x}, [](auto& in) { return cross_entropy(in[0], {1, 4, 0}); }});
    check_gradients({"cross_entropy smoothed", {x}, [](auto& in) { return cross_entropy(in[0], {1, 4, 0}, 0.1f); }});
}

TEST_CASE("distillation loss: hand-computed value, zero at the teacher, gradients") {
    // Teacher logits (0, ln 3), T = 1: p = (1/4, 3/4). Student (0, 0): q = (1/2, 1/2).
    // KL(p‖q) = 1/4·ln(1/2) + 3/4·ln(3/2) = 0.130812.  With T = 2 both soften: p = softmax(0, ln 3 / 2) =
    // (1/(1+√3), √3/(1+√3)) = (0.366025, 0.633975); KL = 0.366·ln(0.732051) + 0.634·ln(1.267949) = 0.036341,
    // times T² = 4 → 0.145363.
    Tensor student = Tensor::zeros({1, 2});
    Tensor teacher = Tensor::from_vector({1, 2}, {0.f, std::log(3.f)});
    CHECK(distillation_loss(student, teacher, 1.f).item() == doctest::Approx(0.130812).epsilon(1e-5));
    CHECK(distillation_loss(student, teacher, 2.f).item() == doctest::Approx(0.145363).epsilon(1e-5));
    CHECK(distillation_loss(teacher, teacher, 4.f).item() == doctest::Approx(0.0).epsilon(1e-7));
    CHECK_THROWS_WITH_AS(distillation_loss(student, Tensor::zeros({1, 3}), 1.f), doctest::Contains("(N, K)"), tern::Error);
    CHECK_THROWS_WITH_AS(distillation_loss(student, teacher, 0.f), doctest::Contains("temperature"), tern::Error);

    auto leaf = [](Tensor t) { t.set_requires_grad(); return t; };
    Tensor s = leaf(uniform({3, 5}, -2, 2, 43));
    const Tensor t = uniform({3, 5}, -3, 3, 44);
    check_gradients({"distillation T=1", {s}, [t](auto& in) { return distillation_loss(in[0], t, 1.f); }});
    check_gradients({"distillation T=4", {s}, [t](auto& in) { return distillation_loss(in[0], t, 4.f); }});
}
