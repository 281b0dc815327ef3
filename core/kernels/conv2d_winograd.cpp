// core/kernels/conv2d_winograd.cpp — Winograd F(2×2, 3×3) and F(4×4, 3×3) convolution for 3×3, stride-1,
// padding-1 layers (forward, backward-data, backward-weight), NHWC, channel counts that are multiples of kLanes
// (16 with AVX-512, 8 with AVX2: float_vector.h; "16 channels" below means one vector of kLanes).
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
// F(4×4, 3×3) is the same algorithm with 4×4 output tiles from 6×6 patches: 36 products per 16 outputs (4× fewer
// than direct), and per output about the same transform work as F(2×2) — so where the products dominate (wide
// layers) it is the faster one. Its matrices (Lavin & Gray) have larger coefficients, so it rounds a little
// worse:
//
//     Bᵀ = | 4  0 −5  0  1  0 |    G = |  1/4     0     0  |    Aᵀ = | 1  1  1  1  1  0 |
//          | 0 −4 −4  1  1  0 |        | −1/6  −1/6  −1/6  |         | 0  1 −1  2 −2  0 |
//          | 0  4 −4 −1  1  0 |        | −1/6   1/6  −1/6  |         | 0  1  1  4  4  0 |
//          | 0 −2 −1  2  1  0 |        | 1/24  1/12   1/6  |         | 0  1 −1  8 −8  1 |
//          | 0  2 −1 −2  1  0 |        | 1/24 −1/12   1/6  |
//          | 0  4  0 −5  0  1 |        |    0     0     1  |
//
// Below, a tile algorithm is a struct (F2, F4) with its sizes, G, and the one-dimensional transforms written
// out as adds (Bᵀ·d, Aᵀ·m and the adjoint A·g); the two-dimensional ones apply them to columns, then rows.
//
// The three passes share the transforms:
// - forward:         V from x, M = V·U per ξ, y from M by the output transform (+ bias).
// - backward-data:   a stride-1 padding-1 3×3 convolution too: ∂L/∂x = ∂L/∂y ⋆ (w rotated 180°, channels swapped),
//                    so it is the forward pass on ∂L/∂y with that filter.
// - backward-weight: the forward pass's adjoint. ∂L/∂M = A ∂L/∂Y Aᵀ per tile (α×α from m×m), ∂L/∂U[ξ][c][k] =
//                    Σ_tiles V[ξ][tile][c] · ∂L/∂M[ξ][tile][k], then ∂L/∂g = Gᵀ ∂L/∂U G.
//
// Work is cut into blocks of up to kTiles tiles (consecutive in (image, tile row, tile column) order, so a block
// may span rows and images): transform the block's patches into V[α²][tiles][C] (per thread, in L1/L2), run the
// α² products with the output channels in the vector lanes (the register blocking of conv2d_fast.cpp: R tiles ×
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
#include "core/kernels/float_vector.h"
#include "core/tensor.h"

