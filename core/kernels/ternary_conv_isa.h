// core/kernels/ternary_conv_isa.h — the contract between ternary_conv.cpp (packing, threads, padding) and the
// per-instruction-set loops in ternary_conv_avx512.cpp / ternary_conv_avx2.cpp. Internal to core/kernels.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/kernels/ternary_conv.h"

namespace tern::kernels::ternary {

// Everything that is fixed for one call of ternary_conv.
struct ConvJob {
    TernaryConvShape s;
    const PackedTernaryWeights* w;
    Epilogue e;
    const float* a;           // scale per output channel, padded with 1 to a multiple of 16 (all 1 when null)
    const float* b;           // bias, padded with 0 (all 0 when null)
    const int32_t* step_off;  // 4·chunks offsets: where step t reads, in bytes from the corner of a window
    int64_t pitch;            // bytes from one input row to the next (in the padded copy, or in x itself)
    void* out;                // (N, OH, OW, OC)
};

// Computes output rows [oh0, oh1) of image n for output-channel blocks [ob0, ob1) (16 channels each). `rows`
// holds image n's input rows in padded coordinates (row 0 = input row −pad) from row prow0 on, so the window of
// output pixel (oh, ow) starts at rows + (oh·stride − prow0)·pitch + ow·stride·C.
using RowsFn = void (*)(const ConvJob& job, const uint8_t* rows, int64_t prow0, int64_t n, int64_t oh0,
                        int64_t oh1, int64_t ob0, int64_t ob1);
void conv_rows_avx512(const ConvJob&, const uint8_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
void conv_rows_avx2(const ConvJob&, const uint8_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

// Throws tern::Error unless the weights match the shape and the epilogue is valid.
void check_args(const TernaryConvShape& s, const PackedTernaryWeights& w, const Epilogue& e);

// The epilogue for one sum: the definition the SIMD epilogues reproduce operation for operation.
// `i` is the element's index in out (and in residual).
inline void store_one(const Epilogue& e, int32_t acc, int64_t oc, int64_t i, void* out) {
    if (e.kind == Epilogue::Int32) {
        static_cast<int32_t*>(out)[i] = acc;
        return;
    }
    const float a = e.scale ? e.scale[oc] : 1.f, b = e.bias ? e.bias[oc] : 0.f;
    float v = std::fmaf(a, float(acc), b);  // one rounding, like the SIMD FMA
    if (e.kind == Epilogue::Float) {
        if (e.residual) v = v + e.residual[i];
        if (e.relu) v = v > 0.f ? v : 0.f;  // as vmaxps(v, 0): −0 and NaN become +0
        static_cast<float*>(out)[i] = v;
        return;
    }
    v = v * e.out_inv_step;
    v = v > 0.f ? v : 0.f;  // clamp before rounding: the same result, as 0 and qmax are integers
    v = v < float(e.qmax) ? v : float(e.qmax);
    static_cast<uint8_t*>(out)[i] = uint8_t(std::nearbyint(v));  // half to even (the default rounding mode)
}

}  // namespace tern::kernels::ternary
