// core/kernels/conv2d_fast.cpp — fast direct convolution for NHWC (forward, backward-data, backward-weight).
//
// Why direct convolution and not im2col + sgemm: ResNet-20's layers have 16–64 channels; as GEMMs those are
// skinny (K = 144, N = 16) and OpenBLAS reaches a fraction of peak on them. Here the output channels are the
// vector lanes (kLanes floats = one register: 16 with AVX-512, 8 with AVX2; float_vector.h) and the kernel keeps a
// block of R pixels × V channel-vectors of accumulators in registers while it streams the input channels:
//
//     for each tap (kh, kw):  for each input channel c:
//         w[v]       = 16 weights for output channels v·16 … v·16+15   (V vector loads; with AVX-512's 16 lanes)
//         acc[r][v] += x[pixel r, c] (broadcast) · w[v]                 (R·V fused multiply-adds)
//
// With R·V ≈ 16–24 accumulators (32 registers; 12–14 with AVX2's 16) the loop is bound by the multiply-adds,
// not by loads.
// - Padding: each image is first copied into a zero-bordered scratch image, so no tap ever needs a bounds test.
// - Backward-data is the same kernel: ∂L/∂x[i] gathers ∂L/∂y over the taps that read x[i]. For stride s the input
//   pixels split into s "phases" (i mod s); within one phase and one row the contributing taps are fixed and the
//   ∂L/∂y pixels are consecutive, so each (row, phase) is one call of the micro-kernel with a tap subset.
// - Backward-weight keeps a block of input channels × output-channel vectors of ∂L/∂w in registers while it
//   sweeps over all pixels of an image.
// - Threads split the N·OH output rows; each thread pads the images it touches into its own scratch and, for
//   ∂L/∂w, accumulates into its own buffer, summed at the end.
// Vectors are GCC vector extensions (Vec, float_vector.h), one machine register wide; the packed layouts below
// say "16" where they mean kLanes. conv2d_ref.cpp is the definition these loops are tested against.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/kernels/conv2d.h"
#include "core/kernels/float_vector.h"
#include "core/tensor.h"

