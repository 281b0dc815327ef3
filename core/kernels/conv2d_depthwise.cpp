// core/kernels/conv2d_depthwise.cpp — fast depthwise convolution for NHWC (forward, backward-data,
// backward-weight): groups == C == OC, one KH×KW filter per channel, as in MobileNetV2.
//
// A depthwise conv has no sum over input channels, so the general kernel (conv2d_fast.cpp), which puts output
// channels in the vector lanes and streams the input channels of a group, would fill 1 lane in 16. Here the
// channels themselves are the lanes: pixel (h, w) holds its C channels contiguously (NHWC), and
//
//     for each output pixel:  list the taps (kh, kw) whose input pixel lies inside the image
//         for each block of kLanes channels c (16 with AVX-512, 8 with AVX2; float_vector.h):
//             acc = bias[c … c + kLanes − 1]
//             for each listed tap:  acc += x[ih, iw, c … c + kLanes − 1] · wt[kh, kw, c … c + kLanes − 1]
//             y[oh, ow, c … c + kLanes − 1] = acc
//
// wt is the filter transposed to (KH, KW, C), so one tap's kLanes weights are contiguous like the inputs.
// Listing the taps per pixel handles padding and stride with no scratch copy and no test in the inner loop;
// the list is shared by all channel blocks. The C mod kLanes channels after the last full block take a scalar loop.
// - Backward-data is the same loop in gather form: ∂L/∂x[ih, iw, c] = Σ ∂L/∂y[oh, ow, c] · w[c, kh, kw] over
//   the taps with ih = oh·sh + kh − ph and iw = ow·sw + kw − pw, i.e. oh = (ih + ph − kh) / sh when that
//   division is exact — a tap list per input pixel.
// - Backward-weight: ∂L/∂w[c, kh, kw] = Σ_{n, oh, ow} ∂L/∂y[n, oh, ow, c] · x[n, ih, iw, c], summed per thread
//   into a (KH, KW, C) buffer, the buffers added at the end in thread order (deterministic for a thread count).
// Threads split the N·OH output rows (N·H input rows for backward-data). conv2d_ref.cpp is the definition these
// loops are tested against (tests/test_conv2d.cpp).
#include <omp.h>

#include <cstring>
#include <vector>

#include "core/kernels/conv2d.h"
#include "core/kernels/float_vector.h"

namespace tern::kernels {

namespace {

// The taps that reach inside the image for one pixel: src[t] is the offset of the other pixel's channel 0
// (input pixel for forward, output-gradient pixel for backward-data), filt[t] the offset of the tap's C weights
// in wt (KH, KW, C).
struct TapList {
    size_t n = 0;
    std::vector<int64_t> src, filt;
    explicit TapList(int64_t capacity) : src(size_t(capacity)), filt(size_t(capacity)) {}
    void add(int64_t s, int64_t f) {
        src[n] = s;
        filt[n] = f;
        ++n;
    }
};

// out[c] = bias[c] + Σ_t src[taps.src[t] + c] · wt[taps.filt[t] + c]   for c < C (bias may be null: 0).
void sum_taps(const float* src, const float* wt, const TapList& taps, const float* bias, int64_t C, float* out) {
    int64_t c = 0;
    for (; c + kLanes <= C; c += kLanes) {
        Vec acc = bias ? load_vec(bias + c) : Vec{};
        for (size_t t = 0; t < taps.n; ++t) acc += load_vec(src + taps.src[t] + c) * load_vec(wt + taps.filt[t] + c);
        store_vec(out + c, acc);
    }
    for (; c < C; ++c) {
        float acc = bias ? bias[c] : 0.f;
        for (size_t t = 0; t < taps.n; ++t) acc += src[taps.src[t] + c] * wt[taps.filt[t] + c];
        out[c] = acc;
    }
}

// w (C, 1, KH, KW) → wt (KH, KW, C)
std::vector<float> filters_channels_last(const ConvShape& s, const float* w) {
    std::vector<float> wt(size_t(s.KH * s.KW * s.C));
    for (int64_t c = 0; c < s.C; ++c)
        for (int64_t k = 0; k < s.KH * s.KW; ++k) wt[size_t(k * s.C + c)] = w[c * s.KH * s.KW + k];
    return wt;
}

}  // namespace

bool conv2d_is_depthwise(const ConvShape& s) { return s.groups == s.C && s.OC == s.C; }

// ---- forward ------------------------------------------------------------------------------------------------
// y[n, oh, ow, c] = bias[c] + Σ_{kh, kw} x[n, oh·sh + kh − ph, ow·sw + kw − pw, c] · w[c, 0, kh, kw]
void conv2d_depthwise_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
    const std::vector<float> wt = filters_channels_last(s, w);
#pragma omp parallel
    {
        TapList taps(s.KH * s.KW);
#pragma omp for schedule(static)
        for (int64_t row = 0; row < s.N * s.OH; ++row) {
            const int64_t n = row / s.OH, oh = row % s.OH;
            for (int64_t ow = 0; ow < s.OW; ++ow) {
                taps.n = 0;
                for (int64_t kh = 0; kh < s.KH; ++kh) {
                    const int64_t ih = oh * s.sh + kh - s.ph;
                    if (ih < 0 || ih >= s.H) continue;
                    for (int64_t kw = 0; kw < s.KW; ++kw) {
                        const int64_t iw = ow * s.sw + kw - s.pw;
                        if (iw < 0 || iw >= s.W) continue;
                        taps.add(((n * s.H + ih) * s.W + iw) * s.C, (kh * s.KW + kw) * s.C);
                    }
                }
                sum_taps(x, wt.data(), taps, bias, s.C, y + (row * s.OW + ow) * s.C);
            }
        }
    }
}

