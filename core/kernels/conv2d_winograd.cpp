// core/kernels/conv2d_winograd.cpp — Winograd F(2×2, 3×3) convolution for 3×3, stride-1, padding-1 layers
// (forward, backward-data, backward-weight), NHWC, channel counts that are multiples of 16.
//
// A direct 3×3 convolution spends 9 multiply-adds per output pixel, input channel and output channel. Winograd's
// minimal filtering algorithm (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016) computes
// a 2×2 block of outputs ("tile") from the 4×4 input patch under it with 16 multiply-adds instead of 36:
//
//     Y (2×2) = Aᵀ [ U ⊙ V ] A          U = G g Gᵀ   (4×4, from the 3×3 filter g: once per call)
//                                        V = Bᵀ d B   (4×4, from the 4×4 input patch d: adds and subtracts only)
//
//     Bᵀ = | 1  0 −1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |         | ½    ½    ½  |          | 0  1 −1 −1 |
//          | 0 −1  1  0 |         | ½   −½    ½  |
//          | 0  1  0 −1 |         | 0    0    1  |
//
// Summed over input channels c, the 16 products U ⊙ V become 16 independent matrix products, one per position
// ξ of the 4×4 transform:   M[ξ][tile][k] = Σ_c V[ξ][tile][c] · U[ξ][c][k]   — 2.25× fewer multiply-adds than the
// direct kernel; the transforms add a few adds per element. (Like every CNN "convolution", this is a correlation:
// the formula above, read with d = the patch at the tile's top-left minus the padding, gives y = Σ x·w.)
//
// The three passes share the transforms:
// - forward:         V from x, M = V·U per ξ, y from M by the output transform (+ bias).
// - backward-data:   a stride-1 padding-1 3×3 convolution too: ∂L/∂x = ∂L/∂y ⋆ (w rotated 180°, channels swapped),
//                    so it is the forward pass on ∂L/∂y with that filter.
// - backward-weight: the forward pass's adjoint. ∂L/∂M = A ∂L/∂Y Aᵀ per tile (4×4 from 2×2), ∂L/∂U[ξ][c][k] =
//                    Σ_tiles V[ξ][tile][c] · ∂L/∂M[ξ][tile][k], then ∂L/∂g = Gᵀ ∂L/∂U G.
//
// Work is cut into blocks of up to kTiles tiles (consecutive in (image, tile row, tile column) order, so a block
// may span rows and images): transform the block's patches into V[16][tiles][C] (per thread, in L1/L2), run the
// 16 products with the output channels in the vector lanes (the register blocking of conv2d_fast.cpp: R tiles ×
// V vectors of accumulators; each broadcast input value feeds V multiply-adds), transform back.
// Tiles past the image's last row or column (odd sizes) read zeros and write nothing.
// conv2d_ref.cpp stays the definition; tests/test_conv2d.cpp checks these kernels against it on odd shapes.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "core/kernels/conv2d.h"
#include "core/tensor.h"