namespace tern::kernels {

namespace {

inline void store_partial(float* p, Vec v, int n) {  // the first n lanes
    for (int i = 0; i < n; ++i) p[i] = v[i];
}
inline Vec load_partial(const float* p, int n) {  // the first n lanes, the rest 0: never reads past p[n - 1]
    Vec v = {};
    for (int i = 0; i < n; ++i) v[i] = p[i];
    return v;
}

// ---- the micro-kernel ------------------------------------------------------------------------------------------
// out[r·out_step + v·16 + lane] = Σ_{t < ntaps} Σ_{c < K} src[r·src_step + tap_off[t] + c] · w_t[c·16 + lane
//                                                                                          + v·w_vstride]
// (+ bias, or + the old value when `accumulate`), for r < R and the first `lanes_last` lanes of the last vector.
struct Taps {
    int n = 0;
    int64_t src_off[64];
    const float* w[64];
};

// STEP is src_step when it is known at compile time (0: use the runtime value). With a constant step every
// pixel's input is `s + c + r·STEP` — one base register plus an immediate displacement — instead of R pointers
// that do not fit in the 16 general-purpose registers.
template <int R, int V, int STEP>
void micro_kernel(const float* src, int64_t src_step, int64_t K, const Taps& taps, int64_t w_vstride,
                  const float* bias, float* out, int64_t out_step, int lanes_last) {
    const int64_t step = STEP ? STEP : src_step;
    Vec acc[R][V];
    for (int v = 0; v < V; ++v) {
        Vec b = {};
        if (bias) {
            const int n = v == V - 1 ? lanes_last : kLanes;
            for (int i = 0; i < n; ++i) b[i] = bias[v * kLanes + i];
        }
        for (int r = 0; r < R; ++r) acc[r][v] = b;
    }
    for (int t = 0; t < taps.n; ++t) {
        const float* s = src + taps.src_off[t];
        const float* w = taps.w[t];
        for (int64_t c = 0; c < K; ++c) {
            Vec wv[V];
            for (int v = 0; v < V; ++v) wv[v] = load_vec(w + v * w_vstride + c * kLanes);
            for (int r = 0; r < R; ++r) {
                const float x = s[r * step + c];
                for (int v = 0; v < V; ++v) acc[r][v] += x * wv[v];
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < V; ++v) {
            float* o = out + r * out_step + v * kLanes;
            if (v == V - 1 && lanes_last < kLanes) store_partial(o, acc[r][v], lanes_last);
            else store_vec(o, acc[r][v]);
        }
}

using MicroKernel = void (*)(const float*, int64_t, int64_t, const Taps&, int64_t, const float*, float*, int64_t,
                             int);

// Register budget: R·V accumulators + V weight vectors + 1 broadcast ≤ the vector registers (float_vector.h).
constexpr int kMaxR[5] = {0, register_rows(1, 24), register_rows(2, 12), register_rows(3, 8),
                          register_rows(4, 6)};  // by V = 1, 2, 3, 4

template <int V, int STEP, int... Rs>
MicroKernel pick(int R, std::integer_sequence<int, Rs...>) {
    static constexpr MicroKernel table[] = {micro_kernel<Rs + 1, V, STEP>...};
    return table[R - 1];
}
template <int V>
MicroKernel pick_step(int R, int64_t step) {
    using Seq = std::make_integer_sequence<int, kMaxR[V]>;
    switch (step) {  // the pixel steps of CIFAR/ImageNet ResNets: channels × stride
        case 16: return pick<V, 16>(R, Seq());
        case 32: return pick<V, 32>(R, Seq());
        case 64: return pick<V, 64>(R, Seq());
        case 128: return pick<V, 128>(R, Seq());
        default: return pick<V, 0>(R, Seq());
    }
}
MicroKernel micro_kernel_for(int R, int V, int64_t step) {
    switch (V) {
        case 1: return pick_step<1>(R, step);
        case 2: return pick_step<2>(R, step);
        case 3: return pick_step<3>(R, step);
        default: return pick_step<4>(R, step);
    }
}

// Vectors of output channels computed together: as many as fit (4, 2 or 1) for the channels per group.
int vectors_per_block(int64_t ocg) {
    static const int forced = std::getenv("TERN_CONV_V") ? std::atoi(std::getenv("TERN_CONV_V")) : 0;  // experiments
    if (forced >= 1 && forced <= 4) return forced;
    // Two vectors at most: with four, a block's packed weights (4 × 9 taps × 64 channels × 64 B = 147 KB for
    // 64 channels) stream from L2 for every pixel block; measured on ResNet-20's 64-channel layers: 2 is ~30 % faster.
    return ocg > kLanes ? 2 : 1;
}

// Splits `n` pixels into near-equal blocks of at most rmax.
void pixel_blocks(int64_t n, int rmax, std::vector<std::pair<int64_t, int>>& blocks) {
    blocks.clear();
    const int64_t count = (n + rmax - 1) / rmax;
    int64_t start = 0;
    for (int64_t b = 0; b < count; ++b) {
        const int64_t end = n * (b + 1) / count;
        blocks.push_back({start, int(end - start)});
        start = end;
    }
}

// Copies image n of x (H, W, C) into dst (H + top + bottom, W + left + right, C) with zero borders.
void pad_image(const float* x, int64_t H, int64_t W, int64_t C, int64_t top, int64_t bottom, int64_t left,
               int64_t right, float* dst) {
    const int64_t Wp = W + left + right, Hp = H + top + bottom;
    std::memset(dst, 0, sizeof(float) * size_t(top * Wp * C));
    for (int64_t h = 0; h < H; ++h) {
        float* row = dst + (top + h) * Wp * C;
        std::memset(row, 0, sizeof(float) * size_t(left * C));
        std::memcpy(row + left * C, x + h * W * C, sizeof(float) * size_t(W * C));
        std::memset(row + (left + W) * C, 0, sizeof(float) * size_t(right * C));
    }
    std::memset(dst + (top + H) * Wp * C, 0, sizeof(float) * size_t((Hp - top - H) * Wp * C));
}

// Packs w (OC, icg, KH, KW) into blocks [group][ocb][kh][kw][ic][16] (output channels innermost, zero-padded to
// a multiple of 16 per group), the layout the micro-kernel streams.
// The packs are Tensors so that they come 64-byte aligned from the caching allocator: every 16-float weight
// vector then sits in one cache line (a std::vector's 16-byte alignment made each load straddle two).
Tensor pack_forward(const ConvShape& s, const float* w) {
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups, ocb = (ocg + kLanes - 1) / kLanes;
    Tensor packed = Tensor::zeros({s.groups * ocb * s.KH * s.KW * icg * kLanes});
    float* p = packed.data();
    for (int64_t g = 0; g < s.groups; ++g)
        for (int64_t o = 0; o < ocg; ++o)
            for (int64_t c = 0; c < icg; ++c)
                for (int64_t kh = 0; kh < s.KH; ++kh)
                    for (int64_t kw = 0; kw < s.KW; ++kw)
                        p[size_t(((((g * ocb + o / kLanes) * s.KH + kh) * s.KW + kw) * icg + c) * kLanes +
                                 o % kLanes)] =
                            w[(((g * ocg + o) * icg + c) * s.KH + kh) * s.KW + kw];
    return packed;
}

// Packs wᵀ for backward-data: [group][icb][kh][kw][oc][16 input channels].
Tensor pack_transposed(const ConvShape& s, const float* w) {
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups, icb = (icg + kLanes - 1) / kLanes;
    Tensor packed = Tensor::zeros({s.groups * icb * s.KH * s.KW * ocg * kLanes});
    float* p = packed.data();
    for (int64_t g = 0; g < s.groups; ++g)
        for (int64_t o = 0; o < ocg; ++o)
            for (int64_t c = 0; c < icg; ++c)
                for (int64_t kh = 0; kh < s.KH; ++kh)
                    for (int64_t kw = 0; kw < s.KW; ++kw)
                        p[size_t(((((g * icb + c / kLanes) * s.KH + kh) * s.KW + kw) * ocg + o) * kLanes +
                                 c % kLanes)] =
                            w[(((g * ocg + o) * icg + c) * s.KH + kh) * s.KW + kw];
    return packed;
}

// The rows [r0, r1) of the flattened (N · rows_per_image) range that thread t of T owns.
void thread_rows(int64_t total, int t, int T, int64_t& r0, int64_t& r1) {
    r0 = total * t / T;
    r1 = total * (t + 1) / T;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

bool conv2d_fast_path(const ConvShape& s) {
    // Depthwise shapes go to conv2d_depthwise.cpp. Other shapes with few output channels per group would use
    // 1/16 of each vector here: the reference loops serve them (they are rare); everything else is fast.
    if (conv2d_is_depthwise(s)) return true;
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups;
    return s.KH * s.KW <= 64 && (ocg >= 8 || (s.groups == 1)) && icg >= 1;
}

// ---- forward ------------------------------------------------------------------------------------------------
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
    if (conv2d_is_depthwise(s)) return conv2d_depthwise_forward(s, x, w, bias, y);
    if (conv2d_winograd_applies(s)) return conv2d_winograd_forward(s, x, w, bias, y);
    if (!conv2d_fast_path(s)) return conv2d_forward_ref(s, x, w, bias, y);
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups, ocb = (ocg + kLanes - 1) / kLanes;
    const Tensor wp = pack_forward(s, w);
    const int64_t Hp = s.H + 2 * s.ph, Wp = s.W + 2 * s.pw;
    // Extra right/bottom padding so that the last output row/column never reads past the scratch image.
    const int64_t pad_b = std::max<int64_t>(s.ph, (s.OH - 1) * s.sh + s.KH - s.H - s.ph);
    const int64_t pad_r = std::max<int64_t>(s.pw, (s.OW - 1) * s.sw + s.KW - s.W - s.pw);
    const int64_t img = (s.ph + s.H + pad_b) * (s.pw + s.W + pad_r) * s.C;
    (void)Hp, (void)Wp;
    const int T = omp_get_max_threads();
    Tensor scratch = Tensor::empty({T, img});
    const int V = vectors_per_block(ocg);
    const int64_t w_vstride = s.KH * s.KW * icg * kLanes;
    const int64_t Wpad = s.pw + s.W + pad_r;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        float* xpad = scratch.data() + t * img;
        int64_t r0, r1;
        thread_rows(s.N * s.OH, t, nt, r0, r1);
        std::vector<std::pair<int64_t, int>> blocks;
        pixel_blocks(s.OW, kMaxR[V], blocks);
        Taps taps;
        // Image by image (a thread's rows may start or end inside an image): pad it once, then for each block of
        // output channels sweep all of the image's rows, so that block's packed weights stay in L1 across rows.
        for (int64_t row = r0; row < r1;) {
            const int64_t n = row / s.OH, oh_begin = row % s.OH;
            const int64_t oh_end = std::min(s.OH, oh_begin + (r1 - row));
            row += oh_end - oh_begin;
            pad_image(x + n * s.H * s.W * s.C, s.H, s.W, s.C, s.ph, pad_b, s.pw, pad_r, xpad);
            for (int64_t g = 0; g < s.groups; ++g)
                for (int64_t ob = 0; ob < ocb; ob += V) {
                    const int v_here = int(std::min<int64_t>(V, ocb - ob));
                    const int lanes_last = int(std::min<int64_t>(kLanes, ocg - (ob + v_here - 1) * kLanes));
                    taps.n = 0;
                    for (int64_t kh = 0; kh < s.KH; ++kh)
                        for (int64_t kw = 0; kw < s.KW; ++kw) {
                            taps.src_off[taps.n] = (kh * Wpad + kw) * s.C + g * icg;
                            taps.w[taps.n] = wp.data() + ((((g * ocb + ob) * s.KH + kh) * s.KW + kw) * icg) * kLanes;
                            ++taps.n;
                        }
                    const float* b = bias ? bias + g * ocg + ob * kLanes : nullptr;
                    for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
                        const float* src_row = xpad + oh * s.sh * Wpad * s.C;
                        float* out_row = y + ((n * s.OH + oh) * s.OW) * s.OC + g * ocg + ob * kLanes;
                        for (auto [ow0, R] : blocks) {
                            MicroKernel k = micro_kernel_for(std::min(R, kMaxR[v_here]), v_here, s.sw * s.C);
                            k(src_row + ow0 * s.sw * s.C, s.sw * s.C, icg, taps, w_vstride, b, out_row + ow0 * s.OC,
                              s.OC, lanes_last);
                        }
                    }
                }
        }
    }
}

// ---- backward-data --------------------------------------------------------------------------------------------
// ∂L/∂x[ih, iw] = Σ_{kh, kw} ∂L/∂y[(ih + ph − kh)/sh, (iw + pw − kw)/sw] · wᵀ[kh, kw]   over taps where both
// divisions are exact. Input pixels iw = q + sw·j of phase q share their column taps, and read consecutive ∂L/∂y
// pixels j + const: one micro-kernel call per (row, phase, channel block).
void conv2d_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx) {
    if (conv2d_is_depthwise(s)) return conv2d_depthwise_backward_data(s, dy, w, dx);
    if (conv2d_winograd_applies(s)) return conv2d_winograd_backward_data(s, dy, w, dx);
    if (!conv2d_fast_path(s)) return conv2d_backward_data_ref(s, dy, w, dx);
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups, icb = (icg + kLanes - 1) / kLanes;
    const Tensor wp = pack_transposed(s, w);
    // ∂L/∂y is zero-padded by enough rows/columns that every tap of every phase reads inside the scratch image.
    const int64_t pt = s.KH, pl = s.KW;
    const int64_t Hp = s.OH + 2 * pt, Wp = s.OW + 2 * pl + s.W;  // generous on the right: phases may run past OW
    const int64_t img = Hp * Wp * s.OC;
    const int T = omp_get_max_threads();
    Tensor scratch = Tensor::empty({T, img});
    const int V = vectors_per_block(icg);
    const int64_t w_vstride = s.KH * s.KW * ocg * kLanes;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        float* gpad = scratch.data() + t * img;
        int64_t r0, r1;
        thread_rows(s.N * s.H, t, nt, r0, r1);
        int64_t padded_n = -1;
        std::vector<std::pair<int64_t, int>> blocks;
        Taps taps;
        for (int64_t row = r0; row < r1; ++row) {
            const int64_t n = row / s.H, ih = row % s.H;
            if (n != padded_n) {
                pad_image(dy + n * s.OH * s.OW * s.OC, s.OH, s.OW, s.OC, pt, Hp - pt - s.OH, pl, Wp - pl - s.OW,
                          gpad);
                padded_n = n;
            }
            for (int64_t q = 0; q < s.sw && q < s.W; ++q) {
                const int64_t count = (s.W - q + s.sw - 1) / s.sw;  // input pixels iw = q, q + sw, … < W
                pixel_blocks(count, kMaxR[V], blocks);
                for (int64_t g = 0; g < s.groups; ++g)
                    for (int64_t cb = 0; cb < icb; cb += V) {
                        const int v_here = int(std::min<int64_t>(V, icb - cb));
                        const int lanes_last = int(std::min<int64_t>(kLanes, icg - (cb + v_here - 1) * kLanes));
                        taps.n = 0;
                        for (int64_t kh = 0; kh < s.KH; ++kh) {
                            const int64_t num_h = ih + s.ph - kh;
                            if (num_h % s.sh != 0) continue;  // (also for negative num_h: −2 % 2 == 0)
                            const int64_t oh = floor_div(num_h, s.sh);
                            if (oh < 0 || oh >= s.OH) continue;
                            for (int64_t kw = 0; kw < s.KW; ++kw) {
                                const int64_t num_w = q + s.pw - kw;
                                if (((num_w % s.sw) + s.sw) % s.sw != 0) continue;
                                const int64_t ow0 = floor_div(num_w, s.sw);  // ∂L/∂y column for j = 0
                                taps.src_off[taps.n] = ((oh + pt) * Wp + ow0 + pl) * s.OC + g * ocg;
                                taps.w[taps.n] =
                                    wp.data() + ((((g * icb + cb) * s.KH + kh) * s.KW + kw) * ocg) * kLanes;
                                ++taps.n;
                            }
                        }
                        float* out_row = dx + ((n * s.H + ih) * s.W + q) * s.C + g * icg + cb * kLanes;
                        for (auto [j0, R] : blocks) {
                            float* out = out_row + j0 * s.sw * s.C;
                            if (taps.n == 0) {  // no tap reaches these pixels (stride > kernel): zero gradient
                                const int64_t channels = (v_here - 1) * kLanes + lanes_last;
                                for (int r = 0; r < R; ++r)
                                    std::memset(out + r * s.sw * s.C, 0, sizeof(float) * size_t(channels));
                                continue;
                            }
                            MicroKernel k = micro_kernel_for(std::min(R, kMaxR[v_here]), v_here, s.OC);
                            k(gpad + j0 * s.OC, s.OC, ocg, taps, w_vstride, nullptr, out, s.sw * s.C, lanes_last);
                        }
                    }
            }
        }
    }
}

