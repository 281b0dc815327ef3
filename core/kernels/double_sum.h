// core/kernels/double_sum.h — Σ f(i) over i < n, accumulated in double, fast.
//
// A plain `for (i) s += f(i)` makes every addition wait for the previous one (4 cycles each) and the compiler may
// not reorder floating-point sums. With 8 independent partial sums it can keep them in one vector of doubles
// (AVX-512) and issue an addition per cycle. The result differs from the sequential sum only by rounding. The
// quantizers run such sums over every weight of every layer in every training step; serial, they cost ~4 % of a
// ResNet-20 step.
#pragma once
#include <cstdint>

namespace tern::kernels {

template <class F>
double double_sum(int64_t n, F f) {
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) part[j] += f(i + j);
    for (; i < n; ++i) part[0] += f(i);
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

}  // namespace tern::kernels