namespace tern::kernels {

namespace {

typedef float Vec16 __attribute__((vector_size(64), aligned(4)));
constexpr int kLanes = 16;
constexpr int kTiles = 24;         // tiles per block, forward and backward-data
constexpr int kTilesWeight = 48;   // tiles per block, backward-weight (amortizes the ∂L/∂U accumulator traffic)

// The filter transform G of the header (Bᵀ and Aᵀ are written out as adds in the transforms below).
constexpr float G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};

inline Vec16 load16(const float* p) { return *reinterpret_cast<const Vec16*>(p); }
inline void store16(float* p, Vec16 v) { *reinterpret_cast<Vec16*>(p) = v; }

// The tiles of the flattened (N, TH, TW) grid: image and top-left output pixel of tiles first … first + count − 1,
// listed once per block (two divisions for the block, not per tile and phase).
struct Tile {
    int64_t n, oh, ow;
};
struct TileGrid {
    int64_t TH, TW;
    void list(int64_t first, int64_t count, Tile* out) const {
        int64_t n = first / (TH * TW), ty = first % (TH * TW) / TW, tx = first % TW;
        for (int64_t i = 0; i < count; ++i) {
            out[i] = {n, 2 * ty, 2 * tx};
            if (++tx == TW) {
                tx = 0;
                if (++ty == TH) ty = 0, ++n;
            }
        }
    }
};

// ---- transforms (16 channels at a time, in the vector lanes) ------------------------------------------------

// V = Bᵀ d B for the 4×4 patch of x (H, W, C) whose top-left is (h0, w0) (may be −1; outside reads as zero),
// for channels c0 … c0 + 15. Writes V[ξ] to v + ξ·v_step. Interior patches (no bounds tests) get their own
// instantiation: with one shared body the compiler kept the 16 loaded vectors on the stack.
template <bool Interior>
inline __attribute__((always_inline)) void input_transform_patch(const float* x, int64_t H, int64_t W, int64_t C,
                                                                 int64_t h0, int64_t w0, int64_t c0, float* v,
                                                                 int64_t v_step) {
    const float* p = x + (h0 * W + w0) * C + c0;
    Vec16 t[4][4];  // Bᵀ d, one column j of d at a time
    for (int j = 0; j < 4; ++j) {
        Vec16 d[4];
        for (int i = 0; i < 4; ++i) {
            const int64_t h = h0 + i, w = w0 + j;
            d[i] = Interior || (h >= 0 && h < H && w >= 0 && w < W) ? load16(p + (i * W + j) * C) : Vec16{};
        }
        t[0][j] = d[0] - d[2];
        t[1][j] = d[1] + d[2];
        t[2][j] = d[2] - d[1];
        t[3][j] = d[1] - d[3];
    }
    for (int i = 0; i < 4; ++i) {  // (Bᵀ d) B
        store16(v + (i * 4 + 0) * v_step, t[i][0] - t[i][2]);
        store16(v + (i * 4 + 1) * v_step, t[i][1] + t[i][2]);
        store16(v + (i * 4 + 2) * v_step, t[i][2] - t[i][1]);
        store16(v + (i * 4 + 3) * v_step, t[i][1] - t[i][3]);
    }
}
// V = Bᵀ d B for any patch: picks the instantiation without bounds tests when the patch lies inside the image.
void input_transform(const float* x, int64_t H, int64_t W, int64_t C, int64_t h0, int64_t w0, int64_t c0,
                     float* v, int64_t v_step) {
    if (h0 >= 0 && w0 >= 0 && h0 + 4 <= H && w0 + 4 <= W)
        input_transform_patch<true>(x, H, W, C, h0, w0, c0, v, v_step);
    else
        input_transform_patch<false>(x, H, W, C, h0, w0, c0, v, v_step);
}

// Y = Aᵀ M A (2×2) for output channels k0 … k0 + 15 of the tile at (oh, ow) of y (OH, OW, K), plus bias;
// outputs past OH or OW are dropped. M[ξ] (those 16 channels) is read from m + ξ·m_step.
void output_transform(const float* m, int64_t m_step, const float* bias, float* y, int64_t OH, int64_t OW,
                      int64_t K, int64_t oh, int64_t ow, int64_t k0) {
    Vec16 t[2][4];  // Aᵀ M
    for (int j = 0; j < 4; ++j) {
        const Vec16 m0 = load16(m + (0 * 4 + j) * m_step), m1 = load16(m + (1 * 4 + j) * m_step);
        const Vec16 m2 = load16(m + (2 * 4 + j) * m_step), m3 = load16(m + (3 * 4 + j) * m_step);
        t[0][j] = m0 + m1 + m2;
        t[1][j] = m1 - m2 - m3;
    }
    const Vec16 b = bias ? load16(bias + k0) : Vec16{};
    for (int i = 0; i < 2 && oh + i < OH; ++i) {
        float* row = y + ((oh + i) * OW + ow) * K + k0;
        store16(row, t[i][0] + t[i][1] + t[i][2] + b);
        if (ow + 1 < OW) store16(row + K, t[i][1] - t[i][2] - t[i][3] + b);
    }
}

// ∂L/∂M = A ∂L/∂Y Aᵀ: the adjoint of output_transform, for output channels k0 … k0 + 15 of the tile at (oh, ow)
// of dy (OH, OW, K); gradients of outputs past OH or OW are zero (the forward pass dropped them).
void output_adjoint(const float* dy, int64_t OH, int64_t OW, int64_t K, int64_t oh, int64_t ow, int64_t k0, float* m,
                    int64_t m_step) {
    Vec16 g[2][2];
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
            g[i][j] = oh + i < OH && ow + j < OW ? load16(dy + ((oh + i) * OW + ow + j) * K + k0) : Vec16{};
    // A = Aᵀᵀ: rows (1, 0), (1, 1), (1, −1), (0, −1).
    Vec16 t[4][2];  // A ∂L/∂Y
    for (int j = 0; j < 2; ++j) {
        t[0][j] = g[0][j];
        t[1][j] = g[0][j] + g[1][j];
        t[2][j] = g[0][j] - g[1][j];
        t[3][j] = -g[1][j];
    }
    for (int i = 0; i < 4; ++i) {  // (A ∂L/∂Y) Aᵀ
        store16(m + (i * 4 + 0) * m_step, t[i][0]);
        store16(m + (i * 4 + 1) * m_step, t[i][0] + t[i][1]);
        store16(m + (i * 4 + 2) * m_step, t[i][0] - t[i][1]);
        store16(m + (i * 4 + 3) * m_step, -t[i][1]);
    }
}

// U = G g Gᵀ for every (k, c), packed [ξ][k / 16][c][16] — output channels in the lanes, as the products read them.
Tensor transform_filters(const float* w, int64_t K, int64_t C) {
    Tensor packed = Tensor::empty({16 * K * C});
    float* p = packed.data();
    for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c) {
            const float* g = w + (k * C + c) * 9;
            float t[4][3];  // G g
            for (int i = 0; i < 4; ++i)
                for (int b = 0; b < 3; ++b)
                    t[i][b] = G[i][0] * g[0 * 3 + b] + G[i][1] * g[1 * 3 + b] + G[i][2] * g[2 * 3 + b];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j)
                    p[(((i * 4 + j) * (K / kLanes) + k / kLanes) * C + c) * kLanes + k % kLanes] =
                        t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
        }
    return packed;
}

