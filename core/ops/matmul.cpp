// core/ops/matmul.cpp — matmul and linear, forward and backward, each a few sgemm calls.
#include "core/ops/matmul.h"

#include <cblas.h>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops/reduce.h"
#include "core/profiler.h"

namespace tern {

// C (M, N) = op(A) · op(B), row-major; op transposes when the flag is set. A is (M, K) or (K, M) if ta.
static void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N),
                int(K), 1.f, A, int(ta ? M : K), B, int(tb ? K : N), 0.f, C, int(N));
}

// y = a · b;   ∂L/∂a = ∂L/∂y · bᵀ,   ∂L/∂b = aᵀ · ∂L/∂y
Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
    TERN_CHECK(a_in.dim() == 2 && b_in.dim() == 2 && a_in.size(1) == b_in.size(0),
               "matmul: cannot multiply " << a_in.shape_str() << " by " << b_in.shape_str());
    const Tensor a = contiguous_data(a_in), b = contiguous_data(b_in);
    const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
    Tensor y = Tensor::empty({M, N});
    {
        ProfileScope scope(OpKind::Linear);
        gemm(false, false, M, N, K, a.data(), b.data(), y.data());
    }
    record(y, "matmul", {a_in, b_in}, [a = a.detach(), b = b.detach(), M, N, K](const Tensor& gy) {
        ProfileScope scope(OpKind::Linear);
        Tensor ga = Tensor::empty({M, K}), gb = Tensor::empty({K, N});
        gemm(false, true, M, K, N, gy.data(), b.data(), ga.data());  // (M,N)·(N,K)
        gemm(true, false, K, N, M, a.data(), gy.data(), gb.data());  // (K,M)·(M,N)
        return std::vector<Tensor>{ga, gb};
    });
    return y;
}

// y = x · wᵀ + b;   ∂L/∂x = ∂L/∂y · w,   ∂L/∂w = ∂L/∂yᵀ · x,   ∂L/∂b = Σ_rows ∂L/∂y
Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& bias) {
    TERN_CHECK(x_in.dim() == 2 && w_in.dim() == 2 && x_in.size(1) == w_in.size(1),
               "linear: input " << x_in.shape_str() << " does not match weight " << w_in.shape_str()
                                << " (expected (N, in) and (out, in))");
    const Tensor x = contiguous_data(x_in), w = contiguous_data(w_in);
    const int64_t N = x.size(0), IN = x.size(1), OUT = w.size(0);
    TERN_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == OUT),
               "linear: bias must be (" << OUT << ",), got " << bias.shape_str());
    Tensor y = Tensor::empty({N, OUT});
    {
        ProfileScope scope(OpKind::Linear);
        gemm(false, true, N, OUT, IN, x.data(), w.data(), y.data());
        if (bias.defined()) {
            const float* pb = contiguous_data(bias).data();
            float* py = y.data();
            for (int64_t i = 0; i < N; ++i)
                for (int64_t j = 0; j < OUT; ++j) py[i * OUT + j] += pb[j];
        }
    }
    const bool need_dx = x_in.requires_grad();
    record(y, "linear", {x_in, w_in, bias}, [x = x.detach(), w = w.detach(), N, IN, OUT, need_dx,
                                             has_bias = bias.defined()](const Tensor& gy) {
        ProfileScope scope(OpKind::Linear);
        Tensor gx, gw = Tensor::empty({OUT, IN}), gb;
        if (need_dx) {
            gx = Tensor::empty({N, IN});
            gemm(false, false, N, IN, OUT, gy.data(), w.data(), gx.data());  // (N,OUT)·(OUT,IN)
        }
        gemm(true, false, OUT, IN, N, gy.data(), x.data(), gw.data());  // (OUT,N)·(N,IN)
        if (has_bias) gb = sum(gy, {0});
        return std::vector<Tensor>{gx, gw, gb};
    });
    return y;
}

}  // namespace tern
