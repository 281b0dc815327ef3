// core/kernels/ternary_conv_avx512.cpp — the ternary convolution with AVX-512 VNNI (and GFNI to unpack).
//
// One instruction does the arithmetic: vpdpbusd acc, x, w adds to each of 16 int32 lanes the dot product of 4
// unsigned bytes of x with 4 signed bytes of w. The 16 lanes are 16 output channels; the 4 bytes are one "step"
// of 4 consecutive input bytes of the window (ternary_conv.h, PackedTernaryWeights). Like the FP32 direct
// convolution (conv2d_fast.cpp), a block of R output pixels × V vectors of 16 channels stays in registers:
//
//     for each chunk q (4 steps):    bits[v] = 64 packed bytes of chunk q, channel block v          (V loads)
//       for each step f < 4:         w[v]    = field f of bits[v] as 64 bytes in {−1, 0, 1}         (V ops)
//         for each pixel r < R:      xr      = the 4 input bytes of step f of pixel r, broadcast    (1 load)
//                                    acc[r][v] += vpdpbusd(xr, w[v])                               (R·V)
//     then the epilogue, and masked stores for the channels past OC.
//
// Unpacking is one instruction: vgf2p8affineqb multiplies each byte, as a vector of 8 bits over GF(2), by an
// 8×8 bit matrix. A field holds (bit 0: w ≠ 0, bit 1: w < 0), and the bytes we want are 0x00, 0x01 and 0xFF for
// 0, +1 and −1: bit 0 of the result is the "≠ 0" bit, bits 1–7 are copies of the "< 0" bit — each output bit is
// one input bit, a linear map, so one matrix per field position does it (unpack() below).
// Measured on ResNet-18's 7×7×512 layer, one core (thread CPU time; the vpdpbusd peak is 760 Gop/s):
//     (bits >> 2f) & 3, − 1   with the code w + 1 ∈ {0, 1, 2}       3 ops per vector   529 Gop/s
//     vgf2p8affineqb          with the sign-magnitude code          1 op               631 Gop/s
//     no unpacking at all     (wrong results: the bound)            0                  743 Gop/s
// bitnet.cpp's I2_S keeps w + 1 and subtracts Σx over the window from every sum, saving the "− 1" (2 ops instead
// of 3) at the price of a pass computing Σx per pixel; GFNI saves more with no correction term at all.
// Blocks: near-equal blocks of R ≤ 24 pixels of one output row. Long rows take V = 1 (every unpacked vector
// serves up to 24 pixels); short rows (8×8, 7×7) take V = 2…4 so the R·V accumulators still fill the registers
// and each broadcast x feeds V vpdpbusd. R·V ≤ 24 accumulators + V + V weight registers + 4 matrices ≤ 32 (the
// compiler takes the matrices from memory when registers run out).
// What limits it: the loop alone runs at 84–89 % of the vpdpbusd peak (the broadcasts, the unpacking and the
// step offsets share the core with it); the Uint8 epilogue adds 7 vector ops per 16 outputs, which is little
// next to 1152 vpdpbusd per 16 outputs of a 3×3×512 layer but costs ~15 % next to the 36 of a 3×3×16 one.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/kernels/ternary_conv_isa.h"

// GCC 12 warns that _mm512_undefined_ps() "may be used uninitialized" wherever an intrinsic using it is
// inlined (GCC bug 105593, fixed in GCC 13); the value is never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define TERN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,gfni")))
#define TERN_INLINE inline __attribute__((always_inline))

namespace tern::kernels::ternary {

namespace {

constexpr int kMaxR[5] = {0, 24, 12, 8, 6};  // pixels per block, by V

// Field f (bits 2f: w ≠ 0, 2f + 1: w < 0) of every byte, as signed bytes. Row i of the matrix (its byte 7 − i)
// selects the input bits whose parity is output bit i: bit 0 ← bit 2f, bits 1…7 ← bit 2f + 1.
TERN_AVX512 TERN_INLINE __m512i unpack(__m512i bits, int f) {
    const uint64_t nonzero = 1ull << (2 * f), negative = 2ull << (2 * f);
    const uint64_t matrix = nonzero << 56 | negative * 0x0001010101010101ull;
    return _mm512_gf2p8affine_epi64_epi8(bits, _mm512_set1_epi64(int64_t(matrix)), 0);
}

TERN_INLINE int32_t load4(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Where one block reads and writes.
struct Block {
    const uint8_t* src;  // the window corner of the block's first pixel
    const uint8_t* w;    // the packed chunks of its first channel block
    int64_t oc0;         // its first output channel
    int64_t i0;          // the output index of (first pixel, oc0)
    int lanes_last;      // channels in the last vector (1…16)
};

// acc[r·V + v] = the sums of pixel r for the 16 channels of vector v. The loops over r, v and f are unrolled, so
// the accumulators live in registers and every field has its constant matrix. (Not inlined into block(): with
// the epilogue in the same function GCC spills accumulators inside this loop.)
template <int R, int V>
TERN_AVX512 __attribute__((noinline)) void accumulate(const ConvJob& j, const Block& b, __m512i* out) {
    const int64_t pixel_step = j.s.stride * j.s.C, w_stride = j.w->chunks * 64;
    const int32_t* off = j.step_off;
    const uint8_t* w = b.w;
    __m512i acc[R][V];
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_si512();
    for (int64_t q = 0; q < j.w->chunks; ++q, w += 64, off += 4) {
        __m512i bits[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) bits[v] = _mm512_loadu_si512(w + v * w_stride);
#pragma GCC unroll 4
        for (int f = 0; f < 4; ++f) {
            __m512i wf[V];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) wf[v] = unpack(bits[v], f);
            const uint8_t* s = b.src + off[f];
#pragma GCC unroll 32
            for (int r = 0; r < R; ++r) {
                const __m512i xr = _mm512_set1_epi32(load4(s + r * pixel_step));
#pragma GCC unroll 4
                for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xr, wf[v]);
            }
        }
    }
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) out[r * V + v] = acc[r][v];
}