// ---- the products ---------------------------------------------------------------------------------------------
// out[r·out_step + v·16 + lane] = Σ_{c < C} src[r·C + c] · u[v·C·16 + c·16 + lane]   for r < R, v < V.
// STEP is C when known at compile time (0: the runtime value): then tile r's inputs are one base register plus an
// immediate displacement, instead of R pointers that spill (as in conv2d_fast.cpp's micro-kernel).
template <int R, int V, int STEP>
void product_kernel(const float* src, int64_t C_runtime, const float* u, float* out, int64_t out_step) {
    const int64_t C = STEP ? STEP : C_runtime;
    // The unroll pragmas keep the R·V accumulators in registers: left to itself, GCC unrolled the (constant) c
    // loop instead and kept the accumulators on the stack, loading and storing one per multiply-add (3× slower).
    Vec16 acc[R][V];
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[r][v] = Vec16{};
#pragma GCC unroll 1
    for (int64_t c = 0; c < C; ++c) {
        Vec16 uv[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) uv[v] = load16(u + (v * C + c) * kLanes);
#pragma GCC unroll 32
        for (int r = 0; r < R; ++r) {
            const float s = src[r * C + c];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) acc[r][v] += s * uv[v];
        }
    }
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) store16(out + r * out_step + v * kLanes, acc[r][v]);
}
using ProductKernel = void (*)(const float*, int64_t, const float*, float*, int64_t);
constexpr int kMaxR[3] = {0, 24, 12};  // accumulators R·V + V weight vectors ≤ 32 registers

