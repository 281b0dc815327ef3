// quant/codebook.h — PTQ's fixed codebook (Section 4.5): three ternary weights in one 5-bit code.
//
// (t₀, t₁, t₂) ∈ {−1, 0, +1}³ is read as a base-3 number: code = 9(t₀+1) + 3(t₁+1) + (t₂+1) ∈ [0, 27).
// 27 ≤ 32, so a code takes 5 bits: a 3×3 kernel (9 weights) is 3 codes = 15 bits instead of 288 in FP32.
// Each output unit's weights are one row; rows whose length is not a multiple of 3 (a linear layer with 64
// inputs) are padded with zeros to the next multiple, as the paper pads linear layers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tern {

uint8_t encode_triple(int t0, int t1, int t2);        // → [0, 27)
void decode_triple(uint8_t code, int& t0, int& t1, int& t2);

// codes[i] ∈ {−1, 0, +1} as floats, rows × row_len → one code per byte, rows × ceil(row_len/3).
std::vector<uint8_t> encode_ternary(const float* trits, int64_t rows, int64_t row_len);
// The inverse: rows × row_len trits (the padding dropped).
std::vector<float> decode_ternary(const std::vector<uint8_t>& codes, int64_t rows, int64_t row_len);

// 5-bit codes as a dense little-endian bit stream (code i occupies bits 5i … 5i+4), and back.
std::vector<uint8_t> pack_5bit(const std::vector<uint8_t>& codes);
std::vector<uint8_t> unpack_5bit(const std::vector<uint8_t>& packed, int64_t count);

// LZMA ("7-zip") compression of a byte string with liblzma (raw LZMA1 stream, preset 9 extreme, literal
// context bits tuned for code bytes); returns the compressed bytes. decompress_lzma inverts it.
std::vector<uint8_t> compress_lzma(const std::vector<uint8_t>& data);
std::vector<uint8_t> decompress_lzma(const std::vector<uint8_t>& compressed, size_t original_size);

}  // namespace tern
