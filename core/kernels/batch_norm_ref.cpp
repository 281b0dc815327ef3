// core/kernels/batch_norm_ref.cpp — batch norm's passes as plain loops (see batch_norm.h).
#include "core/kernels/batch_norm.h"

namespace tern::kernels {

// The output before quantization: x·a + b, then max(·, 0) with a fused ReLU.
static inline float affine(float x, BnAffine f, int64_t c) {
    const float v = x * f.a[c] + f.b[c];
    return f.relu && !(v > 0.f) ? 0.f : v;
}
// Whether the gradient passes this element: the ReLU's mask, then the quantizer's range.
static inline bool kept(float x, BnAffine f, int64_t c) {
    if (f.relu && !(x * f.a[c] + f.b[c] > 0.f)) return false;
    return !f.quant.on() || fake_quantize_passes(affine(x, f, c) * f.quant.inv_step, f.quant);
}

void bn_moments_ref(const float* x, const float* k, int64_t M, int64_t C, double* s1, double* s2) {
    for (int64_t c = 0; c < C; ++c) s1[c] = s2[c] = 0;
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; ++c) {
            const double d = double(x[r * C + c]) - k[c];
            s1[c] += d;
            s2[c] += d * d;
        }
}

void bn_apply_ref(const float* x, float* y, int64_t M, int64_t C, BnAffine f) {
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; ++c) {
            const float v = affine(x[r * C + c], f, c);
            y[r * C + c] = f.quant.on() ? fake_quantize(v, f.quant) : v;
        }
}

void bn_grad_sums_ref(const float* g, const float* x, const float* mean, int64_t M, int64_t C, BnAffine f,
                      double* s1, double* s2, double* s3) {
    for (int64_t c = 0; c < C; ++c) s1[c] = s2[c] = 0;
    if (f.quant.on())
        for (int64_t c = 0; c < C; ++c) s3[c] = 0;
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; ++c) {
            const int64_t i = r * C + c;
            const double gv = kept(x[i], f, c) ? g[i] : 0.0;
            s1[c] += gv;
            s2[c] += gv * (double(x[i]) - mean[c]);
            if (f.quant.on()) s3[c] += double(g[i]) * fake_quantize_step_grad(affine(x[i], f, c) * f.quant.inv_step, f.quant);
        }
}

void bn_grad_apply_ref(const float* g, const float* x, const float* mean, const float* k1, const float* k2,
                       const float* k3, float* dx, int64_t M, int64_t C, BnAffine f) {
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; ++c) {
            const int64_t i = r * C + c;
            const float gv = kept(x[i], f, c) ? g[i] : 0.f;
            dx[i] = k1[c] * gv + k2[c] + k3[c] * (x[i] - mean[c]);
        }
}

}  // namespace tern::kernels
