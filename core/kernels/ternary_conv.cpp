// core/kernels/ternary_conv.cpp — packing of ternary weights, the choice of instruction set, and the part of
// the fast convolution that is the same for every instruction set: threads, padding, per-call tables.
//
// Threads: the output is N images × OH rows × ⌈OC/16⌉ channel blocks, cut into about 8 work items per thread
// (whole images for large batches; row ranges, and channel ranges when rows are few, as for ResNet-18's 7×7
// layers at batch 1 or a fully-connected layer) and handed out dynamically.
// Padding: each thread copies the input rows its output rows read into a scratch buffer bordered with
// `pad_value` (and a few bytes of slack: the last step of a window may read up to 3 bytes past it, with zero
// weight). Then no kernel ever tests a bound. The borders are written once per call, so an image costs one
// memcpy per input row. Without padding (1×1 and strided 1×1 convolutions, linear layers)
// and with KW·C a multiple of 4, the kernels read x directly.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernels/ternary_conv.h"
#include "core/kernels/ternary_conv_isa.h"

namespace tern::kernels {

TernaryConvShape TernaryConvShape::make(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OC, int64_t KH,
                                        int64_t KW, int64_t stride, int64_t pad) {
    TERN_CHECK(N >= 1 && H >= 1 && W >= 1 && C >= 1 && OC >= 1 && KH >= 1 && KW >= 1 && stride >= 1 && pad >= 0,
               "ternary_conv: bad shape N" << N << " H" << H << " W" << W << " C" << C << " OC" << OC << " K" << KH
                                           << "x" << KW << " stride " << stride << " pad " << pad);
    TERN_CHECK(H + 2 * pad >= KH && W + 2 * pad >= KW,
               "ternary_conv: kernel " << KH << "x" << KW << " larger than the padded input " << H + 2 * pad << "x"
                                       << W + 2 * pad);
    return {N, H, W, C, OC, KH, KW, stride, pad, (H + 2 * pad - KH) / stride + 1, (W + 2 * pad - KW) / stride + 1};
}

// ---- packing ---------------------------------------------------------------------------------------------------
namespace {
// Where the weight (oc, c, kh, kw) lives: byte index in bits, and the field's shift inside that byte.
struct Slot {
    size_t byte;
    int shift;
};
Slot slot(const PackedTernaryWeights& p, int64_t oc, int64_t c, int64_t kh, int64_t kw) {
    const int64_t k = kw * p.C + c;                  // byte of the kernel row's run
    const int64_t t = kh * p.row_steps + k / 4;      // step
    const int64_t chunk = (oc / 16) * p.chunks + t / 4;
    return {size_t(chunk * 64 + 4 * (oc % 16) + k % 4), int(2 * (t % 4))};
}
}  // namespace

PackedTernaryWeights PackedTernaryWeights::pack(const int8_t* codes, int64_t OC, int64_t C, int64_t KH, int64_t KW) {
    TERN_CHECK(OC >= 1 && C >= 1 && KH >= 1 && KW >= 1,
               "ternary weights: bad shape (" << OC << ", " << C << ", " << KH << ", " << KW << ")");
    PackedTernaryWeights p;
    p.OC = OC, p.C = C, p.KH = KH, p.KW = KW;
    p.row_steps = (KW * C + 3) / 4;
    p.chunks = (KH * p.row_steps + 3) / 4;
    p.bits.assign(size_t(p.oc_blocks() * p.chunks * 64), 0);  // every field 0: weight 0
    for (int64_t oc = 0; oc < OC; ++oc)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw) {
                    const int8_t v = codes[((oc * C + c) * KH + kh) * KW + kw];
                    TERN_CHECK(v >= -1 && v <= 1, "ternary weights: code " << int(v) << " is not in {-1, 0, 1}");
                    const Slot at = slot(p, oc, c, kh, kw);
                    const int code = v == 0 ? 0 : v > 0 ? 1 : 3;  // (bit 0: w ≠ 0, bit 1: w < 0)
                    p.bits[at.byte] = uint8_t(p.bits[at.byte] | code << at.shift);
                }
    return p;
}

