// core/kernels/ternary_conv_avx2.cpp — the ternary convolution with AVX2 (for CPUs without AVX-512 VNNI/GFNI).
//
// The loops of ternary_conv_avx512.cpp on 8-lane registers: a vector is 8 output channels, the low or high half
// of a packed 16-channel block (32 of each chunk's 64 bytes). Without vpdpbusd, one chunk (4 steps of 4 input
// bytes) × 8 channels × one pixel is
//     4 × vpmaddubsw  x (u8) · w (s8), adjacent pairs summed → 16 int16   (|x0·w0 + x1·w1| ≤ 510)
//     3 × vpaddw      the 4 steps summed in int16                          (≤ 4 · 510 < 2¹⁵: exact)
//     vpmaddwd        · 1, adjacent pairs summed → 8 int32
//     vpaddd          into the accumulator
// vpmaddubsw and vpmaddwd share two ports; summing in int16 first takes 5 of them per chunk instead of 8
// (measured +30 % over widening every step).
// Without GFNI, a field is unpacked with a table: (bits >> 2f) & 3 is the 2-bit code, and vpshufb looks it up
// in {0, +1, 0, −1} (three instructions per field, four fields per chunk, shared by the R pixels).
// 16 registers hold R accumulators (pixels), the chunk's 4 unpacked weight vectors, the int16 sum, the broadcast
// x and constants; R ≤ 8 makes GCC spill a little but measured fastest (R = 6, 7, 8: 172, 165, 171 Gop/s on
// ResNet-18's 56×56 layer, 170, 184, 186 on its 7×7 layer, one core).
#include <algorithm>
#include <cstring>
#include <utility>

#include "core/kernels/ternary_conv_isa.h"

// The rest of this file is compiled as for an AVX2-only CPU even when -march=native has AVX-512 (else GCC uses
// AVX-512's 32 registers and masked stores here, and the timings would not be those of an AVX2 machine).
#pragma GCC target("arch=haswell")
#include <immintrin.h>

#define TERN_AVX2 __attribute__((target("avx2,fma")))
#define TERN_INLINE inline __attribute__((always_inline))

namespace tern::kernels::ternary {

namespace {

constexpr int kMaxR = 8;  // pixels per block

// Field f of every byte as signed weights: the code (bits >> 2f) & 3 ∈ {0: 0, 1: +1, 3: −1} looked up in a
// 16-byte table (vpshufb reads the low 4 bits of each byte as an index into its 128-bit lane).
TERN_AVX2 TERN_INLINE __m256i unpack(__m256i bits, int f) {
    const __m256i table = _mm256_setr_epi8(0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, -1,  //
                                           0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, -1);
    const __m256i code = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * f), _mm256_set1_epi8(3));
    return _mm256_shuffle_epi8(table, code);
}

