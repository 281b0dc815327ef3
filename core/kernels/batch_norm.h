// core/kernels/batch_norm.h — the per-channel passes of batch norm over (M rows × C channels), channels innermost.
//
// Batch norm does a few flops per byte, so its cost is passes over memory. The four passes:
//   moments       s1[c] = Σ_r (x − k)[r,c],  s2[c] = Σ_r (x − k)²[r,c]        (forward statistics, shift k)
//   apply         y = x·a[c] + b[c], then max(·, 0) if relu                   (forward output)
//   grad_sums     s1[c] = Σ g,  s2[c] = Σ g·(x − μ)                          (backward statistics)
//   grad_apply    dx = k1[c]·g + k2[c] + k3[c]·(x − μ)                       (backward output)
// With a fused ReLU the backward masks g where the forward output was ≤ 0; the mask is recomputed from x
// (x·a + b > 0) rather than read from y, one stream less. Sums are returned in double.
// Optionally the output is also fake-quantized (LSQ, core/kernels/fake_quantize.h) in the same pass: the next
// layer's activation quantizer, applied here instead of in two passes of its own (read y, write ŷ; and in the
// backward read y, read and write the gradient). The backward then also masks g outside the quantizer's range and
// grad_sums adds s3[c] = Σ g·∂ŷ/∂s, the step's gradient per channel.
// *_ref are the plain loops (the definition); the others keep channel vectors (kLanes = 16 or 8, float_vector.h)
// in registers when C is a multiple of kLanes and fall back to the reference otherwise. tests/test_batch_norm.cpp
// compares them.
#pragma once
#include <cstdint>
#include <vector>

#include "core/kernels/fake_quantize.h"

namespace tern::kernels {

struct BnAffine {
    const float* a;  // per channel: y = x·a + b
    const float* b;
    bool relu;
    FakeQuant quant = {};  // then ŷ = round(clamp(y/s, lo, hi))·s; off by default
};

void bn_moments_ref(const float* x, const float* k, int64_t M, int64_t C, double* s1, double* s2);
void bn_apply_ref(const float* x, float* y, int64_t M, int64_t C, BnAffine f);
void bn_grad_sums_ref(const float* g, const float* x, const float* mean, int64_t M, int64_t C, BnAffine f,
                      double* s1, double* s2, double* s3 = nullptr);
void bn_grad_apply_ref(const float* g, const float* x, const float* mean, const float* k1, const float* k2,
                       const float* k3, float* dx, int64_t M, int64_t C, BnAffine f);

void bn_moments(const float* x, const float* k, int64_t M, int64_t C, double* s1, double* s2);
void bn_apply(const float* x, float* y, int64_t M, int64_t C, BnAffine f);
void bn_grad_sums(const float* g, const float* x, const float* mean, int64_t M, int64_t C, BnAffine f, double* s1,
                  double* s2, double* s3 = nullptr);  // s3: needed (and only filled) when f.quant is on
void bn_grad_apply(const float* g, const float* x, const float* mean, const float* k1, const float* k2,
                   const float* k3, float* dx, int64_t M, int64_t C, BnAffine f);

}  // namespace tern::kernels
