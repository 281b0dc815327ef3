// core/kernels/ternary_conv.h — integer convolution with ternary weights, for the packed inference engine.
//
// Inference only. Activations are uint8 codes, NHWC; weights are ternary {−1, 0, +1}, stored 2 bits each; the
// sums are exact int32, and a fused epilogue turns each sum into the layer's output (int32, float or uint8):
//   acc[n, oh, ow, oc] = Σ_{kh, kw, c} x[n, oh·stride + kh − pad, ow·stride + kw − pad, c] · w[oc, c, kh, kw]
//   OH = (H + 2·pad − KH) / stride + 1          positions outside x read as `pad_value`
// (the engine stores signed data with a +128 offset and pads with 128, so that padding means "zero").
//
// ternary_conv_ref.cpp is the definition (plain loops). ternary_conv.cpp packs the weights, chooses the
// instruction set and runs the threads; ternary_conv_avx512.cpp / ternary_conv_avx2.cpp are the fast loops
// (tests/test_ternary_conv.cpp checks them against the reference bit for bit; apps/bench_ternary_conv measures).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tern::kernels {

struct TernaryConvShape {
    int64_t N, H, W, C;     // input x (N, H, W, C) uint8
    int64_t OC, KH, KW;     // weights (OC, C, KH, KW) ternary
    int64_t stride, pad;    // the same in both directions
    int64_t OH, OW;         // output (N, OH, OW, OC)

    static TernaryConvShape make(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OC, int64_t KH, int64_t KW,
                                 int64_t stride, int64_t pad);
    double macs() const { return double(N) * OH * OW * OC * C * KH * KW; }
};

// The weights of one layer, 2 bits each, in the order the kernels read them.
//   The reduction of one output pixel runs over (kh, kw, c). For a fixed kh the bytes (kw, c) of the input
//   window are contiguous in NHWC, so each kernel row is one run of KW·C input bytes, cut into "steps" of 4
//   bytes (the last one zero-weighted past KW·C): steps = KH · ⌈KW·C / 4⌉.
//   bits = [OC/16 blocks][chunks = ⌈steps/4⌉][64 bytes]. In a chunk, byte 4·o + b (o < 16: output channel
//   16·block + o; b < 4: byte b of a step) holds 4 fields of 2 bits; field f (bits 2f, 2f+1) is the weight of
//   step 4·chunk + f in sign-magnitude: bit 0 = (w ≠ 0), bit 1 = (w < 0), so 0 → 00, +1 → 01, −1 → 11.
//   Padding (output channels past OC, bytes past a row, steps past the last) is 00: weight 0. So each field
//   position of a chunk is one step of 16 output channels × 4 input bytes: exactly the 64 signed bytes one
//   `vpdpbusd` multiplies, once unpacked (ternary_conv_avx512.cpp does it with one GFNI instruction).
//   Size: ⌈OC/16⌉ · ⌈KH·⌈KW·C/4⌉/4⌉ · 64 bytes — 2 bits per weight plus padding to those multiples.
struct PackedTernaryWeights {
    int64_t OC = 0, C = 0, KH = 0, KW = 0;
    int64_t row_steps = 0;   // ⌈KW·C / 4⌉ steps per kernel row
    int64_t chunks = 0;      // ⌈KH·row_steps / 4⌉ chunks of 64 bytes per block of 16 output channels
    std::vector<uint8_t> bits;

    // codes: (OC, C, KH, KW) int8 in {−1, 0, 1} (PyTorch's weight layout).
    static PackedTernaryWeights pack(const int8_t* codes, int64_t OC, int64_t C, int64_t KH, int64_t KW);
    std::vector<int8_t> codes() const;  // unpacks back to (OC, C, KH, KW)
    size_t bytes() const { return bits.size(); }
    int64_t oc_blocks() const { return (OC + 15) / 16; }
};

// What happens to each int32 sum acc[n, oh, ow, oc] before it is stored (fused: applied to each block of sums
// as soon as it is computed, so the int32 sums never make a pass through memory):
//   Int32:  out_i32 = acc
//   Float:  out_f32 = fmaf(a, float(acc), b)  (+ residual)  (then max(·, 0) when relu)
//   Uint8:  out_u8  = clamp(round_half_even(fmaf(a, float(acc), b) · out_inv_step), 0, qmax)
// a = scale[oc] (1 when null), b = bias[oc] (0 when null). This float order is part of the contract: the
// reference and the SIMD kernels use the same operations (fmaf / an FMA instruction, then one multiply, round
// half to even), so they agree bit for bit.
struct Epilogue {
    enum Kind { Int32, Float, Uint8 } kind = Int32;
    const float* scale = nullptr;     // per output channel a[oc]
    const float* bias = nullptr;      // per output channel b[oc]
    const float* residual = nullptr;  // Float only: optional float NHWC tensor of the output's shape
    bool relu = false;                // Float only
    float out_inv_step = 1.f;         // Uint8: 1 / the output quantizer's step
    int qmax = 255;                   // Uint8: 1 … 255
};

// x (N, H, W, C) uint8; out (N, OH, OW, OC) of int32, float or uint8 by e.kind.
void ternary_conv_ref(const TernaryConvShape& s, const uint8_t* x, uint8_t pad_value, const PackedTernaryWeights& w,
                      const Epilogue& e, void* out);
void ternary_conv(const TernaryConvShape& s, const uint8_t* x, uint8_t pad_value, const PackedTernaryWeights& w,
                  const Epilogue& e, void* out);  // the fastest kernel for this CPU (see Isa)

// Fully-connected: x (N, C) uint8, w packed from (OC, C, 1, 1), out (N, OC); residual (N, OC). It is the 1×1
// convolution of a 1 × N image.
void ternary_linear_ref(int64_t N, const uint8_t* x, const PackedTernaryWeights& w, const Epilogue& e, void* out);
void ternary_linear(int64_t N, const uint8_t* x, const PackedTernaryWeights& w, const Epilogue& e, void* out);

// Instruction sets. ternary_conv uses the best one the CPU supports, or the one named by the environment
// variable TERN_ISA=scalar|avx2|avx512, or the one chosen with force_isa (tests and benchmarks). Scalar is the
// reference; Avx512Vnni needs AVX-512 F/BW/VL/VNNI and GFNI (Ice Lake and later, Zen 4); Avx2 needs AVX2 + FMA.
enum class Isa { Scalar, Avx2, Avx512Vnni };
bool isa_supported(Isa isa);  // by this CPU
Isa best_isa();               // the fastest supported one
Isa active_isa();             // what ternary_conv uses now
void force_isa(Isa isa);      // throws if the CPU lacks it
const char* isa_name(Isa isa);  // "scalar", "avx2", "avx512"

}  // namespace tern::kernels
