// quant/codebook.cpp — base-3 triples, 5-bit packing and LZMA for the codebook form of ternary weights.
#include "quant/codebook.h"

#include <lzma.h>

#include "core/error.h"

namespace tern {

uint8_t encode_triple(int t0, int t1, int t2) { return uint8_t(9 * (t0 + 1) + 3 * (t1 + 1) + (t2 + 1)); }

void decode_triple(uint8_t code, int& t0, int& t1, int& t2) {
    TERN_CHECK(code < 27, "codebook: code " << int(code) << " is not one of the 27 ternary triples");
    t0 = code / 9 - 1;
    t1 = (code / 3) % 3 - 1;
    t2 = code % 3 - 1;
}

std::vector<uint8_t> encode_ternary(const float* trits, int64_t rows, int64_t row_len) {
    const int64_t per_row = (row_len + 2) / 3;
    std::vector<uint8_t> out;
    out.reserve(size_t(rows * per_row));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < per_row; ++k) {
            int t[3] = {0, 0, 0};  // zero padding past the row's end
            for (int j = 0; j < 3; ++j) {
                const int64_t i = 3 * k + j;
                if (i < row_len) {
                    const float v = trits[r * row_len + i];
                    TERN_CHECK(v == 0.f || v == 1.f || v == -1.f, "codebook: value " << v << " is not ternary");
                    t[j] = int(v);
                }
            }
            out.push_back(encode_triple(t[0], t[1], t[2]));
        }
    return out;
}

std::vector<float> decode_ternary(const std::vector<uint8_t>& codes, int64_t rows, int64_t row_len) {
    const int64_t per_row = (row_len + 2) / 3;
    TERN_CHECK(int64_t(codes.size()) == rows * per_row, "codebook: " << codes.size() << " codes for " << rows
                                                                     << " rows of " << row_len << " weights");
    std::vector<float> out(static_cast<size_t>(rows * row_len));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < per_row; ++k) {
            int t[3];
            decode_triple(codes[size_t(r * per_row + k)], t[0], t[1], t[2]);
            for (int j = 0; j < 3; ++j)
                if (3 * k + j < row_len) out[size_t(r * row_len + 3 * k + j)] = float(t[j]);
        }
    return out;
}

std::vector<uint8_t> pack_5bit(const std::vector<uint8_t>& codes) {
    std::vector<uint8_t> out((codes.size() * 5 + 7) / 8, 0);
    for (size_t i = 0; i < codes.size(); ++i) {
        TERN_CHECK(codes[i] < 32, "pack_5bit: code " << int(codes[i]) << " does not fit in 5 bits");
        const size_t bit = 5 * i;
        const uint32_t v = uint32_t(codes[i]) << (bit % 8);  // spans at most two bytes
        out[bit / 8] |= uint8_t(v);
        if ((bit % 8) > 3) out[bit / 8 + 1] |= uint8_t(v >> 8);
    }
    return out;
}

std::vector<uint8_t> unpack_5bit(const std::vector<uint8_t>& packed, int64_t count) {
    TERN_CHECK(int64_t(packed.size()) * 8 >= count * 5, "unpack_5bit: " << packed.size() << " bytes hold fewer than "
                                                                        << count << " codes");
    std::vector<uint8_t> out(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        const size_t bit = size_t(5 * i);
        uint32_t v = packed[bit / 8];
        if (bit / 8 + 1 < packed.size()) v |= uint32_t(packed[bit / 8 + 1]) << 8;
        out[size_t(i)] = uint8_t((v >> (bit % 8)) & 31u);
    }
    return out;
}

// Raw LZMA1 with preset 9|extreme. Code bytes take 27 values with no byte-to-byte structure that the default
// literal context (lc = 3: the previous byte's top 3 bits) captures well, so lc = 0 and no position bits.
static lzma_options_lzma lzma_settings() {
    lzma_options_lzma opt;
    lzma_lzma_preset(&opt, 9 | LZMA_PRESET_EXTREME);
    opt.lc = 0;
    opt.lp = 0;
    opt.pb = 0;
    return opt;
}

std::vector<uint8_t> compress_lzma(const std::vector<uint8_t>& data) {
    lzma_options_lzma opt = lzma_settings();
    lzma_filter filters[] = {{LZMA_FILTER_LZMA1, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
    std::vector<uint8_t> out(data.size() + data.size() / 2 + 1024);
    size_t out_pos = 0;
    const lzma_ret r = lzma_raw_buffer_encode(filters, nullptr, data.data(), data.size(), out.data(), &out_pos,
                                              out.size());
    TERN_CHECK(r == LZMA_OK, "LZMA compression failed (liblzma error " << int(r) << ")");
    out.resize(out_pos);
    return out;
}

std::vector<uint8_t> decompress_lzma(const std::vector<uint8_t>& compressed, size_t original_size) {
    lzma_options_lzma opt = lzma_settings();
    lzma_filter filters[] = {{LZMA_FILTER_LZMA1, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
    std::vector<uint8_t> out(original_size);
    size_t in_pos = 0, out_pos = 0;
    const lzma_ret r = lzma_raw_buffer_decode(filters, nullptr, compressed.data(), &in_pos, compressed.size(),
                                              out.data(), &out_pos, out.size());
    TERN_CHECK((r == LZMA_OK || r == LZMA_STREAM_END) && out_pos == original_size,
               "LZMA decompression failed (liblzma error " << int(r) << ", " << out_pos << " of " << original_size
                                                            << " bytes)");
    return out;
}

}  // namespace tern
