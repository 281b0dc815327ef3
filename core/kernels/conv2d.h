// core/kernels/conv2d.h — 2-D convolution kernels on raw NHWC arrays: a plain reference and a fast path.
//
// Layouts: x (N, H, W, C)  w (OC, C/groups, KH, KW) as PyTorch  y (N, OH, OW, OC)
//   y[n, oh, ow, oc] = bias[oc] + Σ_{kh, kw, ic ∈ group(oc)} x[n, oh·sh + kh − ph, ow·sw + kw − pw, ic] · w[oc, ic, kh, kw]
//   OH = (H + 2·ph − KH) / sh + 1   (positions outside x read as zero)
// Backward:
//   ∂L/∂x[n, ih, iw, ic]     = Σ over every (oh, ow, kh, kw, oc) that read x[n, ih, iw, ic] of ∂L/∂y · w
//   ∂L/∂w[oc, ic, kh, kw]    = Σ_{n, oh, ow} ∂L/∂y[n, oh, ow, oc] · x[n, oh·sh + kh − ph, ow·sw + kw − pw, ic]
//
// conv2d_ref.cpp is the definition: loop nests a reader can check by hand. conv2d_fast.cpp computes the same
// with register blocking in vectors of kLanes floats (float_vector.h: AVX-512 or AVX2), hands depthwise shapes to
// conv2d_depthwise.cpp (channels in the vector lanes) and stride-1 3×3 shapes to conv2d_winograd.cpp.
// tests/test_conv2d.cpp checks fast == reference on odd sizes.
#pragma once
#include <cstdint>

namespace tern::kernels {

struct ConvShape {
    int64_t N, H, W, C;          // input
    int64_t OC, KH, KW;          // weight (OC, C / groups, KH, KW)
    int64_t sh, sw, ph, pw;      // stride, zero padding
    int64_t groups;
    int64_t OH, OW;              // output

    static ConvShape make(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OC, int64_t KH, int64_t KW,
                          int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t groups) {
        return {N, H, W, C, OC, KH, KW, sh, sw, ph, pw, groups,
                (H + 2 * ph - KH) / sh + 1, (W + 2 * pw - KW) / sw + 1};
    }
    double flops() const { return 2.0 * N * OH * OW * OC * (C / groups) * KH * KW; }
};

// Reference kernels (any groups, stride, padding). dx and dw are overwritten.
void conv2d_forward_ref(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void conv2d_backward_data_ref(const ConvShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight_ref(const ConvShape& s, const float* x, const float* dy, float* dw);

// Fast kernels: the same contracts. They handle every shape (falling back to the reference where they have no
// fast path); `conv2d_fast_path(s)` tells which shapes take the fast path (for tests and benchmarks).
bool conv2d_fast_path(const ConvShape& s);
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void conv2d_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw);

// Depthwise kernels (conv2d_depthwise.cpp), for groups == C == OC only (one KH×KW filter per channel, any
// stride and padding); the same contracts. The conv2d_* functions above call them for such shapes.
bool conv2d_is_depthwise(const ConvShape& s);
void conv2d_depthwise_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void conv2d_depthwise_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx);
void conv2d_depthwise_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw);

// Winograd F(2×2, 3×3) and F(4×4, 3×3) kernels (conv2d_winograd.cpp) for groups 1, 3×3, stride 1, padding 1, C and OC multiples
// of kLanes (16, or 8 on AVX2 builds; `conv2d_winograd_supports`); the same contracts. The conv2d_* functions above call them for such shapes
// where they are faster (`conv2d_winograd_applies`: up to 128 × 128 channels, at least 96 output tiles of 2×2)
// unless switched off — TERN_CONV_WINOGRAD=0 in the environment or set_conv2d_winograd(false) — to compare.
// `tile` picks the algorithm: 2 → F(2×2, 3×3), 4 → F(4×4, 3×3), 0 → `conv2d_winograd_tile(s)`, the measured
// choice for the shape (TERN_CONV_WINOGRAD=2 or 4 forces one).
bool conv2d_winograd_supports(const ConvShape& s);
bool conv2d_winograd_applies(const ConvShape& s);
int conv2d_winograd_tile(const ConvShape& s);
void set_conv2d_winograd(bool on);
bool conv2d_winograd_enabled();
// Switches Winograd on or off for a scope (tests, benchmarks) and restores the previous setting after it.
struct WinogradScope {
    explicit WinogradScope(bool on) : previous(conv2d_winograd_enabled()) { set_conv2d_winograd(on); }
    ~WinogradScope() { set_conv2d_winograd(previous); }
    WinogradScope(const WinogradScope&) = delete;
    WinogradScope& operator=(const WinogradScope&) = delete;
    bool previous;
};
void conv2d_winograd_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y,
                             int tile = 0);
void conv2d_winograd_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx, int tile = 0);
void conv2d_winograd_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw, int tile = 0);

}  // namespace tern::kernels
