// core/kernels/batch_norm_fast.cpp — batch norm's passes with channel vectors (float_vector.h: 16 or 8 lanes).
//
// Threads split the rows. For the sums, each thread walks its rows one block of up to 4 vectors of channels at
// a time, keeping the 2 × 4 running sums in registers; every 128 rows the float sums are added into double
// (128 float additions lose nothing a batch-norm statistic cares about; the double total keeps millions of rows
// exact). The per-thread doubles are combined in thread order, so results do not depend on timing.
// With a fused output quantizer (batch_norm.h), the apply pass quantizes in registers and the backward passes
// recompute q from x, as they recompute the ReLU's mask.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/kernels/batch_norm.h"
#include "core/kernels/float_vector.h"
#include "core/parallel.h"

namespace tern::kernels {

namespace {
inline Vec splat(float v) { return Vec{} + v; }
// The output before quantization, x·a + b (then max(·, 0) with a fused ReLU), and q = that · (1/s).
inline Vec affine(Vec x, Vec a, Vec b, bool relu) {
    Vec v = x * a + b;
    return relu ? (v > 0.f ? v : Vec{}) : v;
}
inline Vec clamp(Vec q, const FakeQuant& f) {
    q = q < f.lo ? splat(f.lo) : q;
    return q > f.hi ? splat(f.hi) : q;
}
// The backward's view of the forward, recomputed from x: the gradient g passed back through the ReLU (where
// y = max(x·a + b, 0) > 0) and the output quantizer (where q = y/s lies inside (lo, hi)), and q itself for the
// step's term. y is computed once for both masks; q is left zero when the quantizer is off.
struct Passed {
    Vec g, q;
};
inline Passed passed_gradient(Vec x, Vec a, Vec b, Vec g, bool relu, const FakeQuant& fq) {
    const Vec y = affine(x, a, b, relu);
    Vec q = {};
    if (relu) g = y > 0.f ? g : Vec{};
    if (fq.on()) {
        q = y * fq.inv_step;
        g = (q > fq.lo && q < fq.hi) ? g : Vec{};
    }
    return {g, q};
}

constexpr int64_t kFlushRows = 128;

// For each thread's rows and each block of ≤ 4 channel vectors: accumulate f(row, vector) → K terms in
// registers, flushing into the thread's double arrays. `Terms(element_index, channel, t[K])` adds one row's terms.
template <int V, int K, class Terms>
void sums_block(int64_t r0, int64_t r1, int64_t c0, int64_t C, double* const* d, Terms terms) {
    Vec acc[V][K];
    for (int64_t r = r0; r < r1;) {
        for (int v = 0; v < V; ++v)
            for (int k = 0; k < K; ++k) acc[v][k] = Vec{};
        const int64_t r_end = std::min(r1, r + kFlushRows);
        for (; r < r_end; ++r)
            for (int v = 0; v < V; ++v) terms(r * C + c0 + kLanes * v, c0 + kLanes * v, acc[v]);
        for (int v = 0; v < V; ++v)
            for (int k = 0; k < K; ++k)
                for (int i = 0; i < kLanes; ++i) d[k][c0 + kLanes * v + i] += acc[v][k][i];
    }
}

// out[k][c] = Σ over rows of term k, for K terms; deterministic (per-thread doubles combined in thread order).
template <int K, class Terms>
void channel_sums(int64_t M, int64_t C, double* const* out, Terms terms) {
    const int T = M * C >= kParallelGrain ? num_threads() : 1;
    std::vector<double> part(static_cast<size_t>(K * T * C), 0.0);
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t r0 = M * t / nt, r1 = M * (t + 1) / nt;
        double* d[K];
        for (int k = 0; k < K; ++k) d[k] = part.data() + (K * t + k) * C;
        for (int64_t c0 = 0; c0 < C; c0 += 4 * kLanes) {
            switch (std::min<int64_t>(4, (C - c0) / kLanes)) {
                case 4: sums_block<4, K>(r0, r1, c0, C, d, terms); break;
                case 3: sums_block<3, K>(r0, r1, c0, C, d, terms); break;
                case 2: sums_block<2, K>(r0, r1, c0, C, d, terms); break;
                default: sums_block<1, K>(r0, r1, c0, C, d, terms);
            }
        }
    }
    for (int k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c) out[k][c] = 0;
    for (int t = 0; t < T; ++t)
        for (int k = 0; k < K; ++k)
            for (int64_t c = 0; c < C; ++c) out[k][c] += part[(K * t + k) * C + c];
}
}  // namespace

