// core/kernels/fake_quantize.h — one element of LSQ's fake quantization (quant/lsq.h has the method and its
// equations), shared by the LSQ op and by the batch-norm pass that can apply it to its own output.
//
//   q = v · (1/s)                       (the multiply, not a divide: every implementation rounds alike)
//   v̂ = round(clamp(q, lo, hi)) · s     lo = −Q_N, hi = Q_P; round half to even
//   ∂v̂/∂v = 1 if lo < q < hi, else 0    (straight through inside the range)
//   ∂v̂/∂s = round(q) − q inside;  lo below;  hi above
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/kernels/float_vector.h"

namespace tern::kernels {

struct FakeQuant {
    float step = 0.f;      // s > 0; 0 means "no quantization" where a pass makes it optional
    float inv_step = 0.f;  // 1/s
    float lo = 0.f, hi = 0.f;
    bool on() const { return step > 0.f; }
};

inline FakeQuant make_fake_quant(float step, float lo, float hi) { return {step, 1.f / step, lo, hi}; }

// Round half to even, exact for |q| < 2²²: adding 1.5·2²³ leaves no fraction bits, so the addition rounds q (in
// the default rounding mode, to nearest even) and the subtraction gives it back — what std::nearbyint does, except
// that −0.3 gives +0. Only used on q inside a quantizer's range (levels are far below 2²²). batch_norm_fast.cpp's
// fused quantizer rounds with it too, so the fused and the separate quantizer round alike.
// T is float or Vec (float_vector.h): the BN kernels and the LSQ backward round whole vectors with it.
template <class T>
inline T round_half_even_small(T q) {
    const float magic = 12582912.f;  // 1.5·2²³
    return (q + magic) - magic;
}

// Plain conditionals, not std::min/max: GCC vectorizes this form in `omp simd` loops.
inline float fake_quantize(float v, const FakeQuant& f) {
    float q = v * f.inv_step;
    q = q < f.lo ? f.lo : q;
    q = q > f.hi ? f.hi : q;
    return round_half_even_small(q) * f.step;
}
inline bool fake_quantize_passes(float q, const FakeQuant& f) { return (q > f.lo) & (q < f.hi); }  // & not &&: no branch
inline float fake_quantize_step_grad(float q, const FakeQuant& f) {  // (outside the range the rounding is unused)
    float d = round_half_even_small(q) - q;  // one select per condition, no nested ?: — GCC if-converts this form
    d = q >= f.hi ? f.hi : d;
    return q <= f.lo ? f.lo : d;
}

// ∂v̂/∂s for a vector of q (the scalar fake_quantize_step_grad on each lane); lo and hi broadcast.
inline Vec fake_quantize_step_grad(Vec q, Vec lo, Vec hi) {
    Vec d = round_half_even_small(q) - q;  // inside the range,
    d = q >= hi ? hi : d;                  // Q_P above,
    return q <= lo ? lo : d;               // −Q_N below
}

// LSQ's backward over n elements: gv = ∂L/∂v̂ where v passes (else 0); returns Σ ∂L/∂v̂ · ∂v̂/∂s (LSQ Eq. 3–5,
// quant/lsq.h). Written with
// explicit vectors (float_vector.h): as a plain `omp simd` loop with a double sum GCC left it scalar, with branches
// (~30 ms of a ResNet-20 LSQ-A4 step on AVX2). The products are summed in float vectors over blocks of
// kSumBlock elements, then in double (as batch_norm_fast.cpp's sums), so no float sum grows long.
inline double fake_quantize_backward(const float* v, const float* g, float* gv, int64_t n, FakeQuant f) {
    constexpr int64_t kSumBlock = 128;
    const Vec lo = Vec{} + f.lo, hi = Vec{} + f.hi, zero = {};
    double total = 0;
    int64_t i = 0;
    while (i + kLanes <= n) {
        Vec sum = {};
        const int64_t end = std::min(n, i + kSumBlock);
        for (; i + kLanes <= end; i += kLanes) {
            const Vec q = load_vec(v + i) * f.inv_step, gi = load_vec(g + i);
            store_vec(gv + i, (q > lo) & (q < hi) ? gi : zero);  // ∂v̂/∂v
            sum += gi * fake_quantize_step_grad(q, lo, hi);      // ∂v̂/∂s
        }
        for (int k = 0; k < kLanes; ++k) total += double(sum[k]);
    }
    for (; i < n; ++i) {  // the last n mod kLanes elements: the scalar formulas
        const float q = v[i] * f.inv_step;
        gv[i] = fake_quantize_passes(q, f) ? g[i] : 0.f;
        total += double(g[i] * fake_quantize_step_grad(q, f));
    }
    return total;
}

}  // namespace tern::kernels
