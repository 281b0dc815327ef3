// core/kernels/batch_norm_fast.cpp — batch norm's passes with 16-channel vectors (GCC vector extensions).
//
// Threads split the rows. For the sums, each thread walks its rows one block of up to 64 channels (4 vectors) at
// a time, keeping the 2 × 4 running sums in registers; every 128 rows the float sums are added into double
// (128 float additions lose nothing a batch-norm statistic cares about; the double total keeps millions of rows
// exact). The per-thread doubles are combined in thread order, so results do not depend on timing.
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
inline Vec16 relu_mask(Vec16 x, Vec16 a, Vec16 b, Vec16 g) {  // g where x·a + b > 0, else 0
    return (x * a + b > 0.f) ? g : Vec16{};
}

constexpr int64_t kFlushRows = 128;

// For each thread's rows and each block of ≤ 4 channel vectors: accumulate f(row, vector) → (t1, t2) in
// registers, flushing into the thread's double arrays. `Terms(row_ptr_offset, v, t1, t2)` adds one row's terms.
template <int V, class Terms>
void sums_block(int64_t r0, int64_t r1, int64_t c0, int64_t C, double* d1, double* d2, Terms terms) {
    Vec16 a1[V], a2[V];
    for (int64_t r = r0; r < r1;) {
        for (int v = 0; v < V; ++v) a1[v] = a2[v] = Vec16{};
        const int64_t r_end = std::min(r1, r + kFlushRows);
        for (; r < r_end; ++r)
            for (int v = 0; v < V; ++v) terms(r * C + c0 + 16 * v, c0 + 16 * v, a1[v], a2[v]);
        for (int v = 0; v < V; ++v)
            for (int i = 0; i < 16; ++i) d1[c0 + 16 * v + i] += a1[v][i], d2[c0 + 16 * v + i] += a2[v][i];
    }
}

template <class Terms>
void channel_sums(int64_t M, int64_t C, double* s1, double* s2, Terms terms) {
    const int T = M * C >= kParallelGrain ? num_threads() : 1;
    std::vector<double> part(static_cast<size_t>(2 * T * C), 0.0);
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t r0 = M * t / nt, r1 = M * (t + 1) / nt;
        double* d1 = part.data() + 2 * t * C;
        double* d2 = d1 + C;
        for (int64_t c0 = 0; c0 < C; c0 += 64) {
            switch (std::min<int64_t>(4, (C - c0) / 16)) {
                case 4: sums_block<4>(r0, r1, c0, C, d1, d2, terms); break;
                case 3: sums_block<3>(r0, r1, c0, C, d1, d2, terms); break;
                case 2: sums_block<2>(r0, r1, c0, C, d1, d2, terms); break;
                default: sums_block<1>(r0, r1, c0, C, d1, d2, terms);
            }
        }
    }
    for (int64_t c = 0; c < C; ++c) s1[c] = s2[c] = 0;
    for (int t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) s1[c] += part[2 * t * C + c], s2[c] += part[(2 * t + 1) * C + c];
}
}  // namespace

void bn_moments(const float* x, const float* k, int64_t M, int64_t C, double* s1, double* s2) {
    if (C % 16) return bn_moments_ref(x, k, M, C, s1, s2);
    channel_sums(M, C, s1, s2, [x, k](int64_t i, int64_t c, Vec16& t1, Vec16& t2) {
        const Vec16 d = load16(x + i) - load16(k + c);
        t1 += d;
        t2 += d * d;
    });
}

void bn_grad_sums(const float* g, const float* x, const float* mean, int64_t M, int64_t C, BnAffine f, double* s1,
                  double* s2) {
    if (C % 16) return bn_grad_sums_ref(g, x, mean, M, C, f, s1, s2);
    channel_sums(M, C, s1, s2, [g, x, mean, f](int64_t i, int64_t c, Vec16& t1, Vec16& t2) {
        const Vec16 xv = load16(x + i);
        Vec16 gv = load16(g + i);
        if (f.relu) gv = relu_mask(xv, load16(f.a + c), load16(f.b + c), gv);
        t1 += gv;
        t2 += gv * (xv - load16(mean + c));
    });
}

void bn_apply(const float* x, float* y, int64_t M, int64_t C, BnAffine f) {
    if (C % 16) return bn_apply_ref(x, y, M, C, f);
#pragma omp parallel for if (M * C >= kParallelGrain)
    for (int64_t r = 0; r < M; ++r)
        for (int64_t c = 0; c < C; c += 16) {
            Vec16 v = load16(x + r * C + c) * load16(f.a + c) + load16(f.b + c);
            if (f.relu) v = v > 0.f ? v : Vec16{};
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
            Vec16 gv = load16(g + i);
            if (f.relu) gv = relu_mask(xv, load16(f.a + c), load16(f.b + c), gv);
            store16(dx + i, load16(k1 + c) * gv + load16(k2 + c) + load16(k3 + c) * (xv - load16(mean + c)));
        }
}

}  // namespace tern::kernels