void bn_moments(const float* x, const float* k, int64_t M, int64_t C, double* s1, double* s2) {
    if (C % kLanes) return bn_moments_ref(x, k, M, C, s1, s2);
    double* const out[2] = {s1, s2};
    channel_sums<2>(M, C, out, [x, k](int64_t i, int64_t c, Vec* t) {
        const Vec d = load_vec(x + i) - load_vec(k + c);
        t[0] += d;
        t[1] += d * d;
    });
}

void bn_grad_sums(const float* g, const float* x, const float* mean, int64_t M, int64_t C, BnAffine f, double* s1,
                  double* s2, double* s3) {
    if (C % kLanes) return bn_grad_sums_ref(g, x, mean, M, C, f, s1, s2, s3);
    if (!f.quant.on()) {
        double* const out[2] = {s1, s2};
        return channel_sums<2>(M, C, out, [g, x, mean, f](int64_t i, int64_t c, Vec* t) {
            const Vec xv = load_vec(x + i);
            const Vec gk = passed_gradient(xv, load_vec(f.a + c), load_vec(f.b + c), load_vec(g + i), f.relu, {}).g;
            t[0] += gk;
            t[1] += gk * (xv - load_vec(mean + c));
        });
    }
    // With the output quantizer: g passes where the ReLU and the quantizer's range both let it (a ReLU-zeroed
    // element has q = 0, which is ≤ lo = 0 for unsigned quantizers), and the step's term uses the unmasked g.
    double* const out[3] = {s1, s2, s3};
    const FakeQuant fq = f.quant;
    channel_sums<3>(M, C, out, [g, x, mean, f, fq](int64_t i, int64_t c, Vec* t) {
        const Vec xv = load_vec(x + i), gv = load_vec(g + i);
        const Passed p = passed_gradient(xv, load_vec(f.a + c), load_vec(f.b + c), gv, f.relu, fq);
        t[0] += p.g;
        t[1] += p.g * (xv - load_vec(mean + c));
        const Vec dq = fake_quantize_step_grad(p.q, splat(fq.lo), splat(fq.hi));  // ∂ŷ/∂s
        t[2] += gv * dq;
    });
}

void bn_apply(const float* x, float* y, int64_t M, int64_t C, BnAffine f) {
    if (C % kLanes) return bn_apply_ref(x, y, M, C, f);
    const FakeQuant fq = f.quant;
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; c += kLanes) {
            Vec v = affine(load_vec(x + r * C + c), load_vec(f.a + c), load_vec(f.b + c), f.relu);
            if (fq.on()) v = round_half_even_small(clamp(v * fq.inv_step, fq)) * fq.step;
            store_vec(y + r * C + c, v);
        }
}

void bn_grad_apply(const float* g, const float* x, const float* mean, const float* k1, const float* k2,
                   const float* k3, float* dx, int64_t M, int64_t C, BnAffine f) {
    if (C % kLanes) return bn_grad_apply_ref(g, x, mean, k1, k2, k3, dx, M, C, f);
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; c += kLanes) {
            const int64_t i = r * C + c;
            const Vec xv = load_vec(x + i);
            const Vec gv = passed_gradient(xv, load_vec(f.a + c), load_vec(f.b + c), load_vec(g + i), f.relu, f.quant).g;
            store_vec(dx + i, load_vec(k1 + c) * gv + load_vec(k2 + c) + load_vec(k3 + c) * (xv - load_vec(mean + c)));
        }
}

}  // namespace tern::kernels
