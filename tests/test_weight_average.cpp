// tests/test_weight_average.cpp — the running mean of model states (optim/weight_average.h): equals the plain mean
// of the snapshots, leaves them untouched, continues from a restored mean, and refuses snapshots of another model,
// naming them.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "core/error.h"
#include "optim/weight_average.h"

using namespace tern;

TEST_CASE("weight average: the running mean of three snapshots is their plain mean") {
    // w: {1, 2}, {3, 6}, {8, 1} → mean {4, 3};  b: {−1}, {0}, {4} → {1}
    const std::map<std::string, Tensor> s1 = {{"w", Tensor::from_vector({2}, {1.f, 2.f})}, {"b", Tensor::from_vector({1}, {-1.f})}};
    const std::map<std::string, Tensor> s2 = {{"w", Tensor::from_vector({2}, {3.f, 6.f})}, {"b", Tensor::from_vector({1}, {0.f})}};
    const std::map<std::string, Tensor> s3 = {{"w", Tensor::from_vector({2}, {8.f, 1.f})}, {"b", Tensor::from_vector({1}, {4.f})}};
    WeightAverage avg;
    avg.add(s1, "s1");
    avg.add(s2, "s2");
    avg.add(s3, "s3");
    CHECK(avg.count() == 3);
    const Tensor& w = avg.average().at("w");
    CHECK(w.data()[0] == doctest::Approx(4.f));
    CHECK(w.data()[1] == doctest::Approx(3.f));
    CHECK(avg.average().at("b").data()[0] == doctest::Approx(1.f));
    CHECK(s1.at("w").data()[0] == 1.f);  // the first snapshot was copied, not averaged in place
}

TEST_CASE("weight average: restoring the mean of two snapshots, then adding a third, is the mean of the three") {
    // The --resume path: the saved mean of {1, 2} and {3, 6} is {2, 4} over 2 snapshots; adding {8, 1} → {4, 3}.
    WeightAverage resumed;
    resumed.restore({{"w", Tensor::from_vector({2}, {2.f, 4.f})}}, 2, "average_running.safetensors");
    CHECK(resumed.count() == 2);
    resumed.add({{"w", Tensor::from_vector({2}, {8.f, 1.f})}}, "epoch 3");
    CHECK(resumed.count() == 3);
    CHECK(resumed.average().at("w").data()[0] == doctest::Approx(4.f));
    CHECK(resumed.average().at("w").data()[1] == doctest::Approx(3.f));
    CHECK_THROWS_WITH_AS(resumed.add({{"v", Tensor::zeros({2})}}, "epoch 4"), doctest::Contains("average_running.safetensors"), Error);
    CHECK_THROWS_WITH_AS(resumed.restore({{"w", Tensor::zeros({2})}}, 0, "bad.safetensors"), doctest::Contains("bad.safetensors"), Error);
}

TEST_CASE("weight average: a snapshot of another model is an error naming it") {
    WeightAverage avg;
    avg.add({{"w", Tensor::zeros({2, 3})}}, "a.safetensors");
    CHECK_THROWS_WITH_AS(avg.add({{"w", Tensor::zeros({3, 2})}}, "b.safetensors"),
                         doctest::Contains("b.safetensors"), Error);
    CHECK_THROWS_WITH_AS(avg.add({{"v", Tensor::zeros({2, 3})}}, "c.safetensors"), doctest::Contains("'v'"), Error);
    CHECK_THROWS_WITH_AS(avg.add({{"w", Tensor::zeros({2, 3})}, {"v", Tensor::zeros({1})}}, "d.safetensors"),
                         doctest::Contains("d.safetensors"), Error);
    CHECK(avg.count() == 1);
}