// ---- backward-weight ---------------------------------------------------------------------------------------
// ∂L/∂w[oc, c, kh, kw] = Σ_pixels ∂L/∂y[pixel, oc] · xpad[pixel·stride + (kh, kw), c]
// Accumulators: a block of CB input channels × V vectors of 16 output channels, kept in registers over every
// pixel of an image; the result is added into the thread's packed buffer [group][tap][c][ocb·16].
template <int CB, int V, bool Partial>
void weight_kernel(const float* xpad, int64_t x_row_step, int64_t x_pix_step, const float* dy, int64_t dy_pix_step,
                   int64_t OH, int64_t OW, int lanes_last, float* dw, int64_t dw_c_step) {
    Vec acc[CB][V] = {};
    for (int64_t oh = 0; oh < OH; ++oh) {
        const float* xr = xpad + oh * x_row_step;
        const float* gr = dy + oh * OW * dy_pix_step;
        for (int64_t ow = 0; ow < OW; ++ow) {
            Vec g[V];
            // With Partial, the last vector has only lanes_last output channels: a full load would read the next
            // pixel's values, and past the end of ∂L/∂y at the last pixel (found by make asan).
            for (int v = 0; v < V; ++v) {
                const float* p = gr + ow * dy_pix_step + v * kLanes;
                g[v] = Partial && v == V - 1 ? load_partial(p, lanes_last) : load_vec(p);
            }
            const float* xp = xr + ow * x_pix_step;
            for (int c = 0; c < CB; ++c) {
                const float xv = xp[c];
                for (int v = 0; v < V; ++v) acc[c][v] += xv * g[v];
            }
        }
    }
    for (int c = 0; c < CB; ++c)
        for (int v = 0; v < V; ++v) {
            float* d = dw + c * dw_c_step + v * kLanes;
            store_vec(d, load_vec(d) + acc[c][v]);
        }
}