template <int V, int STEP, int... Rs>
ProductKernel pick_product(int R, std::integer_sequence<int, Rs...>) {
    static constexpr ProductKernel table[] = {product_kernel<Rs + 1, V, STEP>...};
    return table[R - 1];
}
template <int V>
ProductKernel pick_product_step(int R, int64_t C) {
    using Seq = std::make_integer_sequence<int, kMaxR[V]>;
    switch (C) {  // the channel counts of CIFAR/ImageNet ResNets
        case 16: return pick_product<V, 16>(R, Seq());
        case 32: return pick_product<V, 32>(R, Seq());
        case 64: return pick_product<V, 64>(R, Seq());
        default: return pick_product<V, 0>(R, Seq());
    }
}
ProductKernel product_kernel_for(int R, int V, int64_t C) {
    return V == 1 ? pick_product_step<1>(R, C) : pick_product_step<2>(R, C);
}

// dU[c·du_step + v·16 + lane] += Σ_{t < T} v_in[t·C + c] · dm[t·K + v·16 + lane]   for c < CB, v < V.
template <int CB, int V>
void weight_product_kernel(const float* v_in, int64_t C, const float* dm, int64_t K, int64_t T, float* du,
                           int64_t du_step) {
    Vec16 acc[CB][V];  // (unrolled as in product_kernel)
#pragma GCC unroll 16
    for (int c = 0; c < CB; ++c)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[c][v] = Vec16{};
#pragma GCC unroll 1
    for (int64_t t = 0; t < T; ++t) {
        Vec16 g[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) g[v] = load16(dm + t * K + v * kLanes);
#pragma GCC unroll 16
        for (int c = 0; c < CB; ++c) {
            const float s = v_in[t * C + c];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) acc[c][v] += s * g[v];
        }
    }
#pragma GCC unroll 16
    for (int c = 0; c < CB; ++c)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            float* d = du + c * du_step + v * kLanes;
            store16(d, load16(d) + acc[c][v]);
        }
}
using WeightProductKernel = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);
constexpr int kMaxCB[3] = {0, 16, 12};

template <int V, int... Cs>
WeightProductKernel pick_weight_product(int cb, std::integer_sequence<int, Cs...>) {
    static constexpr WeightProductKernel table[] = {weight_product_kernel<Cs + 1, V>...};
    return table[cb - 1];
}
WeightProductKernel weight_product_kernel_for(int cb, int V) {
    return V == 1 ? pick_weight_product<1>(cb, std::make_integer_sequence<int, kMaxCB[1]>())
                  : pick_weight_product<2>(cb, std::make_integer_sequence<int, kMaxCB[2]>());
}

// The blocks [b0, b1) of `count` blocks that thread t of T owns.
void thread_range(int64_t count, int t, int T, int64_t& b0, int64_t& b1) {
    b0 = count * t / T;
    b1 = count * (t + 1) / T;
}

