// quant/l2_normalize.cpp — row-wise L2 normalization and the Eq. (21) Jacobian, in double per row.
#include "quant/l2_normalize.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/double_sum.h"
#include "core/profiler.h"

namespace tern {

namespace {
double row_norm(const float* w, int64_t n) {
    return std::sqrt(kernels::double_sum(n, [w](int64_t i) { return double(w[i]) * w[i]; }));
}
}  // namespace

Tensor l2_normalize_backward(const Tensor& w_in, const Tensor& g_in) {
    const Tensor w = contiguous_data(w_in), g = contiguous_data(g_in);
    TERN_CHECK(w.shape() == g.shape() && w.dim() >= 1, "l2_normalize_backward: shapes differ");
    const int64_t rows = w.size(0), n = w.numel() / rows;
    Tensor out = Tensor::empty(w.shape());
    for (int64_t r = 0; r < rows; ++r) {
        const float *wr = w.data() + r * n, *gr = g.data() + r * n;
        float* o = out.data() + r * n;
        const double norm = row_norm(wr, n);
        if (norm == 0) {
            for (int64_t i = 0; i < n; ++i) o[i] = 0.f;
            continue;
        }
        const double dot = kernels::double_sum(n, [wr, gr](int64_t i) { return double(wr[i]) * gr[i]; }) / norm;  // w̃·g
        const double inv = 1.0 / norm, w_scale = dot / (norm * norm);
        for (int64_t i = 0; i < n; ++i) o[i] = float(gr[i] * inv - double(wr[i]) * w_scale);  // Eq. (21)
    }
    return out;
}

Tensor l2_normalize_rows(const Tensor& w_in) {
    ProfileScope scope(OpKind::Quantizer);
    TERN_CHECK(w_in.dim() >= 1 && w_in.numel() > 0, "l2_normalize_rows: needs a non-empty weight");
    const Tensor w = contiguous_data(w_in);
    const int64_t rows = w.size(0), n = w.numel() / rows;
    Tensor out = Tensor::empty(w.shape());
    for (int64_t r = 0; r < rows; ++r) {
        const float* wr = w.data() + r * n;
        const double norm = row_norm(wr, n);
        const float inv = norm > 0 ? float(1.0 / norm) : 0.f;
        for (int64_t i = 0; i < n; ++i) out.data()[r * n + i] = wr[i] * inv;  // Eq. (17)
    }
    record(out, "l2_normalize_rows", {w_in}, [w = w.detach()](const Tensor& g) {
        return std::vector<Tensor>{l2_normalize_backward(w, g)};
    });
    return out;
}

Tensor refined_ste(const Tensor& w_in, const Tensor& forward_value) {
    TERN_CHECK(w_in.shape() == forward_value.shape(), "refined_ste: shapes differ");
    Tensor out = contiguous_data(forward_value).detach();  // the value, without its own history
    record(out, "ptq_refined_ste", {w_in}, [w = contiguous_data(w_in).detach()](const Tensor& g) {
        return std::vector<Tensor>{l2_normalize_backward(w, g)};  // Eq. (24): ∂E/∂w ≈ ∂E/∂ŵ · M_w
    });
    return out;
}

}  // namespace tern