using WeightKernel = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, int, float*,
                              int64_t);
constexpr int kMaxCB[5] = {0, register_rows(1, 16), register_rows(2, 12), register_rows(3, 8),
                           register_rows(4, 6)};  // input channels per register block, by V

template <int V, bool Partial, int... Cs>
WeightKernel pick_weight(int cb, std::integer_sequence<int, Cs...>) {
    WeightKernel table[] = {weight_kernel<Cs + 1, V, Partial>...};
    return table[cb - 1];
}
template <int V>
WeightKernel weight_kernel_for_v(int cb, bool partial) {
    return partial ? pick_weight<V, true>(cb, std::make_integer_sequence<int, kMaxCB[V]>())
                   : pick_weight<V, false>(cb, std::make_integer_sequence<int, kMaxCB[V]>());
}
WeightKernel weight_kernel_for(int cb, int V, bool partial) {
    switch (V) {
        case 1: return weight_kernel_for_v<1>(cb, partial);
        case 2: return weight_kernel_for_v<2>(cb, partial);
        case 3: return weight_kernel_for_v<3>(cb, partial);
        default: return weight_kernel_for_v<4>(cb, partial);
    }
}

void conv2d_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw) {
    if (conv2d_is_depthwise(s)) return conv2d_depthwise_backward_weight(s, x, dy, dw);
    if (conv2d_winograd_applies(s)) return conv2d_winograd_backward_weight(s, x, dy, dw);
    if (!conv2d_fast_path(s)) return conv2d_backward_weight_ref(s, x, dy, dw);
    const int64_t icg = s.C / s.groups, ocg = s.OC / s.groups, ocb = (ocg + kLanes - 1) / kLanes;
    const int V = vectors_per_block(ocg);
    // Blocks of input channels: near-equal, at most kMaxCB[V] (e.g. 64 channels with V = 4 → 6 blocks of 10–11? no:
    // at most 6 → 11 blocks, sizes 5–6), so no block is a tiny remainder.
    const int64_t n_cblocks = (icg + kMaxCB[V] - 1) / kMaxCB[V];
    const int64_t pad_b = std::max<int64_t>(s.ph, (s.OH - 1) * s.sh + s.KH - s.H - s.ph);
    const int64_t pad_r = std::max<int64_t>(s.pw, (s.OW - 1) * s.sw + s.KW - s.W - s.pw);
    const int64_t Wpad = s.pw + s.W + pad_r;
    const int64_t img = (s.ph + s.H + pad_b) * Wpad * s.C;
    const int64_t packed = s.groups * s.KH * s.KW * icg * ocb * kLanes;  // [g][tap][c][ocb·16]
    const int T = omp_get_max_threads();
    Tensor scratch = Tensor::empty({T, img + packed});
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        float* xpad = scratch.data() + t * (img + packed);
        float* acc = xpad + img;
        std::memset(acc, 0, sizeof(float) * size_t(packed));
        // Threads split images when there are enough of them, else output rows of each image.
        int64_t r0, r1;
        thread_rows(s.N * s.OH, t, nt, r0, r1);
        for (int64_t row = r0; row < r1;) {
            const int64_t n = row / s.OH, oh0 = row % s.OH;
            const int64_t oh1 = std::min(s.OH, oh0 + (r1 - row));
            pad_image(x + n * s.H * s.W * s.C, s.H, s.W, s.C, s.ph, pad_b, s.pw, pad_r, xpad);
            for (int64_t g = 0; g < s.groups; ++g)
                for (int64_t kh = 0; kh < s.KH; ++kh)
                    for (int64_t kw = 0; kw < s.KW; ++kw)
                        for (int64_t cbi = 0; cbi < n_cblocks; ++cbi)
                            for (int64_t ob = 0; ob < ocb; ob += V) {
                                const int64_t c0 = icg * cbi / n_cblocks, c1 = icg * (cbi + 1) / n_cblocks;
                                const int v_here = int(std::min<int64_t>(V, ocb - ob));
                                const int lanes_last = int(std::min<int64_t>(kLanes, ocg - (ob + v_here - 1) * kLanes));
                                const int cb_here = int(c1 - c0);
                                const float* xs = xpad + ((oh0 * s.sh + kh) * Wpad + kw) * s.C + g * icg + c0;
                                const float* gs = dy + ((n * s.OH + oh0) * s.OW) * s.OC + g * ocg + ob * kLanes;
                                float* d =
                                    acc + (((g * s.KH + kh) * s.KW + kw) * icg + c0) * ocb * kLanes + ob * kLanes;
                                const WeightKernel k = weight_kernel_for(cb_here, v_here, lanes_last < kLanes);
                                k(xs, s.sh * Wpad * s.C, s.sw * s.C, gs, s.OC, oh1 - oh0, s.OW, lanes_last, d,
                                  ocb * kLanes);
                            }
            row += oh1 - oh0;
        }
    }
    // Sum the threads' buffers and unpack [g][kh][kw][c][o] → (OC, icg, KH, KW).
    std::vector<float> total(size_t(packed), 0.f);
    for (int t = 0; t < T; ++t) {
        const float* a = scratch.data() + t * (img + packed) + img;
        for (int64_t i = 0; i < packed; ++i) total[size_t(i)] += a[i];
    }
    for (int64_t g = 0; g < s.groups; ++g)
        for (int64_t o = 0; o < ocg; ++o)
            for (int64_t c = 0; c < icg; ++c)
                for (int64_t kh = 0; kh < s.KH; ++kh)
                    for (int64_t kw = 0; kw < s.KW; ++kw)
                        dw[(((g * ocg + o) * icg + c) * s.KH + kh) * s.KW + kw] =
                            total[size_t((((g * s.KH + kh) * s.KW + kw) * icg + c) * ocb * kLanes + o)];
}

}  // namespace tern::kernels
