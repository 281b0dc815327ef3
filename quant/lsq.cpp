// quant/lsq.cpp — LSQ forward and backward (equations in lsq.h).
#include "quant/lsq.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/fake_quantize.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace tern {

LsqQuantizer::LsqQuantizer(int bits) : bits_(bits) {
    TERN_CHECK(bits >= 2 && bits <= 8, "LSQ: activation bits must be in [2, 8], got " << bits);
    s = Tensor::ones({1});
    signed_ = Tensor::zeros({1});
    bits_buffer_ = Tensor::full({1}, float(bits));
    register_parameter("step", &s);
    register_buffer("signed", &signed_);
    register_buffer("bits", &bits_buffer_);
}

void LsqQuantizer::check_bits() const {
    TERN_CHECK(loaded_bits() == bits_, "LSQ: the loaded state was trained with " << loaded_bits()
                                           << "-bit activations, this quantizer has " << bits_
                                           << " bits (train_cifar: match --act-bits / --act-bits-last)");
}

bool LsqQuantizer::set_bits(int bits) {
    TERN_CHECK(bits >= 2 && bits <= 8, "LSQ: activation bits must be in [2, 8], got " << bits);
    if (bits == bits_ && loaded_bits() == bits) return false;
    bits_ = bits;
    bits_buffer_.fill_(float(bits));
    signed_.fill_(0.f);  // uninitialized: the next forward sets signedness and s from its batch
    return true;
}

double LsqQuantizer::grad_scale(const Shape& shape) const {
    const int64_t per_sample = shape.empty() ? 1 : shape_numel(shape) / std::max<int64_t>(1, shape[0]);
    return 1.0 / std::sqrt(double(per_sample) * double(qp()));
}

bool LsqQuantizer::fusion_params(const Shape& input_shape, Params& p) {
    if (!enabled || !initialized()) return false;  // the first batch initializes s from the unquantized input
    check_bits();
    p.step = s;
    p.lo = -float(qn()), p.hi = float(qp());
    p.grad_scale = float(grad_scale(input_shape));
    return true;
}

Tensor LsqQuantizer::forward(const Tensor& v_in) {
    if (!enabled) return v_in;
    check_bits();
    if (fused_output_.defined()) {  // the producer quantized it already (in its own pass, with our s)
        const bool same = fused_output_.impl() == v_in.impl();
        fused_output_ = Tensor();
        if (same) return v_in;
    }
    ProfileScope scope(OpKind::Quantizer);
    const Tensor v = contiguous_data(v_in);
    const float* pv = v.data();
    const int64_t n = v.numel();
    TERN_CHECK(n > 0 && v.dim() >= 1, "LSQ: empty input");
    if (!initialized()) {  // first batch: signedness and s = 2·mean|v|/√Q_P
        double sum_abs = 0;
        bool negative = false;
        for (int64_t i = 0; i < n; ++i) sum_abs += std::fabs(pv[i]), negative = negative || pv[i] < 0.f;
        signed_.fill_(negative ? 1.f : -1.f);
        const double mean_abs = sum_abs / double(n);
        s.fill_(float(std::max(2.0 * mean_abs / std::sqrt(double(qp())), 1e-8)));
    }
    const float step = s.item(), lo = -float(qn()), hi = float(qp());
    TERN_CHECK(step > 0.f && std::isfinite(step), "LSQ: the step size became " << step << " (diverged?)");
    Tensor out = Tensor::empty(v.shape());
    float* po = out.data();
    const kernels::FakeQuant fq = kernels::make_fake_quant(step, lo, hi);
#pragma omp parallel for simd if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) po[i] = kernels::fake_quantize(pv[i], fq);

    record(out, "lsq", {v_in, s}, [v = v.detach(), fq, grad_scale = grad_scale(v.shape())](const Tensor& g) {
        ProfileScope scope(OpKind::Quantizer);
        const int64_t n = v.numel();
        Tensor gv = Tensor::empty(v.shape());
        const float *pv = v.data(), *pg = g.data();
        float* pgv = gv.data();
        double gs = 0;
        constexpr int64_t kChunk = 16384;  // elements per task: vector loops inside, threads across
#pragma omp parallel for reduction(+ : gs) schedule(static) if (n >= kParallelGrain)
        for (int64_t b = 0; b < n; b += kChunk)
            gs += kernels::fake_quantize_backward(pv + b, pg + b, pgv + b, std::min(kChunk, n - b), fq);
        return std::vector<Tensor>{gv, Tensor::full({1}, float(gs * grad_scale))};
    });
    return out;
}

nlohmann::json LsqQuantizer::stats() const {
    return {{"bits", bits_}, {"signed", is_signed()}, {"step", step()}, {"levels", qn() + qp() + 1}};
}

}  // namespace tern
