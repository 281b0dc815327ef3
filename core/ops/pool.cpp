// core/ops/pool.cpp — pooling forward and backward. Loops run over channels innermost (NHWC), which the
// compiler vectorizes.
#include "core/ops/pool.h"

#include <cstring>
#include <limits>

#include "core/autograd.h"
#include "core/error.h"
#include "core/profiler.h"

namespace tern {

namespace {
struct PoolGeom {
    int64_t N, H, W, C, k, s, p, OH, OW;
};

PoolGeom pool_geometry(const Tensor& x, const Pool2dOptions& o, const char* op) {
    TERN_CHECK(x.dim() == 4, op << ": input must be (N, H, W, C), got " << x.shape_str());
    const int64_t s = o.stride > 0 ? o.stride : o.kernel;
    TERN_CHECK(o.kernel >= 1 && o.padding >= 0 && 2 * o.padding <= o.kernel,
               op << ": kernel " << o.kernel << " with padding " << o.padding
                  << " (padding must be at most half the kernel)");
    PoolGeom g{x.size(0), x.size(1), x.size(2), x.size(3), o.kernel, s, o.padding, 0, 0};
    g.OH = (g.H + 2 * g.p - g.k) / s + 1;
    g.OW = (g.W + 2 * g.p - g.k) / s + 1;
    TERN_CHECK(g.OH > 0 && g.OW > 0, op << ": window " << g.k << " does not fit input " << x.shape_str());
    return g;
}
}  // namespace

// y[n,oh,ow,c] = max over the window;   ∂L/∂x[argmax] += ∂L/∂y (argmax remembered per output element)
Tensor max_pool2d(const Tensor& x_in, Pool2dOptions o) {
    ProfileScope scope(OpKind::Pool);
    const PoolGeom g = pool_geometry(x_in, o, "max_pool2d");
    const Tensor x = contiguous_data(x_in);
    Tensor y = Tensor::empty({g.N, g.OH, g.OW, g.C});
    // The flat input index of each maximum, stored as int32 in a float tensor's storage (same size, and it
    // comes from the caching allocator like every other buffer).
    Tensor argmax = Tensor::empty(y.shape());
    int32_t* am = reinterpret_cast<int32_t*>(argmax.data());
    const float* px = x.data();
    float* py = y.data();
#pragma omp parallel for collapse(2)
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                float* yp = py + ((n * g.OH + oh) * g.OW + ow) * g.C;
                int32_t* ap = am + ((n * g.OH + oh) * g.OW + ow) * g.C;
                for (int64_t c = 0; c < g.C; ++c) yp[c] = -std::numeric_limits<float>::infinity(), ap[c] = -1;
                for (int64_t kh = 0; kh < g.k; ++kh) {
                    const int64_t ih = oh * g.s + kh - g.p;
                    if (ih < 0 || ih >= g.H) continue;
                    for (int64_t kw = 0; kw < g.k; ++kw) {
                        const int64_t iw = ow * g.s + kw - g.p;
                        if (iw < 0 || iw >= g.W) continue;
                        const int64_t base = ((n * g.H + ih) * g.W + iw) * g.C;
                        for (int64_t c = 0; c < g.C; ++c)
                            if (px[base + c] > yp[c]) yp[c] = px[base + c], ap[c] = int32_t(base + c);
                    }
                }
            }
    record(y, "max_pool2d", {x_in}, [g, argmax = argmax.detach()](const Tensor& gy) {
        ProfileScope scope(OpKind::Pool);
        Tensor gx = Tensor::zeros({g.N, g.H, g.W, g.C});
        const int32_t* am = reinterpret_cast<const int32_t*>(argmax.data());
        const float* pg = gy.data();
        float* pgx = gx.data();
        const int64_t per_image = g.OH * g.OW * g.C;
#pragma omp parallel for
        for (int64_t n = 0; n < g.N; ++n)  // windows may overlap, but never across images
            for (int64_t i = n * per_image; i < (n + 1) * per_image; ++i)
                if (am[i] >= 0) pgx[am[i]] += pg[i];
        return std::vector<Tensor>{gx};
    });
    return y;
}

