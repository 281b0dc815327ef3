// quant/model_size.cpp — the size report: codes, LZMA, folded BN, entropy.
#include "quant/model_size.h"

#include <cmath>
#include <cstdio>

#include "layers/batch_norm2d.h"
#include "quant/codebook.h"
#include "quant/quantize_model.h"

namespace tern {

SizeReport model_size_report(Module& model) {
    SizeReport r;
    std::vector<uint8_t> all_codes;
    int64_t counts[3] = {0, 0, 0};  // −1, 0, +1
    int64_t code_count = 0;
    for (const QuantLayer& l : weight_layers(model)) {
        if (!l.quantizer) {
            r.fp_parameters += l.weight.numel();
            continue;
        }
        const Tensor c = contiguous_data(l.quantizer->codes(l.weight));
        const int64_t rows = c.size(0), row_len = c.numel() / rows;
        const std::vector<uint8_t> codes = encode_ternary(c.data(), rows, row_len);
        all_codes.insert(all_codes.end(), codes.begin(), codes.end());
        code_count += int64_t(codes.size());
        for (int64_t i = 0; i < c.numel(); ++i) counts[int(c.data()[i]) + 1]++;
        r.ternary_weights += c.numel();
    }
    for (auto& [name, m] : model.named_modules())
        if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) r.bn_channels += bn->channels;
    int64_t all_params = 0;
    for (auto& [name, p] : model.named_parameters())
        if (name.find("_quantizer.") == std::string::npos) all_params += p.numel();
    for (auto& [name, b] : model.named_buffers())
        if (name.find("running_") != std::string::npos) all_params += b.numel();
    // Conv/linear biases stay FP16; BN γ, β and statistics fold into two vectors (counted in bn_channels).
    for (const QuantLayer& l : weight_layers(model))
        if (l.layer->bias.defined()) r.fp_parameters += l.layer->bias.numel();
    r.fp32_bytes = 4.0 * double(all_params);
    r.remainder_fp16_bytes = 2.0 * double(r.fp_parameters + 2 * r.bn_channels);
    r.bits_2bit = 2.0 * double(r.ternary_weights);
    r.bits_codebook = 5.0 * double(code_count);
    r.bits_lzma = all_codes.empty() ? 0.0 : 8.0 * double(compress_lzma(all_codes).size());
    double h = 0;
    for (int64_t k : counts)
        if (k > 0) {
            const double p = double(k) / double(r.ternary_weights);
            h -= p * std::log2(p);
        }
    r.bits_entropy = h * double(r.ternary_weights);
    r.zero_fraction = r.ternary_weights ? double(counts[1]) / double(r.ternary_weights) : 0.0;
    return r;
}

std::string SizeReport::table() const {
    char buf[2048];
    const double n = double(std::max<int64_t>(ternary_weights, 1));
    std::snprintf(buf, sizeof buf,
                  "  %-34s %10s %12s %9s\n"
                  "  %-34s %10.1f %12s %9.2f×\n"
                  "  %-34s %10.1f %12.3f %9.2f×\n"
                  "  %-34s %10.1f %12.3f %9.2f×\n"
                  "  %-34s %10.1f %12.3f %9.2f×\n"
                  "  %-34s %10.1f %12.3f %9.2f×\n"
                  "  (%lld ternary weights, %.1f%% zeros; FP16 remainder %.1f KB: %lld fp parameters, %lld BN channels "
                  "folded)\n",
                  "form", "KB", "bits/weight", "vs FP32",                                                //
                  "FP32 (all parameters)", fp32_bytes / 1024, "32", 1.0,                                  //
                  "ternary 2-bit + FP16 rest", bytes(bits_2bit) / 1024, bits_2bit / n, fp32_bytes / bytes(bits_2bit),
                  "codebook 5 bits/3 weights + FP16", bytes(bits_codebook) / 1024, bits_codebook / n,
                  fp32_bytes / bytes(bits_codebook),                                                      //
                  "codebook + LZMA + FP16", bytes(bits_lzma) / 1024, bits_lzma / n, fp32_bytes / bytes(bits_lzma),
                  "entropy bound + FP16", bytes(bits_entropy) / 1024, bits_entropy / n,
                  fp32_bytes / bytes(bits_entropy),                                                       //
                  (long long)ternary_weights, 100 * zero_fraction, remainder_fp16_bytes / 1024,
                  (long long)fp_parameters, (long long)bn_channels);
    return buf;
}

nlohmann::json SizeReport::to_json() const {
    const double n = double(std::max<int64_t>(ternary_weights, 1));
    return {{"ternary_weights", ternary_weights}, {"zero_fraction", zero_fraction}, {"fp32_bytes", fp32_bytes},
            {"remainder_fp16_bytes", remainder_fp16_bytes}, {"bytes_2bit", bytes(bits_2bit)},
            {"bytes_codebook", bytes(bits_codebook)}, {"bytes_codebook_lzma", bytes(bits_lzma)},
            {"bytes_entropy_bound", bytes(bits_entropy)}, {"bits_per_weight_lzma", bits_lzma / n},
            {"bits_per_weight_entropy", bits_entropy / n}, {"lzma_over_entropy", bits_lzma / std::max(bits_entropy, 1.0)}};
}

}  // namespace tern