namespace tern::kernels {

namespace {

constexpr int kTiles = 24;         // tiles per block, forward and backward-data
constexpr int kTilesWeight = 48;   // tiles per block, backward-weight (amortizes the ∂L/∂U accumulator traffic)



// The tiles of the flattened (N, TH, TW) grid: image and top-left output pixel of tiles first … first + count − 1,
// listed once per block (two divisions for the block, not per tile and phase).
struct Tile {
    int64_t n, oh, ow;
};
struct TileGrid {
    int64_t TH, TW, m;  // tiles per column and per row, tile side
    void list(int64_t first, int64_t count, Tile* out) const {
        int64_t n = first / (TH * TW), ty = first % (TH * TW) / TW, tx = first % TW;
        for (int64_t i = 0; i < count; ++i) {
            out[i] = {n, m * ty, m * tx};
            if (++tx == TW) {
                tx = 0;
                if (++ty == TH) ty = 0, ++n;
            }
        }
    }
};

// ---- tile algorithms: sizes, G, and the one-dimensional transforms --------------------------------------------

// F(2×2, 3×3): 2×2 outputs from a 4×4 patch.
struct F2 {
    static constexpr int m = 2, alpha = 4;  // output tile side, patch (and transform) side
    static constexpr float G[alpha][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    static void input(const Vec* d, Vec* t) {  // t = Bᵀ d
        t[0] = d[0] - d[2];
        t[1] = d[1] + d[2];
        t[2] = d[2] - d[1];
        t[3] = d[1] - d[3];
    }
    static void output(const Vec* u, Vec* y) {  // y = Aᵀ u
        y[0] = u[0] + u[1] + u[2];
        y[1] = u[1] - u[2] - u[3];
    }
    static void adjoint(const Vec* g, Vec* u) {  // u = A g, the transpose of output()
        u[0] = g[0];
        u[1] = g[0] + g[1];
        u[2] = g[0] - g[1];
        u[3] = -g[1];
    }
};

// F(4×4, 3×3): 4×4 outputs from a 6×6 patch (the matrices of the header).
struct F4 {
    static constexpr int m = 4, alpha = 6;
    static constexpr float G[alpha][3] = {{1.f / 4, 0, 0},          {-1.f / 6, -1.f / 6, -1.f / 6},
                                          {-1.f / 6, 1.f / 6, -1.f / 6}, {1.f / 24, 1.f / 12, 1.f / 6},
                                          {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
    static void input(const Vec* d, Vec* t) {
        const Vec a = d[4] - 4 * d[2], b = d[3] - 4 * d[1];  // shared by rows 1–2
        const Vec c = d[4] - d[2], e = 2 * (d[3] - d[1]);    // shared by rows 3–4
        t[0] = 4 * d[0] - 5 * d[2] + d[4];
        t[1] = a + b;
        t[2] = a - b;
        t[3] = c + e;
        t[4] = c - e;
        t[5] = 4 * d[1] - 5 * d[3] + d[5];
    }
    static void output(const Vec* u, Vec* y) {
        const Vec p1 = u[1] + u[2], m1 = u[1] - u[2], p3 = u[3] + u[4], m3 = u[3] - u[4];
        y[0] = u[0] + p1 + p3;
        y[1] = m1 + 2 * m3;
        y[2] = p1 + 4 * p3;
        y[3] = m1 + 8 * m3 + u[5];
    }
    static void adjoint(const Vec* g, Vec* u) {
        const Vec ev = g[0] + g[2], od = g[1] + g[3];              // for the ±1 rows
        const Vec ev2 = g[0] + 4 * g[2], od2 = 2 * g[1] + 8 * g[3];  // for the ±2 rows
        u[0] = g[0];
        u[1] = ev + od;
        u[2] = ev - od;
        u[3] = ev2 + od2;
        u[4] = ev2 - od2;
        u[5] = g[3];
    }
};

// ---- two-dimensional transforms (16 channels at a time, in the vector lanes) ----------------------------------

// V = Bᵀ d B for the α×α patch of x (H, W, C) whose top-left is (h0, w0) (may be −1; outside reads as zero),
// for channels c0 … c0 + 15. Writes V[ξ] to v + ξ·v_step. Interior patches (no bounds tests) get their own
// instantiation: with one shared body the compiler kept the loaded vectors on the stack.
template <class F, bool Interior>
inline __attribute__((always_inline)) void input_transform_patch(const float* x, int64_t H, int64_t W, int64_t C,
                                                                 int64_t h0, int64_t w0, int64_t c0, float* v,
                                                                 int64_t v_step) {
    constexpr int A = F::alpha;
    const float* p = x + (h0 * W + w0) * C + c0;
    Vec t[A][A];  // Bᵀ d, one column j of d at a time
    for (int j = 0; j < A; ++j) {
        Vec d[A], col[A];
        for (int i = 0; i < A; ++i) {
            const int64_t h = h0 + i, w = w0 + j;
            d[i] = Interior || (h >= 0 && h < H && w >= 0 && w < W) ? load_vec(p + (i * W + j) * C) : Vec{};
        }
        F::input(d, col);
        for (int i = 0; i < A; ++i) t[i][j] = col[i];
    }
    for (int i = 0; i < A; ++i) {  // (Bᵀ d) B: the same transform along each row
        Vec row[A];
        F::input(t[i], row);
        for (int j = 0; j < A; ++j) store_vec(v + (i * A + j) * v_step, row[j]);
    }
}
// V = Bᵀ d B for any patch: picks the instantiation without bounds tests when the patch lies inside the image.
template <class F>
void input_transform(const float* x, int64_t H, int64_t W, int64_t C, int64_t h0, int64_t w0, int64_t c0,
                     float* v, int64_t v_step) {
    if (h0 >= 0 && w0 >= 0 && h0 + F::alpha <= H && w0 + F::alpha <= W)
        input_transform_patch<F, true>(x, H, W, C, h0, w0, c0, v, v_step);
    else
        input_transform_patch<F, false>(x, H, W, C, h0, w0, c0, v, v_step);
}

// Y = Aᵀ M A (m×m) for output channels k0 … k0 + 15 of the tile at (oh, ow) of y (OH, OW, K), plus bias;
// outputs past OH or OW are dropped. M[ξ] (those 16 channels) is read from mm + ξ·m_step.
template <class F>
void output_transform(const float* mm, int64_t m_step, const float* bias, float* y, int64_t OH, int64_t OW,
                      int64_t K, int64_t oh, int64_t ow, int64_t k0) {
    constexpr int A = F::alpha, m = F::m;
    Vec t[m][A];  // Aᵀ M
    for (int j = 0; j < A; ++j) {
        Vec col[A], out[m];
        for (int i = 0; i < A; ++i) col[i] = load_vec(mm + (i * A + j) * m_step);
        F::output(col, out);
        for (int i = 0; i < m; ++i) t[i][j] = out[i];
    }
    const Vec b = bias ? load_vec(bias + k0) : Vec{};
    for (int i = 0; i < m && oh + i < OH; ++i) {
        Vec out[m];
        F::output(t[i], out);
        float* row = y + ((oh + i) * OW + ow) * K + k0;
        for (int j = 0; j < m && ow + j < OW; ++j) store_vec(row + j * K, out[j] + b);
    }
}

// ∂L/∂M = A ∂L/∂Y Aᵀ: the adjoint of output_transform, for output channels k0 … k0 + 15 of the tile at (oh, ow)
// of dy (OH, OW, K); gradients of outputs past OH or OW are zero (the forward pass dropped them).
template <class F>
void output_adjoint(const float* dy, int64_t OH, int64_t OW, int64_t K, int64_t oh, int64_t ow, int64_t k0,
                    float* mm, int64_t m_step) {
    constexpr int A = F::alpha, m = F::m;
    Vec t[A][m];  // A ∂L/∂Y
    for (int j = 0; j < m; ++j) {
        Vec g[m], col[A];
        for (int i = 0; i < m; ++i)
            g[i] = oh + i < OH && ow + j < OW ? load_vec(dy + ((oh + i) * OW + ow + j) * K + k0) : Vec{};
        F::adjoint(g, col);
        for (int i = 0; i < A; ++i) t[i][j] = col[i];
    }
    for (int i = 0; i < A; ++i) {  // (A ∂L/∂Y) Aᵀ
        Vec row[A];
        F::adjoint(t[i], row);
        for (int j = 0; j < A; ++j) store_vec(mm + (i * A + j) * m_step, row[j]);
    }
}

// U = G g Gᵀ for every (k, c), packed [ξ][k / 16][c][16] — output channels in the lanes, as the products read them.
// (Threads split the filters: run serially, this was ~2 % of a ResNet-20 training step with one core idle.)
template <class F>
Tensor transform_filters(const float* w, int64_t K, int64_t C) {
    constexpr int A = F::alpha;
    Tensor packed = Tensor::empty({A * A * K * C});
    float* p = packed.data();
#pragma omp parallel for if (K * C >= 1024)
    for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c) {
            const float* g = w + (k * C + c) * 9;
            float t[A][3];  // G g
            for (int i = 0; i < A; ++i)
                for (int b = 0; b < 3; ++b)
                    t[i][b] = F::G[i][0] * g[0 * 3 + b] + F::G[i][1] * g[1 * 3 + b] + F::G[i][2] * g[2 * 3 + b];
            for (int i = 0; i < A; ++i)
                for (int j = 0; j < A; ++j)
                    p[(((i * A + j) * (K / kLanes) + k / kLanes) * C + c) * kLanes + k % kLanes] =
                        t[i][0] * F::G[j][0] + t[i][1] * F::G[j][1] + t[i][2] * F::G[j][2];
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
    Vec acc[R][V];
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[r][v] = Vec{};
#pragma GCC unroll 1
    for (int64_t c = 0; c < C; ++c) {
        Vec uv[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) uv[v] = load_vec(u + (v * C + c) * kLanes);
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
        for (int v = 0; v < V; ++v) store_vec(out + r * out_step + v * kLanes, acc[r][v]);
}
using ProductKernel = void (*)(const float*, int64_t, const float*, float*, int64_t);
constexpr int kMaxR[3] = {0, register_rows(1, 24), register_rows(2, 12)};  // R·V accumulators + V + 1 ≤ registers

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
    Vec acc[CB][V];  // (unrolled as in product_kernel)
#pragma GCC unroll 16
    for (int c = 0; c < CB; ++c)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[c][v] = Vec{};
#pragma GCC unroll 1
    for (int64_t t = 0; t < T; ++t) {
        Vec g[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) g[v] = load_vec(dm + t * K + v * kLanes);
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
            store_vec(d, load_vec(d) + acc[c][v]);
        }
}
using WeightProductKernel = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);
constexpr int kMaxCB[3] = {0, register_rows(1, 16), register_rows(2, 12)};

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

// Forward on raw arrays: y (N, H, W, K) = x (N, H, W, C) ⋆ filters (+ bias), U = transform_filters<F>(…).
template <class F>
void winograd_forward(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, const float* x, const float* U,
                      const float* bias, float* y) {
    constexpr int A2 = F::alpha * F::alpha;  // products per tile
    const TileGrid grid{(H + F::m - 1) / F::m, (W + F::m - 1) / F::m, F::m};
    const int64_t tiles = N * grid.TH * grid.TW, blocks = (tiles + kTiles - 1) / kTiles;
    const int64_t kb = K / kLanes;
    const int V = kb % 2 == 0 ? 2 : 1;
    const int T = omp_get_max_threads();
    const int64_t per_thread = A2 * kTiles * (C + K);
    Tensor scratch = Tensor::empty({T * per_thread});
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        float* vbuf = scratch.data() + t * per_thread;  // V[ξ][tile][C]
        float* mbuf = vbuf + A2 * kTiles * C;             // M[ξ][tile][K]
        int64_t b0, b1;
        thread_range(blocks, t, omp_get_num_threads(), b0, b1);
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t first = b * kTiles, count = std::min<int64_t>(kTiles, tiles - first);
            Tile tile[kTiles];
            grid.list(first, count, tile);
            for (int64_t i = 0; i < count; ++i)
                for (int64_t c0 = 0; c0 < C; c0 += kLanes)
                    input_transform<F>(x + tile[i].n * H * W * C, H, W, C, tile[i].oh - 1, tile[i].ow - 1, c0,
                                       vbuf + i * C + c0, kTiles * C);
            for (int64_t k0 = 0; k0 < kb; k0 += V)
                for (int xi = 0; xi < A2; ++xi) {
                    const float* u = U + (xi * kb + k0) * C * kLanes;
                    for (int64_t r0 = 0; r0 < count; r0 += kMaxR[V]) {
                        const int R = int(std::min<int64_t>(kMaxR[V], count - r0));
                        product_kernel_for(R, V, C)(vbuf + (xi * kTiles + r0) * C, C, u,
                                                 mbuf + (xi * kTiles + r0) * K + k0 * kLanes, K);
                    }
                }
            for (int64_t i = 0; i < count; ++i)
                for (int64_t k0 = 0; k0 < K; k0 += kLanes)
                    output_transform<F>(mbuf + i * K + k0, kTiles * K, bias, y + tile[i].n * H * W * K, H, W, K,
                                        tile[i].oh, tile[i].ow, k0);
        }
    }
}

// Backward-weight on raw arrays: dw (K, C, 3, 3) from x (N, H, W, C) and dy (N, H, W, K).
template <class F>
void winograd_backward_weight(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, const float* x, const float* dy,
                              float* dw) {
    constexpr int A = F::alpha, A2 = A * A;
    const TileGrid grid{(H + F::m - 1) / F::m, (W + F::m - 1) / F::m, F::m};
    const int64_t tiles = N * grid.TH * grid.TW, blocks = (tiles + kTilesWeight - 1) / kTilesWeight;
    const int64_t kb = K / kLanes;
    const int V = kb % 2 == 0 ? 2 : 1;
    const int64_t n_cblocks = (C + kMaxCB[V] - 1) / kMaxCB[V];
    const int T = omp_get_max_threads();
    const int64_t du_size = A2 * C * K;  // ∂L/∂U[ξ][c][k]
    const int64_t per_thread = du_size + A2 * kTilesWeight * (C + K);
    Tensor scratch = Tensor::empty({T * per_thread});
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        float* du = scratch.data() + t * per_thread;
        float* vbuf = du + du_size;                      // V[ξ][tile][C]
        float* mbuf = vbuf + A2 * kTilesWeight * C;      // ∂L/∂M[ξ][tile][K]
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
                    input_transform<F>(x + q.n * H * W * C, H, W, C, q.oh - 1, q.ow - 1, c0, vbuf + i * C + c0,
                                       kTilesWeight * C);
                for (int64_t k0 = 0; k0 < K; k0 += kLanes)
                    output_adjoint<F>(dy + q.n * H * W * K, H, W, K, q.oh, q.ow, k0, mbuf + i * K + k0,
                                      kTilesWeight * K);
            }
            for (int xi = 0; xi < A2; ++xi)
                for (int64_t cbi = 0; cbi < n_cblocks; ++cbi) {
                    const int64_t c0 = C * cbi / n_cblocks, c1 = C * (cbi + 1) / n_cblocks;
                    for (int64_t k0 = 0; k0 < kb; k0 += V)
                        weight_product_kernel_for(int(c1 - c0), V)(vbuf + xi * kTilesWeight * C + c0, C,
                                                                   mbuf + xi * kTilesWeight * K + k0 * kLanes, K,
                                                                   count, du + (xi * C + c0) * K + k0 * kLanes, K);
                }
        }
    }
    // Sum the threads' ∂L/∂U, then ∂L/∂g = Gᵀ ∂L/∂U G for every (k, c) (threads split the elements, then k).
    float* total = scratch.data();
