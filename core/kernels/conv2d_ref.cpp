// core/kernels/conv2d_ref.cpp — the definition of convolution, as plain loops (see conv2d.h for the formulas).
// Slow and obviously correct; the fast kernels are tested against these.
#include <cstring>

#include "core/kernels/conv2d.h"

namespace tern::kernels {

void conv2d_forward_ref(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups;  // channels per group
#pragma omp parallel for collapse(2)
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t oh = 0; oh < s.OH; ++oh)
            for (int64_t ow = 0; ow < s.OW; ++ow)
                for (int64_t oc = 0; oc < s.OC; ++oc) {
                    const int64_t g = oc / ocg;
                    double acc = bias ? bias[oc] : 0.0;
                    for (int64_t kh = 0; kh < s.KH; ++kh) {
                        const int64_t ih = oh * s.sh + kh - s.ph;
                        if (ih < 0 || ih >= s.H) continue;
                        for (int64_t kw = 0; kw < s.KW; ++kw) {
                            const int64_t iw = ow * s.sw + kw - s.pw;
                            if (iw < 0 || iw >= s.W) continue;
                            const float* xp = x + ((n * s.H + ih) * s.W + iw) * s.C + g * icg;
                            for (int64_t ic = 0; ic < icg; ++ic)
                                acc += double(xp[ic]) * w[((oc * icg + ic) * s.KH + kh) * s.KW + kw];
                        }
                    }
                    y[((n * s.OH + oh) * s.OW + ow) * s.OC + oc] = float(acc);
                }
}

void conv2d_backward_data_ref(const ConvShape& s, const float* dy, const float* w, float* dx) {
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups;
    std::memset(dx, 0, sizeof(float) * size_t(s.N * s.H * s.W * s.C));
    // Scatter form: every output gradient flows back to the inputs it read. Images are independent.
#pragma omp parallel for
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t oh = 0; oh < s.OH; ++oh)
            for (int64_t ow = 0; ow < s.OW; ++ow)
                for (int64_t oc = 0; oc < s.OC; ++oc) {
                    const int64_t g = oc / ocg;
                    const float gy = dy[((n * s.OH + oh) * s.OW + ow) * s.OC + oc];
                    for (int64_t kh = 0; kh < s.KH; ++kh) {
                        const int64_t ih = oh * s.sh + kh - s.ph;
                        if (ih < 0 || ih >= s.H) continue;
                        for (int64_t kw = 0; kw < s.KW; ++kw) {
                            const int64_t iw = ow * s.sw + kw - s.pw;
                            if (iw < 0 || iw >= s.W) continue;
                            float* dxp = dx + ((n * s.H + ih) * s.W + iw) * s.C + g * icg;
                            for (int64_t ic = 0; ic < icg; ++ic)
                                dxp[ic] += gy * w[((oc * icg + ic) * s.KH + kh) * s.KW + kw];
                        }
                    }
                }
}

void conv2d_backward_weight_ref(const ConvShape& s, const float* x, const float* dy, float* dw) {
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups;
#pragma omp parallel for collapse(2)
    for (int64_t oc = 0; oc < s.OC; ++oc)
        for (int64_t ic = 0; ic < icg; ++ic) {
            const int64_t g = oc / ocg;
            for (int64_t kh = 0; kh < s.KH; ++kh)
                for (int64_t kw = 0; kw < s.KW; ++kw) {
                    double acc = 0;
                    for (int64_t n = 0; n < s.N; ++n)
                        for (int64_t oh = 0; oh < s.OH; ++oh) {
                            const int64_t ih = oh * s.sh + kh - s.ph;
                            if (ih < 0 || ih >= s.H) continue;
                            for (int64_t ow = 0; ow < s.OW; ++ow) {
                                const int64_t iw = ow * s.sw + kw - s.pw;
                                if (iw < 0 || iw >= s.W) continue;
                                acc += double(dy[((n * s.OH + oh) * s.OW + ow) * s.OC + oc]) *
                                       x[((n * s.H + ih) * s.W + iw) * s.C + g * icg + ic];
                            }
                        }
                    dw[((oc * icg + ic) * s.KH + kh) * s.KW + kw] = float(acc);
                }
        }
}

}  // namespace tern::kernels
