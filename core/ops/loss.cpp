// core/ops/loss.cpp — log_softmax and cross_entropy, forward beside backward.
#include "core/ops/loss.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/profiler.h"

namespace tern {

// Writes log softmax of each row of x (rows × K) into y.
static void log_softmax_rows(const float* x, float* y, int64_t rows, int64_t K) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * K;
        float mx = xr[0];
        for (int64_t k = 1; k < K; ++k) mx = std::max(mx, xr[k]);
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += std::exp(double(xr[k] - mx));
        const float lse = mx + float(std::log(s));
        for (int64_t k = 0; k < K; ++k) y[r * K + k] = xr[k] - lse;
    }
}

// y = x − logsumexp(x);   ∂L/∂x = g − softmax(x)·Σ_k g_k   (per row)
Tensor log_softmax(const Tensor& x_in) {
    ProfileScope scope(OpKind::Loss);
    TERN_CHECK(x_in.dim() >= 1, "log_softmax: needs at least one dimension");
    const Tensor x = contiguous_data(x_in);
    const int64_t K = x.size(-1), rows = x.numel() / K;
    Tensor y = Tensor::empty(x.shape());
    log_softmax_rows(x.data(), y.data(), rows, K);
    record(y, "log_softmax", {x_in}, [y = y.detach(), rows, K](const Tensor& g) {
        Tensor gx = Tensor::empty(y.shape());
        const float *py = y.data(), *pg = g.data();
        float* pgx = gx.data();
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += pg[r * K + k];
            for (int64_t k = 0; k < K; ++k) pgx[r * K + k] = pg[r * K + k] - std::exp(py[r * K + k]) * float(s);
        }
        return std::vector<Tensor>{gx};
    });
    return y;
}

Tensor cross_entropy(const Tensor& logits_in, const std::vector<int32_t>& labels, float eps) {
    ProfileScope scope(OpKind::Loss);
    TERN_CHECK(logits_in.dim() == 2, "cross_entropy: logits must be (N, K), got " << logits_in.shape_str());
    const Tensor logits = contiguous_data(logits_in);
    const int64_t N = logits.size(0), K = logits.size(1);
    TERN_CHECK(int64_t(labels.size()) == N, "cross_entropy: " << labels.size() << " labels for " << N << " rows");
    TERN_CHECK(eps >= 0.f && eps < 1.f, "cross_entropy: label smoothing must be in [0, 1), got " << eps);
    Tensor logp = Tensor::empty({N, K});
    log_softmax_rows(logits.data(), logp.data(), N, K);
    const float* lp = logp.data();
    double loss = 0;
    for (int64_t n = 0; n < N; ++n) {
        TERN_CHECK(labels[n] >= 0 && labels[n] < K, "cross_entropy: label " << labels[n] << " of row " << n
                                                                            << " is outside [0, " << K << ")");
        double row = -(1.0 - eps) * lp[n * K + labels[n]];
        if (eps > 0.f) {
            double all = 0;
            for (int64_t k = 0; k < K; ++k) all += lp[n * K + k];
            row -= double(eps) / double(K) * all;
        }
        loss += row;
    }
    Tensor out = Tensor::scalar(float(loss / double(N)));
    // ∂L/∂x_nk = (softmax_nk − q_nk) / N · ∂L/∂out
    record(out, "cross_entropy", {logits_in}, [logp = logp.detach(), labels, eps, N, K](const Tensor& g) {
        const float scale = g.item() / float(N);
        Tensor gx = Tensor::empty({N, K});
        const float* lp = logp.data();
        float* p = gx.data();
        for (int64_t n = 0; n < N; ++n)
            for (int64_t k = 0; k < K; ++k) {
                const float q = (k == labels[n] ? 1.f - eps : 0.f) + eps / float(K);
                p[n * K + k] = (std::exp(lp[n * K + k]) - q) * scale;
            }
        return std::vector<Tensor>{gx};
    });
    return out;
}

Tensor distillation_loss(const Tensor& student_in, const Tensor& teacher_in, float T) {
    ProfileScope scope(OpKind::Loss);
    TERN_CHECK(student_in.dim() == 2 && student_in.shape() == teacher_in.shape(),
               "distillation_loss: student " << student_in.shape_str() << " and teacher " << teacher_in.shape_str()
                                             << " logits must both be (N, K)");
    TERN_CHECK(T > 0.f && std::isfinite(T), "distillation_loss: the temperature must be > 0, got " << T);
    const Tensor s = contiguous_data(student_in), t = contiguous_data(teacher_in);
    const int64_t N = s.size(0), K = s.size(1);
    // log q = log_softmax(s / T), log p = log_softmax(t / T)   (N, K)
    Tensor logq = Tensor::empty({N, K}), logp = Tensor::empty({N, K});
    {
        std::vector<float> scaled(size_t(N * K));
        for (int64_t i = 0; i < N * K; ++i) scaled[size_t(i)] = s.data()[i] / T;
        log_softmax_rows(scaled.data(), logq.data(), N, K);
        for (int64_t i = 0; i < N * K; ++i) scaled[size_t(i)] = t.data()[i] / T;
        log_softmax_rows(scaled.data(), logp.data(), N, K);
    }
    const float *lq = logq.data(), *lp = logp.data();
    double kl = 0;  // Σ_n Σ_k p_nk (log p_nk − log q_nk)
    for (int64_t i = 0; i < N * K; ++i) kl += std::exp(double(lp[i])) * (double(lp[i]) - double(lq[i]));
    Tensor out = Tensor::scalar(float(double(T) * T * kl / double(N)));
    // ∂L/∂s_nk = T · (q_nk − p_nk) / N · ∂L/∂out
    record(out, "distillation_loss", {student_in}, [logq = logq.detach(), logp = logp.detach(), T, N, K](const Tensor& g) {
        const float scale = g.item() * T / float(N);
        Tensor gs = Tensor::empty({N, K});
        const float *lq = logq.data(), *lp = logp.data();
        float* p = gs.data();
        for (int64_t i = 0; i < N * K; ++i) p[i] = (std::exp(lq[i]) - std::exp(lp[i])) * scale;
        return std::vector<Tensor>{gs};
    });
    return out;
}

int64_t count_correct(const Tensor& logits_in, const std::vector<int32_t>& labels) {
    const Tensor logits = contiguous_data(logits_in);
    const int64_t N = logits.size(0), K = logits.size(1);
    int64_t correct = 0;
    for (int64_t n = 0; n < N; ++n) {
        const float* row = logits.data() + n * K;
        int64_t best = 0;
        for (int64_t k = 1; k < K; ++k)
            if (row[k] > row[best]) best = k;
        correct += best == labels[n];
    }
    return correct;
}

}  // namespace tern