#pragma omp parallel num_threads(T) if (du_size >= 16384)
    {
#pragma omp for
        for (int64_t i = 0; i < du_size; ++i)
            for (int t = 1; t < T; ++t) total[i] += scratch.data()[t * per_thread + i];
#pragma omp for
        for (int64_t k = 0; k < K; ++k)
            for (int64_t c = 0; c < C; ++c) {
                float t[A][3];  // ∂L/∂U G
                for (int i = 0; i < A; ++i)
                    for (int b = 0; b < 3; ++b) {
                        float sum = 0;
                        for (int j = 0; j < A; ++j) sum += total[((i * A + j) * C + c) * K + k] * F::G[j][b];
                        t[i][b] = sum;
                    }
                for (int a = 0; a < 3; ++a)
                    for (int b = 0; b < 3; ++b) {
                        float sum = 0;
                        for (int i = 0; i < A; ++i) sum += F::G[i][a] * t[i][b];
                        dw[((k * C + c) * 3 + a) * 3 + b] = sum;
                    }
            }
    }
}

// TERN_CONV_WINOGRAD: 0 switches Winograd off, 2 or 4 forces that tile size, anything else (or unset) lets
// conv2d_winograd_tile choose.
int winograd_mode_from_environment() {
    const char* v = std::getenv("TERN_CONV_WINOGRAD");
    if (!v) return 1;
    const int mode = std::atoi(v);
    return mode == 0 || mode == 2 || mode == 4 ? mode : 1;
}
const int winograd_env_mode = winograd_mode_from_environment();
std::atomic<bool> winograd_on{winograd_env_mode != 0};

}  // namespace

