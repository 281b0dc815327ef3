// core/kernels/fake_quantize.h — one element of LSQ's fake quantization (quant/lsq.h has the method and its
// equations), shared by the LSQ op and by the batch-norm pass that can apply it to its own output.
//
//   q = v · (1/s)                       (the multiply, not a divide: every implementation rounds alike)
//   v̂ = round(clamp(q, lo, hi)) · s     lo = −Q_N, hi = Q_P; round half to even
//   ∂v̂/∂v = 1 if lo < q < hi, else 0    (straight through inside the range)
//   ∂v̂/∂s = round(q) − q inside;  lo below;  hi above
#pragma once
#include <cmath>

namespace tern::kernels {

struct FakeQuant {
    float step = 0.f;      // s > 0; 0 means "no quantization" where a pass makes it optional
    float inv_step = 0.f;  // 1/s
    float lo = 0.f, hi = 0.f;
    bool on() const { return step > 0.f; }
};

inline FakeQuant make_fake_quant(float step, float lo, float hi) { return {step, 1.f / step, lo, hi}; }

// Plain conditionals, not std::min/max: GCC vectorizes this form in `omp simd` loops.
inline float fake_quantize(float v, const FakeQuant& f) {
    float q = v * f.inv_step;
    q = q < f.lo ? f.lo : q;
    q = q > f.hi ? f.hi : q;
    return std::nearbyint(q) * f.step;
}
inline bool fake_quantize_passes(float q, const FakeQuant& f) { return q > f.lo && q < f.hi; }
inline float fake_quantize_step_grad(float q, const FakeQuant& f) {
    return q <= f.lo ? f.lo : q >= f.hi ? f.hi : std::nearbyint(q) - q;
}

}  // namespace tern::kernels