// ---- backward-data --------------------------------------------------------------------------------------------
// ∂L/∂x[n, ih, iw, c] = Σ_{kh, kw} ∂L/∂y[n, oh, ow, c] · w[c, 0, kh, kw]  over the taps where
// oh = (ih + ph − kh) / sh and ow = (iw + pw − kw) / sw are exact and inside the output.
void conv2d_depthwise_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx) {
    const std::vector<float> wt = filters_channels_last(s, w);
#pragma omp parallel
    {
        TapList taps(s.KH * s.KW);
#pragma omp for schedule(static)
        for (int64_t row = 0; row < s.N * s.H; ++row) {
            const int64_t n = row / s.H, ih = row % s.H;
            for (int64_t iw = 0; iw < s.W; ++iw) {
                taps.n = 0;
                for (int64_t kh = 0; kh < s.KH; ++kh) {
                    const int64_t num_h = ih + s.ph - kh;  // = oh·sh
                    if (num_h < 0 || num_h % s.sh != 0 || num_h / s.sh >= s.OH) continue;
                    for (int64_t kw = 0; kw < s.KW; ++kw) {
                        const int64_t num_w = iw + s.pw - kw;  // = ow·sw
                        if (num_w < 0 || num_w % s.sw != 0 || num_w / s.sw >= s.OW) continue;
                        taps.add(((n * s.OH + num_h / s.sh) * s.OW + num_w / s.sw) * s.C, (kh * s.KW + kw) * s.C);
                    }
                }
                sum_taps(dy, wt.data(), taps, nullptr, s.C, dx + (row * s.W + iw) * s.C);  // no tap: writes 0
            }
        }
    }
}

// ---- backward-weight ---------------------------------------------------------------------------------------
// ∂L/∂w[c, 0, kh, kw] = Σ_{n, oh, ow} ∂L/∂y[n, oh, ow, c] · x[n, oh·sh + kh − ph, ow·sw + kw − pw, c]
void conv2d_depthwise_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw) {
    const int64_t C = s.C, taps_per_filter = s.KH * s.KW, acc_size = taps_per_filter * C;
    const int T = omp_get_max_threads();
    std::vector<float> acc_all(size_t(T * acc_size), 0.f);  // thread t's (KH, KW, C) sums
#pragma omp parallel num_threads(T)
    {
        float* acc = acc_all.data() + omp_get_thread_num() * acc_size;
        TapList taps(taps_per_filter);
#pragma omp for schedule(static)
        for (int64_t row = 0; row < s.N * s.OH; ++row) {
            const int64_t n = row / s.OH, oh = row % s.OH;
            for (int64_t ow = 0; ow < s.OW; ++ow) {
                taps.n = 0;
                for (int64_t kh = 0; kh < s.KH; ++kh) {
                    const int64_t ih = oh * s.sh + kh - s.ph;
                    if (ih < 0 || ih >= s.H) continue;
                    for (int64_t kw = 0; kw < s.KW; ++kw) {
                        const int64_t iw = ow * s.sw + kw - s.pw;
                        if (iw < 0 || iw >= s.W) continue;
                        taps.add(((n * s.H + ih) * s.W + iw) * C, (kh * s.KW + kw) * C);
                    }
                }
                const float* g = dy + (row * s.OW + ow) * C;
                int64_t c = 0;
                // acc[tap, c …] += ∂L/∂y[pixel, c …] · x[the tap's input pixel, c …]   (kLanes channels from c)
                for (; c + kLanes <= C; c += kLanes) {
                    const Vec gv = load_vec(g + c);
                    for (size_t t = 0; t < taps.n; ++t) {
                        float* a = acc + taps.filt[t] + c;
                        store_vec(a, load_vec(a) + gv * load_vec(x + taps.src[t] + c));
                    }
                }
                for (; c < C; ++c)
                    for (size_t t = 0; t < taps.n; ++t) acc[taps.filt[t] + c] += g[c] * x[taps.src[t] + c];
            }
        }
    }
    // Sum the threads' buffers and transpose (KH, KW, C) → (C, 1, KH, KW).
    for (int64_t c = 0; c < C; ++c)
        for (int64_t k = 0; k < taps_per_filter; ++k) {
            float total = 0.f;
            for (int t = 0; t < T; ++t) total += acc_all[size_t(t * acc_size + k * C + c)];
            dw[c * taps_per_filter + k] = total;
        }
}

}  // namespace tern::kernels