std::vector<int8_t> PackedTernaryWeights::codes() const {
    std::vector<int8_t> out(size_t(OC * C * KH * KW));
    for (int64_t oc = 0; oc < OC; ++oc)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw) {
                    const Slot at = slot(*this, oc, c, kh, kw);
                    const int code = (bits[at.byte] >> at.shift) & 3;
                    TERN_CHECK(code != 2, "ternary weights: invalid code 2 (−0) at (" << oc << ", " << c << ", "
                                                                                  << kh << ", " << kw << ")");
                    out[size_t(((oc * C + c) * KH + kh) * KW + kw)] = int8_t(code == 0 ? 0 : code == 1 ? 1 : -1);
                }
    return out;
}

// ---- instruction sets -----------------------------------------------------------------------------------------
bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return true;
        case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case Isa::Avx512Vnni:  // GFNI unpacks the weights (Ice Lake and later, Zen 4)
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
                   __builtin_cpu_supports("gfni");
    }
    return false;
}

Isa best_isa() {
    for (Isa isa : {Isa::Avx512Vnni, Isa::Avx2})
        if (isa_supported(isa)) return isa;
    return Isa::Scalar;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return "scalar";
        case Isa::Avx2: return "avx2";
        case Isa::Avx512Vnni: return "avx512";
    }
    return "?";
}

namespace {
Isa initial_isa() {
    const char* env = std::getenv("TERN_ISA");
    if (!env || !*env) return best_isa();
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni})
        if (std::string(env) == isa_name(isa)) {
            TERN_CHECK(isa_supported(isa), "TERN_ISA=" << env << ": this CPU does not support it");
            return isa;
        }
    TERN_FAIL("TERN_ISA=" << env << ": expected scalar, avx2 or avx512");
}
Isa& current_isa() {
    static Isa isa = initial_isa();
    return isa;
}
}  // namespace

Isa active_isa() { return current_isa(); }

void force_isa(Isa isa) {
    TERN_CHECK(isa_supported(isa), "force_isa: this CPU does not support " << isa_name(isa));
    current_isa() = isa;
}

void ternary::check_args(const TernaryConvShape& s, const PackedTernaryWeights& w, const Epilogue& e) {
    TERN_CHECK(w.OC == s.OC && w.C == s.C && w.KH == s.KH && w.KW == s.KW,
               "ternary_conv: weights (" << w.OC << ", " << w.C << ", " << w.KH << ", " << w.KW
                                         << ") do not match the shape (" << s.OC << ", " << s.C << ", " << s.KH
                                         << ", " << s.KW << ")");
    TERN_CHECK(e.kind != Epilogue::Uint8 || (e.qmax >= 1 && e.qmax <= 255),
               "ternary_conv: qmax " << e.qmax << " is not in 1 … 255");
    TERN_CHECK(e.kind == Epilogue::Float || (!e.residual && !e.relu),
               "ternary_conv: residual and relu apply to the Float epilogue only");
}

