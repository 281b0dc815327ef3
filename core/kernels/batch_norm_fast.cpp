// core/kernels/batch_norm_fast.cpp — batch norm's passes with 16-channel vectors (GCC vector extensions).
//
// Threads split the rows. For the sums, each thread walks its rows one block of up to 64 channels (4 vectors) at
// a time, keeping the 2 × 4 running sums in registers; every 128 rows the float sums are added into double
// (128 float additions lose nothing a batch-norm statistic cares about; the double total keeps millions of rows
// exact). The per-thread doubles are combined in thread order, so results do not depend on timing.
// With a fused output quantizer (batch_norm.h), the apply pass quantizes in registers and the backward passes
// recompute q from x, as they recompute the ReLU's mask.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/kernels/batch_norm.h"
#include "core/parallel.h"

namespace tern::kernels {

namespace {
typedef float Vec16 __attribute__((vector_size(64), aligned(4)));
inline Vec16 load16(const float* p) { return *reinterpret_cast<const Vec16*>(p); }
inline void store16(float* p, Vec16 v) { *reinterpret_cast<Vec16*>(p) = v; }
// Round half to even, exact for |q| < 2²²: adding 1.5·2²³ leaves no fraction bits, so the addition rounds q (in
// the default rounding mode, to nearest even); subtracting gives it back. Quantizer levels are far inside the range.
inline Vec16 round_even(Vec16 q) {
    const float magic = 12582912.f;  // 1.5·2²³
    return (q + magic) - magic;
}
inline Vec16 splat(float v) { return Vec16{} + v; }
// The output before quantization, x·a + b (then max(·, 0) with a fused ReLU), and q = that · (1/s).
inline Vec16 affine(Vec16 x, Vec16 a, Vec16 b, bool relu) {
    Vec16 v = x * a + b;
    return relu ? (v > 0.f ? v : Vec16{}) : v;
}
inline Vec16 clamp(Vec16 q, const FakeQuant& f) {
    q = q < f.lo ? splat(f.lo) : q;
    return q > f.hi ? splat(f.hi) : q;
}
// The backward's view of the forward, recomputed from x: the gradient g passed back through the ReLU (where
// y = max(x·a + b, 0) > 0) and the output quantizer (where q = y/s lies inside (lo, hi)), and q itself for the
// step's term. y is computed once for both masks; q is left zero when the quantizer is off.
struct Passed {
    Vec16 g, q;
};
inline Passed passed_gradient(Vec16 x, Vec16 a, Vec16 b, Vec16 g, bool relu, const FakeQuant& fq) {
    const Vec16 y = affine(x, a, b, relu);
    Vec16 q = {};
    if (relu) g = y > 0.f ? g : Vec16{};
    if (fq.on()) {
        q = y * fq.inv_step;
        g = (q > fq.lo && q < fq.hi) ? g : Vec16{};
    }
    return {g, q};
}

constexpr int64_t kFlushRows = 128;

// For each thread's rows and each block of ≤ 4 channel vectors: accumulate f(row, vector) → K terms in
// registers, flushing into the thread's double arrays. `Terms(element_index, channel, t[K])` adds one row's terms.
template <int V, int K, class Terms>
void sums_block(int64_t r0, int64_t r1, int64_t c0, int64_t C, double* const* d, Terms terms) {
    Vec16 acc[V][K];
    for (int64_t r = r0; r < r1;) {
        for (int v = 0; v < V; ++v)
            for (int k = 0; k < K; ++k) acc[v][k] = Vec16{};
        const int64_t r_end = std::min(r1, r + kFlushRows);
        for (; r < r_end; ++r)
            for (int v = 0; v < V; ++v) terms(r * C + c0 + 16 * v, c0 + 16 * v, acc[v]);
        for (int v = 0; v < V; ++v)
            for (int k = 0; k < K; ++k)
                for (int i = 0; i < 16; ++i) d[k][c0 + 16 * v + i] += acc[v][k][i];
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
        for (int64_t c0 = 0; c0 < C; c0 += 64) {
            switch (std::min<int64_t>(4, (C - c0) / 16)) {
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
    if (C % 16) return bn_moments_ref(x, k, M, C, s1, s2);
    double* const out[2] = {s1, s2};
    channel_sums<2>(M, C, out, [x, k](int64_t i, int64_t c, Vec16* t) {
        const Vec16 d = load16(x + i) - load16(k + c);
        t[0] += d;
        t[1] += d * d;
    });
}

void bn_grad_sums(const float* g, const float* x, const float* mean, int64_t M, int64_t C, BnAffine f, double* s1,
                  double* s2, double* s3) {
    if (C % 16) return bn_grad_sums_ref(g, x, mean, M, C, f, s1, s2, s3);
    if (!f.quant.on()) {
        double* const out[2] = {s1, s2};
        return channel_sums<2>(M, C, out, [g, x, mean, f](int64_t i, int64_t c, Vec16* t) {
            const Vec16 xv = load16(x + i);
            const Vec16 gk = passed_gradient(xv, load16(f.a + c), load16(f.b + c), load16(g + i), f.relu, {}).g;
            t[0] += gk;
            t[1] += gk * (xv - load16(mean + c));
        });
    }
    // With the output quantizer: g passes where the ReLU and the quantizer's range both let it (a ReLU-zeroed
    // element has q = 0, which is ≤ lo = 0 for unsigned quantizers), and the step's term uses the unmasked g.
    double* const out[3] = {s1, s2, s3};
    const FakeQuant fq = f.quant;
    channel_sums<3>(M, C, out, [g, x, mean, f, fq](int64_t i, int64_t c, Vec16* t) {
        const Vec16 xv = load16(x + i), gv = load16(g + i);
        const Passed p = passed_gradient(xv, load16(f.a + c), load16(f.b + c), gv, f.relu, fq);
        t[0] += p.g;
        t[1] += p.g * (xv - load16(mean + c));
        const Vec16 dq = p.q <= fq.lo ? splat(fq.lo) : (p.q >= fq.hi ? splat(fq.hi) : round_even(p.q) - p.q);  // ∂ŷ/∂s
        t[2] += gv * dq;
    });
}

void bn_apply(const float* x, float* y, int64_t M, int64_t C, BnAffine f) {
    if (C % 16) return bn_apply_ref(x, y, M, C, f);
    const FakeQuant fq = f.quant;
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; c += 16) {
            Vec16 v = affine(load16(x + r * C + c), load16(f.a + c), load16(f.b + c), f.relu);
            if (fq.on()) v = round_even(clamp(v * fq.inv_step, fq)) * fq.step;
            store16(y + r * C + c, v);
        }
}

void bn_grad_apply(const float* g, const float* x, const float* mean, const float* k1, const float* k2,
                   const float* k3, float* dx, int64_t M, int64_t C, BnAffine f) {
    if (C % 16) return bn_grad_apply_ref(g, x, mean, k1, k2, k3, dx, M, C, f);
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; c += 16) {
            const int64_t i = r * C + c;
            const Vec16 xv = load16(x + i);
            const Vec16 gv = passed_gradient(xv, load16(f.a + c), load16(f.b + c), load16(g + i), f.relu, f.quant).g;
            store16(dx + i, load16(k1 + c) * gv + load16(k2 + c) + load16(k3 + c) * (xv - load16(mean + c)));
        }
}

}  // namespace tern::kernels
