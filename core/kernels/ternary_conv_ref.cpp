// core/kernels/ternary_conv_ref.cpp — the definition of the ternary convolution, as plain loops (see
// ternary_conv.h for the formula and the epilogue). Slow and obviously correct; the SIMD kernels are tested
// against these bit for bit.
#include <vector>

#include "core/error.h"
#include "core/kernels/ternary_conv.h"
#include "core/kernels/ternary_conv_isa.h"

namespace tern::kernels {

void ternary_conv_ref(const TernaryConvShape& s, const uint8_t* x, uint8_t pad_value, const PackedTernaryWeights& w,
                      const Epilogue& e, void* out) {
    ternary::check_args(s, w, e);
    const std::vector<int8_t> wc = w.codes();  // (OC, C, KH, KW)
#pragma omp parallel for collapse(2)
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t oh = 0; oh < s.OH; ++oh)
            for (int64_t ow = 0; ow < s.OW; ++ow)
                for (int64_t oc = 0; oc < s.OC; ++oc) {
                    int32_t acc = 0;
                    for (int64_t kh = 0; kh < s.KH; ++kh)
                        for (int64_t kw = 0; kw < s.KW; ++kw) {
                            const int64_t ih = oh * s.stride + kh - s.pad, iw = ow * s.stride + kw - s.pad;
                            const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
                            for (int64_t c = 0; c < s.C; ++c) {
                                const int32_t xv = inside ? x[((n * s.H + ih) * s.W + iw) * s.C + c] : pad_value;
                                acc += xv * wc[((oc * s.C + c) * s.KH + kh) * s.KW + kw];
                            }
                        }
                    ternary::store_one(e, acc, oc, ((n * s.OH + oh) * s.OW + ow) * s.OC + oc, out);
                }
}

void ternary_linear_ref(int64_t N, const uint8_t* x, const PackedTernaryWeights& w, const Epilogue& e, void* out) {
    TERN_CHECK(w.KH == 1 && w.KW == 1, "ternary_linear: weights must be (OC, C, 1, 1)");
    ternary_conv_ref(TernaryConvShape::make(1, 1, N, w.C, w.OC, 1, 1, 1, 0), x, 0, w, e, out);
}

}  // namespace tern::kernels