// ---- the fast convolution ----------------------------------------------------------------------------------------
void ternary_conv(const TernaryConvShape& s, const uint8_t* x, uint8_t pad_value, const PackedTernaryWeights& w,
                  const Epilogue& e, void* out) {
    const Isa isa = active_isa();
    if (isa == Isa::Scalar) return ternary_conv_ref(s, x, pad_value, w, e, out);
    ternary::check_args(s, w, e);
    const ternary::RowsFn rows_fn = isa == Isa::Avx512Vnni ? ternary::conv_rows_avx512 : ternary::conv_rows_avx2;

    // Per-call tables: padded scale and bias, and the offsets of the steps.
    const int64_t ocb = w.oc_blocks();
    std::vector<float> a(size_t(ocb * 16), 1.f), b(size_t(ocb * 16), 0.f);
    for (int64_t oc = 0; oc < s.OC; ++oc) {
        if (e.scale) a[size_t(oc)] = e.scale[oc];
        if (e.bias) b[size_t(oc)] = e.bias[oc];
    }
    // Padded rows are Wp pixels wide: the left padding, the image, and on the right enough to hold the windows
    // of the last output column (at least `pad`).
    const bool direct = s.pad == 0 && (s.KW * s.C) % 4 == 0;
    const int64_t pad_r = std::max<int64_t>(s.pad, (s.OW - 1) * s.stride + s.KW - s.W - s.pad);
    const int64_t Wp = direct ? s.W : s.pad + s.W + pad_r;
    const int64_t pitch = Wp * s.C;
    std::vector<int32_t> step_off(size_t(w.chunks * 4), 0);  // steps past the last: offset 0, weight 0
    for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t j = 0; j < w.row_steps; ++j) step_off[size_t(kh * w.row_steps + j)] = int32_t(kh * pitch + 4 * j);
    const ternary::ConvJob job{s, &w, e, a.data(), b.data(), step_off.data(), pitch, out};

    // Work items: (image, range of output rows, range of channel blocks), handed out dynamically. Whole images
    // when the batch is large; otherwise each image's rows, and if need be its channel blocks, are cut so that
    // there are about 8 items per thread. Dynamic scheduling also keeps both cores busy when another program
    // takes part of one.
    const int T = omp_get_max_threads();
    const int64_t target = 8 * T;
    const int64_t row_parts = std::min(s.OH, (target + s.N - 1) / s.N);
    const int64_t oc_parts = std::min(ocb, (target + s.N * row_parts - 1) / (s.N * row_parts));
    const int64_t items = s.N * row_parts * oc_parts;
    const int64_t max_rows = (s.OH + row_parts - 1) / row_parts;  // output rows in an item, at most
    const int64_t max_in_rows = (max_rows - 1) * s.stride + s.KH;   // input rows they read

#pragma omp parallel num_threads(T)
    {
        // The scratch lives as long as the thread: no allocation (and no page faults) per call. It holds one
        // item's padded input rows. The left and right borders are written once here; per item only the rows
        // between them are copied.
        static thread_local std::vector<uint8_t> scratch;
        if (!direct) {
            if (scratch.size() < size_t(max_in_rows * pitch + 64)) scratch.resize(size_t(max_in_rows * pitch + 64));
            for (int64_t r = 0; r < max_in_rows; ++r) {
                uint8_t* row = scratch.data() + r * pitch;
                std::memset(row, pad_value, size_t(s.pad * s.C));
                std::memset(row + (s.pad + s.W) * s.C, pad_value, size_t(pad_r * s.C));
            }
            std::memset(scratch.data() + max_in_rows * pitch, 0, 64);  // slack, read with zero weight
        }
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t item = 0; item < items; ++item) {
            // Channel range outermost: consecutive items of a thread share their weights.
            const int64_t rp = item % row_parts, n = item / row_parts % s.N, o = item / (row_parts * s.N);
            const int64_t oh0 = s.OH * rp / row_parts, oh1 = s.OH * (rp + 1) / row_parts;
            const int64_t ob0 = ocb * o / oc_parts, ob1 = ocb * (o + 1) / oc_parts;
            const uint8_t* image = x + n * s.H * s.W * s.C;
            if (direct) {
                rows_fn(job, image, 0, n, oh0, oh1, ob0, ob1);
                continue;
            }
            // Padded rows prow0 … (input rows prow0 − pad …): pad_value above and below the image.
            const int64_t prow0 = oh0 * s.stride, nrows = (oh1 - 1 - oh0) * s.stride + s.KH;
            for (int64_t r = 0; r < nrows; ++r) {
                uint8_t* dst = scratch.data() + r * pitch;
                const int64_t ih = prow0 + r - s.pad;
                if (ih < 0 || ih >= s.H) std::memset(dst, pad_value, size_t(pitch));
                else std::memcpy(dst + s.pad * s.C, image + ih * s.W * s.C, size_t(s.W * s.C));
            }
            rows_fn(job, scratch.data(), prow0, n, oh0, oh1, ob0, ob1);
        }
    }
}

void ternary_linear(int64_t N, const uint8_t* x, const PackedTernaryWeights& w, const Epilogue& e, void* out) {
    TERN_CHECK(w.KH == 1 && w.KW == 1, "ternary_linear: weights must be (OC, C, 1, 1)");
    ternary_conv(TernaryConvShape::make(1, 1, N, w.C, w.OC, 1, 1, 1, 0), x, 0, w, e, out);
}

}  // namespace tern::kernels
