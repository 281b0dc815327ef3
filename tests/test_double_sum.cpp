// tests/test_double_sum.cpp — kernels::double_sum (8 partial sums) against the plain sequential sum.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/kernels/double_sum.h"
#include "core/rng.h"

using namespace tern;

TEST_CASE("double_sum equals the sequential sum on odd lengths, up to rounding") {
    Rng rng(5);
    for (int64_t n : {0, 1, 7, 8, 9, 15, 17, 1001, 36865}) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = rng.normal();
        double plain = 0, plain_sq = 0;
        for (float x : v) plain += x, plain_sq += double(x) * x;
        const double fast = kernels::double_sum(n, [&v](int64_t i) { return double(v[size_t(i)]); });
        const double fast_sq = kernels::double_sum(n, [&v](int64_t i) { return double(v[size_t(i)]) * v[size_t(i)]; });
        INFO("n = " << n);
        CHECK(std::fabs(fast - plain) <= 1e-12 * (1.0 + plain_sq));  // sums of ±normals: scale by Σx²
        CHECK(fast_sq == doctest::Approx(plain_sq).epsilon(1e-12));  // double rounding: ~n·1e-16 at worst
    }
    // Every index is visited exactly once: summing 1s counts them.
    CHECK(kernels::double_sum(12345, [](int64_t) { return 1.0; }) == 12345.0);
}