// R pixels × V channel vectors: accumulate, then apply the epilogue (ternary_conv.h; store_one in
// ternary_conv_isa.h is the scalar definition) and store, the last vector with a mask. Pixels are OC apart.
// Everything the epilogue reads is copied to locals first: stores through a uint8_t* may alias anything, so the
// compiler would otherwise reload (and re-convert) them for every vector.
template <int R, int V>
TERN_AVX512 void block(const ConvJob& j, const Block& b) {
    alignas(64) __m512i acc[R * V];
    accumulate<R, V>(j, b, acc);
    const Epilogue::Kind kind = j.e.kind;
    const int64_t OC = j.s.OC, i0 = b.i0;
    const __mmask16 last = __mmask16((1u << b.lanes_last) - 1);
    if (kind == Epilogue::Int32) {
        int32_t* out = static_cast<int32_t*>(j.out) + i0;
#pragma GCC unroll 32
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v)
                _mm512_mask_storeu_epi32(out + r * OC + 16 * v, v == V - 1 ? last : 0xFFFF, acc[r * V + v]);
        return;
    }
    __m512 a[V], bias[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) a[v] = _mm512_loadu_ps(j.a + b.oc0 + 16 * v), bias[v] = _mm512_loadu_ps(j.b + b.oc0 + 16 * v);
    const __m512 zero = _mm512_setzero_ps();
    if (kind == Epilogue::Float) {
        float* out = static_cast<float*>(j.out) + i0;
        const float* residual = j.e.residual ? j.e.residual + i0 : nullptr;
        const bool relu = j.e.relu;
#pragma GCC unroll 32
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) {
                const __mmask16 m = v == V - 1 ? last : 0xFFFF;
                const int64_t i = r * OC + 16 * v;
                __m512 y = _mm512_fmadd_ps(a[v], _mm512_cvtepi32_ps(acc[r * V + v]), bias[v]);
                if (residual) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, residual + i));
                if (relu) y = _mm512_max_ps(y, zero);
                _mm512_mask_storeu_ps(out + i, m, y);
            }
        return;
    }
    uint8_t* out = static_cast<uint8_t*>(j.out) + i0;
    const __m512 inv_step = _mm512_set1_ps(j.e.out_inv_step), qmax = _mm512_set1_ps(float(j.e.qmax));
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            __m512 y = _mm512_fmadd_ps(a[v], _mm512_cvtepi32_ps(acc[r * V + v]), bias[v]);
            y = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(y, inv_step), zero), qmax);
            const __m512i q = _mm512_cvt_roundps_epi32(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm512_mask_cvtusepi32_storeu_epi8(out + r * OC + 16 * v, v == V - 1 ? last : 0xFFFF, q);  // 0…255
        }
}

using BlockFn = void (*)(const ConvJob&, const Block&);

template <int V, int... Rs>
BlockFn pick(int R, std::integer_sequence<int, Rs...>) {
    static constexpr BlockFn table[] = {block<Rs + 1, V>...};
    return table[R - 1];
}
BlockFn block_for(int R, int V) {
    switch (V) {
        case 1: return pick<1>(R, std::make_integer_sequence<int, kMaxR[1]>());
        case 2: return pick<2>(R, std::make_integer_sequence<int, kMaxR[2]>());
        case 3: return pick<3>(R, std::make_integer_sequence<int, kMaxR[3]>());
        default: return pick<4>(R, std::make_integer_sequence<int, kMaxR[4]>());
    }
}

}  // namespace

TERN_AVX512 void conv_rows_avx512(const ConvJob& j, const uint8_t* rows, int64_t prow0, int64_t n, int64_t oh0,
                                  int64_t oh1, int64_t ob0, int64_t ob1) {
    const TernaryConvShape& s = j.s;
    const int64_t pixel_step = s.stride * s.C, w_stride = j.w->chunks * 64;
    // Near-equal pixel blocks of at most 24; then as many channel vectors as the registers allow, spread evenly
    // over the channel blocks (4 blocks with at most 3 per group → 2 + 2, not 3 + 1).
    const int64_t nblocks = (s.OW + kMaxR[1] - 1) / kMaxR[1];
    const int rmax = int((s.OW + nblocks - 1) / nblocks);
    const int vmax = rmax <= kMaxR[4] ? 4 : rmax <= kMaxR[3] ? 3 : rmax <= kMaxR[2] ? 2 : 1;
    const int64_t groups = (ob1 - ob0 + vmax - 1) / vmax;
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t g0 = ob0 + (ob1 - ob0) * g / groups, g1 = ob0 + (ob1 - ob0) * (g + 1) / groups;
        const int V = int(g1 - g0);
        Block b;
        b.w = j.w->bits.data() + g0 * w_stride;
        b.oc0 = g0 * 16;
        b.lanes_last = int(std::min<int64_t>(16, s.OC - (g1 - 1) * 16));
        for (int64_t oh = oh0; oh < oh1; ++oh) {
            const uint8_t* src = rows + (oh * s.stride - prow0) * j.pitch;
            const int64_t i_row = ((n * s.OH + oh) * s.OW) * s.OC + b.oc0;
            for (int64_t k = 0; k < nblocks; ++k) {
                const int64_t ow0 = s.OW * k / nblocks, R = s.OW * (k + 1) / nblocks - ow0;
                b.src = src + ow0 * pixel_step;
                b.i0 = i_row + ow0 * s.OC;
                block_for(int(R), V)(j, b);
            }
        }
    }
}

}  // namespace tern::kernels::ternary