void set_conv2d_winograd(bool on) { winograd_on = on; }
bool conv2d_winograd_enabled() { return winograd_on; }

bool conv2d_winograd_supports(const ConvShape& s) {
    return s.groups == 1 && s.KH == 3 && s.KW == 3 && s.sh == 1 && s.sw == 1 && s.ph == 1 && s.pw == 1 &&
           s.C % kLanes == 0 && s.OC % kLanes == 0;
}

int conv2d_winograd_tile(const ConvShape& s) {
    if (winograd_env_mode == 2 || winograd_env_mode == 4) return winograd_env_mode;
    // F(4×4) needs 36 products per 16 outputs where F(2×2) needs 64 (0.56×), for about the same transform work, but
    // its transformed filters are 2.25× larger (36·C·OC floats, rebuilt per call and re-read per block) and there
    // are 4× fewer tiles to share between the threads. Measured (2 threads, F(2×2) time / F(4×4) time, forward /
    // backward-data / backward-weight): batch 128: 16 ch 32×32 1.42 / 1.42 / 1.52, 32 ch 16×16 1.41 / 1.51 / 1.42,
    // 64 ch 8×8 1.13 / 1.14 / 1.21; ResNet-18 shapes at batch 16: 64 ch 56×56 1.43 / 1.44 / 1.24, 128 ch 28×28
    // 1.17 / 1.14 / 1.00, 128 ch 14×14 0.83 / 0.83 / 0.57; small batches lose: 64 ch 56×56 batch 1 0.87 / 0.86 /
    // 0.99, 64 ch 8×8 batch 8 0.68 / 0.67 / 0.58. Hence F(4×4) up to 64 × 64 channels with at least 512 tiles.
    const int64_t tiles4 = s.N * ((s.OH + 3) / 4) * ((s.OW + 3) / 4);
    return s.C * s.OC <= 64 * 64 && tiles4 >= 512 ? 4 : 2;
}