// Forward on raw arrays: y (N, H, W, K) = x (N, H, W, C) ⋆ filters (+ bias), U = transform_filters(…).
void winograd_forward(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, const float* x, const float* U,
                      const float* bias, float* y) {
    const TileGrid grid{(H + 1) / 2, (W + 1) / 2};
    const int64_t tiles = N * grid.TH * grid.TW, blocks = (tiles + kTiles - 1) / kTiles;
    const int64_t kb = K / kLanes;
    const int V = kb % 2 == 0 ? 2 : 1;
    const int T = omp_get_max_threads();
    const int64_t per_thread = 16 * kTiles * (C + K);
    Tensor scratch = Tensor::empty({T * per_thread});
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        float* vbuf = scratch.data() + t * per_thread;  // V[ξ][tile][C]
        float* mbuf = vbuf + 16 * kTiles * C;             // M[ξ][tile][K]
        int64_t b0, b1;
        thread_range(blocks, t, omp_get_num_threads(), b0, b1);
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t first = b * kTiles, count = std::min<int64_t>(kTiles, tiles - first);
            Tile tile[kTiles];
            grid.list(first, count, tile);
            for (int64_t i = 0; i < count; ++i)
                for (int64_t c0 = 0; c0 < C; c0 += kLanes)
                    input_transform(x + tile[i].n * H * W * C, H, W, C, tile[i].oh - 1, tile[i].ow - 1, c0,
                                    vbuf + i * C + c0, kTiles * C);
            for (int64_t k0 = 0; k0 < kb; k0 += V)
                for (int xi = 0; xi < 16; ++xi) {
                    const float* u = U + (xi * kb + k0) * C * kLanes;
                    for (int64_t r0 = 0; r0 < count; r0 += kMaxR[V]) {
                        const int R = int(std::min<int64_t>(kMaxR[V], count - r0));
                        product_kernel_for(R, V, C)(vbuf + (xi * kTiles + r0) * C, C, u,
                                                 mbuf + (xi * kTiles + r0) * K + k0 * kLanes, K);
                    }
                }
            for (int64_t i = 0; i < count; ++i)
                for (int64_t k0 = 0; k0 < K; k0 += kLanes)
                    output_transform(mbuf + i * K + k0, kTiles * K, bias, y + tile[i].n * H * W * K, H, W, K,
                                     tile[i].oh, tile[i].ow, k0);
        }
    }
}

}  // namespace

namespace {
bool winograd_from_environment() {
    const char* v = std::getenv("TERN_CONV_WINOGRAD");
    return !(v && std::atoi(v) == 0);
}
std::atomic<bool> winograd_on{winograd_from_environment()};
}  // namespace
void set_conv2d_winograd(bool on) { winograd_on = on; }

bool conv2d_winograd_supports(const ConvShape& s) {
    return s.groups == 1 && s.KH == 3 && s.KW == 3 && s.sh == 1 && s.sw == 1 && s.ph == 1 && s.pw == 1 &&
           s.C % kLanes == 0 && s.OC % kLanes == 0;
}

bool conv2d_winograd_applies(const ConvShape& s) {
    // Measured with bench_conv (2 threads, batch 128, the two timed alternately, GFLOP/s counted as direct FLOPs;
    // Winograd vs direct): 16 → 16 channels at 32×32: forward 191–212 vs 148–207, backward-data 191–208 vs
    // 136–174, backward-weight 183–192 vs 143–185; 32 → 32 at 16×16: 306–334 vs 161–222 in all three; 64 → 64 at
    // 8×8: 244–369 vs 130–229. Two limits: the transformed filters U (16·C·OC floats, 1.8× the weights) are rebuilt
    // on every call and re-read for every block of tiles, so they must fit in L2 (C·OC ≤ 128·128: 1 MB) — ResNet-18's
    // 512-channel layers at batch 1 ran 1.6× slower — and there must be enough tiles to pay for building them.
    const int64_t tiles = s.N * ((s.OH + 1) / 2) * ((s.OW + 1) / 2);
    return winograd_on && conv2d_winograd_supports(s) && s.C * s.OC <= 128 * 128 && tiles >= 4 * kTiles;
}

void conv2d_winograd_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
    const Tensor U = transform_filters(w, s.OC, s.C);
    winograd_forward(s.N, s.H, s.W, s.C, s.OC, x, U.data(), bias, y);
}

void conv2d_winograd_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx) {
    // ∂L/∂x[c] = Σ_k ∂L/∂y[k] ⋆ w[k, c] rotated by 180°: a forward pass from OC to C channels.
    Tensor flipped_t = Tensor::empty({s.C * s.OC * 9});  // from the caching allocator: no page faults per step
    float* flipped = flipped_t.data();
    for (int64_t k = 0; k < s.OC; ++k)
        for (int64_t c = 0; c < s.C; ++c)
            for (int64_t i = 0; i < 9; ++i) flipped[(c * s.OC + k) * 9 + i] = w[(k * s.C + c) * 9 + (8 - i)];
    const Tensor U = transform_filters(flipped, s.C, s.OC);
    winograd_forward(s.N, s.OH, s.OW, s.OC, s.C, dy, U.data(), nullptr, dx);
}