TERN_INLINE int32_t load4(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

struct Block {
    const uint8_t* src;  // the window corner of the block's first pixel
    const uint8_t* w;    // the 32 packed bytes of its 8 channels in the first chunk (chunks are 64 bytes apart)
    int64_t oc0;         // its first output channel
    int64_t i0;          // the output index of (first pixel, oc0)
    int lanes;           // channels to store (1…8)
};

// R pixels × 8 channels: accumulate (chunk by chunk, in int16 within a chunk), then the epilogue (as in the
// AVX-512 file) with masked stores.
template <int R>
TERN_AVX2 void block(const ConvJob& j, const Block& b) {
    const int64_t pixel_step = j.s.stride * j.s.C;
    const int32_t* off = j.step_off;
    const uint8_t* w = b.w;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_si256();
    for (int64_t q = 0; q < j.w->chunks; ++q, w += 64, off += 4) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
        __m256i wf[4];
#pragma GCC unroll 4
        for (int f = 0; f < 4; ++f) wf[f] = unpack(bits, f);
        const uint8_t* s0 = b.src + off[0];
        const uint8_t* s1 = b.src + off[1];
        const uint8_t* s2 = b.src + off[2];
        const uint8_t* s3 = b.src + off[3];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const int64_t p = r * pixel_step;
            __m256i sum = _mm256_maddubs_epi16(_mm256_set1_epi32(load4(s0 + p)), wf[0]);
            sum = _mm256_add_epi16(sum, _mm256_maddubs_epi16(_mm256_set1_epi32(load4(s1 + p)), wf[1]));
            sum = _mm256_add_epi16(sum, _mm256_maddubs_epi16(_mm256_set1_epi32(load4(s2 + p)), wf[2]));
            sum = _mm256_add_epi16(sum, _mm256_maddubs_epi16(_mm256_set1_epi32(load4(s3 + p)), wf[3]));
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(sum, ones));
        }
    }

    const Epilogue& e = j.e;
    const int64_t OC = j.s.OC;
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(b.lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 a = _mm256_loadu_ps(j.a + b.oc0), bias = _mm256_loadu_ps(j.b + b.oc0), zero = _mm256_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        const int64_t i = b.i0 + r * OC;
        if (e.kind == Epilogue::Int32) {
            _mm256_maskstore_epi32(static_cast<int32_t*>(j.out) + i, m, acc[r]);
            continue;
        }
        __m256 y = _mm256_fmadd_ps(a, _mm256_cvtepi32_ps(acc[r]), bias);
        if (e.kind == Epilogue::Float) {
            if (e.residual) y = _mm256_add_ps(y, _mm256_maskload_ps(e.residual + i, m));
            if (e.relu) y = _mm256_max_ps(y, zero);
            _mm256_maskstore_ps(static_cast<float*>(j.out) + i, m, y);
            continue;
        }
        y = _mm256_mul_ps(y, _mm256_set1_ps(e.out_inv_step));
        y = _mm256_min_ps(_mm256_max_ps(y, zero), _mm256_set1_ps(float(e.qmax)));
        y = _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        // 8 int32 in 0…255 → 8 bytes: pack to 16 bits, then to 8 bits (each within its 128-bit half).
        const __m256i q = _mm256_cvttps_epi32(y);
        const __m256i q8 = _mm256_packus_epi16(_mm256_packus_epi32(q, q), _mm256_setzero_si256());
        const uint64_t bytes =
            uint32_t(_mm256_extract_epi32(q8, 0)) | uint64_t(uint32_t(_mm256_extract_epi32(q8, 4))) << 32;
        std::memcpy(static_cast<uint8_t*>(j.out) + i, &bytes, size_t(b.lanes));
    }
}

using BlockFn = void (*)(const ConvJob&, const Block&);

template <int... Rs>
BlockFn pick(int R, std::integer_sequence<int, Rs...>) {
    static constexpr BlockFn table[] = {block<Rs + 1>...};
    return table[R - 1];
}

}  // namespace

TERN_AVX2 void conv_rows_avx2(const ConvJob& j, const uint8_t* rows, int64_t prow0, int64_t n, int64_t oh0,
                              int64_t oh1, int64_t ob0, int64_t ob1) {
    const TernaryConvShape& s = j.s;
    const int64_t pixel_step = s.stride * s.C, w_stride = j.w->chunks * 64;
    const int64_t nblocks = (s.OW + kMaxR - 1) / kMaxR;  // near-equal pixel blocks of at most kMaxR
    // Vectors of 8 channels: the halves of blocks [ob0, ob1), up to the last one holding a channel.
    for (int64_t u = 2 * ob0; u < std::min(2 * ob1, (s.OC + 7) / 8); ++u) {
        Block b;
        b.w = j.w->bits.data() + (u / 2) * w_stride + (u % 2) * 32;
        b.oc0 = u * 8;
        b.lanes = int(std::min<int64_t>(8, s.OC - u * 8));
        for (int64_t oh = oh0; oh < oh1; ++oh) {
            const uint8_t* src = rows + (oh * s.stride - prow0) * j.pitch;
            const int64_t i_row = ((n * s.OH + oh) * s.OW) * s.OC + b.oc0;
            for (int64_t k = 0; k < nblocks; ++k) {
                const int64_t ow0 = s.OW * k / nblocks, R = s.OW * (k + 1) / nblocks - ow0;
                b.src = src + ow0 * pixel_step;
                b.i0 = i_row + ow0 * s.OC;
                pick(int(R), std::make_integer_sequence<int, kMaxR>())(j, b);
            }
        }
    }
}

}  // namespace tern::kernels::ternary