bool conv2d_winograd_applies(const ConvShape& s) {
    // Measured with bench_conv (2 threads, batch 128, the two timed alternately, GFLOP/s counted as direct FLOPs;
    // Winograd F(2×2) vs direct): 16 → 16 channels at 32×32: forward 191–212 vs 148–207, backward-data 191–208 vs
    // 136–174, backward-weight 183–192 vs 143–185; 32 → 32 at 16×16: 306–334 vs 161–222 in all three; 64 → 64 at
    // 8×8: 244–369 vs 130–229. Two limits: the transformed filters U (16·C·OC floats, 1.8× the weights) are rebuilt
    // on every call and re-read for every block of tiles, so they must fit in L2 (C·OC ≤ 128·128: 1 MB) — ResNet-18's
    // 512-channel layers at batch 1 ran 1.6× slower — and there must be enough tiles to pay for building them.
    const int64_t tiles = s.N * ((s.OH + 1) / 2) * ((s.OW + 1) / 2);
    return winograd_on && conv2d_winograd_supports(s) && s.C * s.OC <= 128 * 128 && tiles >= 4 * kTiles;
}

void conv2d_winograd_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y,
                             int tile) {
    if ((tile ? tile : conv2d_winograd_tile(s)) == 4)
        winograd_forward<F4>(s.N, s.H, s.W, s.C, s.OC, x, transform_filters<F4>(w, s.OC, s.C).data(), bias, y);
    else
        winograd_forward<F2>(s.N, s.H, s.W, s.C, s.OC, x, transform_filters<F2>(w, s.OC, s.C).data(), bias, y);
}