// y = mean over the window;   ∂L/∂x[window] += ∂L/∂y / divisor
Tensor avg_pool2d(const Tensor& x_in, Pool2dOptions o) {
    ProfileScope scope(OpKind::Pool);
    const PoolGeom g = pool_geometry(x_in, o, "avg_pool2d");
    const Tensor x = contiguous_data(x_in);
    Tensor y = Tensor::zeros({g.N, g.OH, g.OW, g.C});
    const bool include_pad = o.count_include_pad;
    // The divisor of one window: k² (counting padding) or the number of real pixels it covers.
    auto divisor = [g, include_pad](int64_t oh, int64_t ow) {
        if (include_pad) {  // PyTorch clips the window to the padded input, then counts it all
            const int64_t h0 = oh * g.s - g.p, w0 = ow * g.s - g.p;
            const int64_t h1 = std::min(h0 + g.k, g.H + g.p), w1 = std::min(w0 + g.k, g.W + g.p);
            return float((h1 - h0) * (w1 - w0));
        }
        const int64_t h0 = std::max<int64_t>(oh * g.s - g.p, 0), w0 = std::max<int64_t>(ow * g.s - g.p, 0);
        const int64_t h1 = std::min(oh * g.s - g.p + g.k, g.H), w1 = std::min(ow * g.s - g.p + g.k, g.W);
        return float((h1 - h0) * (w1 - w0));
    };
    const float* px = x.data();
    float* py = y.data();
#pragma omp parallel for collapse(2)
    for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                float* yp = py + ((n * g.OH + oh) * g.OW + ow) * g.C;
                for (int64_t kh = 0; kh < g.k; ++kh) {
                    const int64_t ih = oh * g.s + kh - g.p;
                    if (ih < 0 || ih >= g.H) continue;
                    for (int64_t kw = 0; kw < g.k; ++kw) {
                        const int64_t iw = ow * g.s + kw - g.p;
                        if (iw < 0 || iw >= g.W) continue;
                        const float* xp = px + ((n * g.H + ih) * g.W + iw) * g.C;
                        for (int64_t c = 0; c < g.C; ++c) yp[c] += xp[c];
                    }
                }
                const float inv = 1.f / divisor(oh, ow);
                for (int64_t c = 0; c < g.C; ++c) yp[c] *= inv;
            }
    record(y, "avg_pool2d", {x_in}, [g, divisor](const Tensor& gy) {
        ProfileScope scope(OpKind::Pool);
        Tensor gx = Tensor::zeros({g.N, g.H, g.W, g.C});
        const float* pg = gy.data();
        float* pgx = gx.data();
#pragma omp parallel for
        for (int64_t n = 0; n < g.N; ++n)
            for (int64_t oh = 0; oh < g.OH; ++oh)
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const float* gp = pg + ((n * g.OH + oh) * g.OW + ow) * g.C;
                    const float inv = 1.f / divisor(oh, ow);
                    for (int64_t kh = 0; kh < g.k; ++kh) {
                        const int64_t ih = oh * g.s + kh - g.p;
                        if (ih < 0 || ih >= g.H) continue;
                        for (int64_t kw = 0; kw < g.k; ++kw) {
                            const int64_t iw = ow * g.s + kw - g.p;
                            if (iw < 0 || iw >= g.W) continue;
                            float* gxp = pgx + ((n * g.H + ih) * g.W + iw) * g.C;
                            for (int64_t c = 0; c < g.C; ++c) gxp[c] += gp[c] * inv;
                        }
                    }
                }
        return std::vector<Tensor>{gx};
    });
    return y;
}

// y[n, c] = (1/HW) Σ_{h,w} x[n, h, w, c];   ∂L/∂x[n, h, w, c] = ∂L/∂y[n, c] / HW
Tensor global_avg_pool(const Tensor& x_in) {
    ProfileScope scope(OpKind::Pool);
    TERN_CHECK(x_in.dim() == 4, "global_avg_pool: input must be (N, H, W, C), got " << x_in.shape_str());
    const Tensor x = contiguous_data(x_in);
    const int64_t N = x.size(0), P = x.size(1) * x.size(2), C = x.size(3);
    Tensor y = Tensor::zeros({N, C});
    const float* px = x.data();
    float* py = y.data();
    const float inv = 1.f / float(P);
#pragma omp parallel for
    for (int64_t n = 0; n < N; ++n) {
        float* yp = py + n * C;
        for (int64_t p = 0; p < P; ++p)
            for (int64_t c = 0; c < C; ++c) yp[c] += px[(n * P + p) * C + c];
        for (int64_t c = 0; c < C; ++c) yp[c] *= inv;
    }
    record(y, "global_avg_pool", {x_in}, [shape = x.shape(), N, P, C, inv](const Tensor& gy) {
        ProfileScope scope(OpKind::Pool);
        Tensor gx = Tensor::empty(shape);
        const float* pg = gy.data();
        float* pgx = gx.data();
#pragma omp parallel for
        for (int64_t n = 0; n < N; ++n)
            for (int64_t p = 0; p < P; ++p)
                for (int64_t c = 0; c < C; ++c) pgx[(n * P + p) * C + c] = pg[n * C + c] * inv;
        return std::vector<Tensor>{gx};
    });
    return y;
}

}  // namespace tern
