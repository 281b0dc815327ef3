// core/kernels/batch_norm_ref.cpp — batch norm's passes as plain loops (see batch_norm.h).
#include "core/kernels/batch_norm.h"

namespace tern::kernels {

static inline bool kept(float x, BnAffine f, int64_t c) { return !f.relu || x * f.a[c] + f.b[c] > 0.f; }

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
            const float v = x[r * C + c] * f.a[c] + f.b[c];
            y[r * C + c] = f.relu && !(v > 0.f) ? 0.f : v;
        }
}

void bn_grad_sums_ref(const float* g, const float* x, const float* mean, int64_t M, int64_t C, BnAffine f,
                      double* s1, double* s2) {
    for (int64_t c = 0; c < C; ++c) s1[c] = s2[c] = 0;
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; ++c) {
            const int64_t i = r * C + c;
            const double gv = kept(x[i], f, c) ? g[i] : 0.0;
            s1[c] += gv;
            s2[c] += gv * (double(x[i]) - mean[c]);
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