void conv2d_winograd_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx, int tile) {
    // ∂L/∂x[c] = Σ_k ∂L/∂y[k] ⋆ w[k, c] rotated by 180°: a forward pass from OC to C channels.
    Tensor flipped_t = Tensor::empty({s.C * s.OC * 9});  // from the caching allocator: no page faults per step
    float* flipped = flipped_t.data();
    for (int64_t k = 0; k < s.OC; ++k)
        for (int64_t c = 0; c < s.C; ++c)
            for (int64_t i = 0; i < 9; ++i) flipped[(c * s.OC + k) * 9 + i] = w[(k * s.C + c) * 9 + (8 - i)];
    if ((tile ? tile : conv2d_winograd_tile(s)) == 4)
        winograd_forward<F4>(s.N, s.OH, s.OW, s.OC, s.C, dy, transform_filters<F4>(flipped, s.C, s.OC).data(),
                             nullptr, dx);
    else
        winograd_forward<F2>(s.N, s.OH, s.OW, s.OC, s.C, dy, transform_filters<F2>(flipped, s.C, s.OC).data(),
                             nullptr, dx);
}

void conv2d_winograd_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw, int tile) {
    if ((tile ? tile : conv2d_winograd_tile(s)) == 4)
        winograd_backward_weight<F4>(s.N, s.H, s.W, s.C, s.OC, x, dy, dw);
    else
        winograd_backward_weight<F2>(s.N, s.H, s.W, s.C, s.OC, x, dy, dw);
}

}  // namespace tern::kernels