void conv2d_winograd_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw) {
    const int64_t C = s.C, K = s.OC, H = s.H, W = s.W;
    const TileGrid grid{(H + 1) / 2, (W + 1) / 2};
    const int64_t tiles = s.N * grid.TH * grid.TW, blocks = (tiles + kTilesWeight - 1) / kTilesWeight;
    const int64_t kb = K / kLanes;
    const int V = kb % 2 == 0 ? 2 : 1;
    const int64_t n_cblocks = (C + kMaxCB[V] - 1) / kMaxCB[V];
    const int T = omp_get_max_threads();
    const int64_t du_size = 16 * C * K;  // ∂L/∂U[ξ][c][k]
    const int64_t per_thread = du_size + 16 * kTilesWeight * (C + K);
    Tensor scratch = Tensor::empty({T * per_thread});
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        float* du = scratch.data() + t * per_thread;
        float* vbuf = du + du_size;                      // V[ξ][tile][C]
        float* mbuf = vbuf + 16 * kTilesWeight * C;      // ∂L/∂M[ξ][tile][K]
        std::memset(du, 0, sizeof(float) * size_t(du_size));
        int64_t b0, b1;
        thread_range(blocks, t, omp_get_num_threads(), b0, b1);
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t first = b * kTilesWeight, count = std::min<int64_t>(kTilesWeight, tiles - first);
            Tile tile[kTilesWeight];
            grid.list(first, count, tile);
            for (int64_t i = 0; i < count; ++i) {
                const Tile& q = tile[i];
                for (int64_t c0 = 0; c0 < C; c0 += kLanes)
                    input_transform(x + q.n * H * W * C, H, W, C, q.oh - 1, q.ow - 1, c0, vbuf + i * C + c0,
                                    kTilesWeight * C);
                for (int64_t k0 = 0; k0 < K; k0 += kLanes)
                    output_adjoint(dy + q.n * H * W * K, H, W, K, q.oh, q.ow, k0, mbuf + i * K + k0,
                                   kTilesWeight * K);
            }
            for (int xi = 0; xi < 16; ++xi)
                for (int64_t cbi = 0; cbi < n_cblocks; ++cbi) {
                    const int64_t c0 = C * cbi / n_cblocks, c1 = C * (cbi + 1) / n_cblocks;
                    for (int64_t k0 = 0; k0 < kb; k0 += V)
                        weight_product_kernel_for(int(c1 - c0), V)(vbuf + xi * kTilesWeight * C + c0, C,
                                                                   mbuf + xi * kTilesWeight * K + k0 * kLanes, K,
                                                                   count, du + (xi * C + c0) * K + k0 * kLanes, K);
                }
        }
    }
    // Sum the threads' ∂L/∂U, then ∂L/∂g = Gᵀ ∂L/∂U G for every (k, c).
    float* total = scratch.data();
    for (int t = 1; t < T; ++t) {
        const float* a = scratch.data() + t * per_thread;
        for (int64_t i = 0; i < du_size; ++i) total[i] += a[i];
    }
    for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c) {
            float t[4][3];  // ∂L/∂U G
            for (int i = 0; i < 4; ++i)
                for (int b = 0; b < 3; ++b) {
                    float sum = 0;
                    for (int j = 0; j < 4; ++j) sum += total[((i * 4 + j) * C + c) * K + k] * G[j][b];
                    t[i][b] = sum;
                }
            for (int a = 0; a < 3; ++a)
                for (int b = 0; b < 3; ++b)
                    dw[((k * C + c) * 3 + a) * 3 + b] = G[0][a] * t[0][b] + G[1][a] * t[1][b] + G[2][a] * t[2][b] +
                                                        G[3][a] * t[3][b];
        }
}

}  // namespace tern::kernels
