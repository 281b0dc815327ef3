// quant/packed_model.cpp — loading a packed model and running its program (see packed_model.h).
#include "quant/packed_model.h"

#include <cmath>
#include <set>

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/conv2d.h"
#include "core/ops/matmul.h"
#include "core/ops/pool.h"
#include "core/ops/shortcut.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "quant/packed_format.h"

namespace tern {

using json = nlohmann::json;

PackedModel::PackedModel(const std::string& path) : path_(path) {
    const SafetensorsFile file = read_safetensors(path);
    for (const NamedArray& a : file.arrays) file_bytes_ += a.bytes.size();
    auto meta = file.metadata.find("tern.packed");
    TERN_CHECK(meta != file.metadata.end(), path << " is not a packed tern model (no 'tern.packed' metadata)");
    try {
        program_ = json::parse(meta->second);
    } catch (const std::exception& e) {
        TERN_FAIL(path << ": the packed program is not valid JSON: " << e.what());
    }
    TERN_CHECK(program_.value("format", "") == "tern-packed-v1",
               path << ": unknown packed format '" << program_.value("format", "") << "'");
    num_classes_ = program_.at("num_classes").get<int64_t>();
    auto array = [&](const std::string& name) -> const NamedArray& {
        const NamedArray* a = file.find(name);
        TERN_CHECK(a, path << ": the program uses '" << name << "', which the file does not contain");
        return *a;
    };
    auto floats = [&](const std::string& name, int64_t n) {
        const Tensor t = array_to_tensor(array(name), path);
        TERN_CHECK(t.numel() == n, path << ": '" << name << "' has " << t.numel() << " values, expected " << n);
        return t.to_vector();
    };
    std::set<std::string> defined = {"image"};
    const json& ops = program_.at("ops");
    std::map<std::string, size_t> last_use;
    for (size_t i = 0; i < ops.size(); ++i) {
        const json& op = ops[i];
        const std::string kind = op.at("op");
        for (const char* key : {"in", "residual"}) {
            if (!op.contains(key) || op[key].get<std::string>().empty()) continue;
            TERN_CHECK(defined.count(op[key]), path << ": op " << i << " (" << kind << ") reads '"
                                                    << op[key].get<std::string>() << "' before it is computed");
            last_use[op[key]] = i;
        }
        defined.insert(op.at("out").get<std::string>());
        if (kind != "conv" && kind != "linear") continue;
        const std::string name = op.at("layer");
        const int64_t cin = op.at("cin"), cout = op.at("cout"), k = op.value("k", 1);
        const int64_t per_oc = cin * (kind == "conv" ? k * k : 1);
        Layer L;
        L.ternary = op.at("ternary");
        L.scale = floats(name + ".scale", cout);
        L.bias = floats(name + ".bias", cout);
        if (L.ternary) {
            const NamedArray& w2 = array(name + ".w2");
            TERN_CHECK(w2.dtype == DType::U8, path << ": '" << name << ".w2' must be U8");
            const std::vector<int8_t> codes = unpack_ternary_2bit(w2.bytes, cout * per_oc);
            L.packed = kernels::PackedTernaryWeights::pack(codes.data(), cout, cin, kind == "conv" ? k : 1,
                                                           kind == "conv" ? k : 1);
        } else {
            L.weight = array_to_tensor(array(name + ".weight"), path);
            TERN_CHECK(L.weight.numel() == cout * per_oc, path << ": '" << name << ".weight' has the wrong size");
            for (int64_t o = 0; o < cout; ++o)  // fold the per-channel scale into the float weights
                for (int64_t j = 0; j < per_oc; ++j) L.weight.data()[o * per_oc + j] *= L.scale[size_t(o)];
        }
        layers_[name] = std::move(L);
    }
    const std::string output = program_.at("output");
    TERN_CHECK(defined.count(output), path << ": the program's output '" << output << "' is never computed");
    last_use[output] = ops.size();
    release_after_.assign(ops.size(), {});
    for (auto& [value, i] : last_use)
        if (i < ops.size()) release_after_[i].push_back(value);
}

size_t PackedModel::packed_weight_bytes() const {
    size_t n = 0;
    for (auto& [name, L] : layers_) n += L.ternary ? L.packed.bytes() : size_t(L.weight.numel()) * 4;
    return n;
}

// floats → uint8 codes: q = clamp(round(x/step), lo, qmax) (+128 when signed), as LSQ's forward computes it.
PackedModel::Value PackedModel::run_quantize(const json& op, const Value& in) {
    TERN_CHECK(!in.is_codes(), "packed model: 'quantize' needs float input");
    const float step = op.at("step"), inv = 1.f / step;
    const int qmax = op.at("qmax");
    const bool is_signed = op.at("signed");
    const float lo = is_signed ? -float(qmax + 1) : 0.f, hi = float(qmax);
    const int offset = is_signed ? 128 : 0;
    Value out;
    out.shape = in.shape;
    out.codes = std::make_shared<Storage>(size_t(in.f.numel()));
    out.pad_value = uint8_t(offset);
    const float* x = in.f.data();
    uint8_t* q = out.code_data();
    const int64_t n = in.f.numel();
    // (plain conditionals instead of std::min/std::max: GCC vectorizes this form, 16 codes per instruction)
#pragma omp parallel for simd if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        float v = x[i] * inv;
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        q[i] = uint8_t(int(std::nearbyint(v)) + offset);
    }
    return out;
}

PackedModel::Value PackedModel::run_conv(const json& op, const Value& in, const Value* residual) {
    const Layer& L = layers_.at(op.at("layer").get<std::string>());
    const int64_t k = op.at("k"), stride = op.at("stride"), pad = op.at("pad"), cout = op.at("cout");
    TERN_CHECK(in.shape.size() == 4 && in.shape[3] == op.at("cin").get<int64_t>(),
               "packed model: conv '" << op.at("layer").get<std::string>() << "' got input " << shape_str(in.shape));
    const bool relu = op.at("relu");
    Value out;
    if (L.ternary) {
        TERN_CHECK(in.is_codes(), "packed model: ternary conv needs uint8 codes");
        const auto s = kernels::TernaryConvShape::make(in.shape[0], in.shape[1], in.shape[2], in.shape[3], cout, k, k,
                                                       stride, pad);
        out.shape = {s.N, s.OH, s.OW, cout};
        kernels::Epilogue e;
        e.scale = L.scale.data();
        e.bias = L.bias.data();
        if (op.contains("out_q")) {
            e.kind = kernels::Epilogue::Uint8;
            e.out_inv_step = 1.f / op["out_q"].at("step").get<float>();
            e.qmax = op["out_q"].at("qmax");
            out.codes = std::make_shared<Storage>(size_t(shape_numel(out.shape)));
            kernels::ternary_conv(s, in.code_data(), in.pad_value, L.packed, e, out.code_data());
        } else {
            e.kind = kernels::Epilogue::Float;
            e.relu = relu;
            e.residual = residual ? residual->f.data() : nullptr;
            out.f = Tensor::empty(out.shape);
            kernels::ternary_conv(s, in.code_data(), in.pad_value, L.packed, e, out.f.data());
        }
        return out;
    }
    // A float layer (the stem, as trained): fast FP32 conv with the folded weights, then + b (+ residual), ReLU.
    TERN_CHECK(!in.is_codes(), "packed model: float conv needs float input");
    const auto s = kernels::ConvShape::make(in.shape[0], in.shape[1], in.shape[2], in.shape[3], cout, k, k, stride,
                                            stride, pad, pad, 1);
    out.shape = {s.N, s.OH, s.OW, cout};
    out.f = Tensor::empty(out.shape);
    kernels::conv2d_forward(s, in.f.data(), L.weight.data(), L.bias.data(), out.f.data());
    float* y = out.f.data();
    const float* r = residual ? residual->f.data() : nullptr;
    const int64_t n = out.f.numel();
    if (r || relu) {
#pragma omp parallel for simd if (n >= kParallelGrain)
        for (int64_t i = 0; i < n; ++i) {
            const float v = y[i] + (r ? r[i] : 0.f);
            y[i] = relu && !(v > 0.f) ? 0.f : v;
        }
    }
    return out;
}

PackedModel::Value PackedModel::run_linear(const json& op, const Value& in) {
    const Layer& L = layers_.at(op.at("layer").get<std::string>());
    const int64_t cin = op.at("cin"), cout = op.at("cout");
    TERN_CHECK(in.shape.size() == 2 && in.shape[1] == cin, "packed model: linear got input " << shape_str(in.shape));
    Value out;
    out.shape = {in.shape[0], cout};
    if (L.ternary) {
        TERN_CHECK(in.is_codes(), "packed model: ternary linear needs uint8 codes");
        kernels::Epilogue e;
        e.kind = kernels::Epilogue::Float;
        e.scale = L.scale.data();
        e.bias = L.bias.data();
        out.f = Tensor::empty(out.shape);
        kernels::ternary_linear(in.shape[0], in.code_data(), L.packed, e, out.f.data());
        return out;
    }
    out.f = linear(in.f, L.weight, Tensor::from_vector({cout}, L.bias));
    return out;
}

Tensor PackedModel::forward(const Tensor& images) {
    NoGradGuard no_grad;
    const json& input = program_.at("input");
    TERN_CHECK(images.dim() == 4 && images.size(3) == input.at("channels").get<int64_t>(),
               "packed model: expected images (N, H, W, " << input.at("channels").get<int64_t>() << "), got "
                                                         << images.shape_str());
    std::map<std::string, Value> values;
    values["image"].f = contiguous_data(images);
    values["image"].shape = images.shape();
    const json& ops = program_.at("ops");
    for (size_t i = 0; i < ops.size(); ++i) {
        const json& op = ops[i];
        const std::string kind = op.at("op");
        const Value& in = values.at(op.at("in").get<std::string>());
        Value out;
        if (kind == "conv") {
            const std::string r = op.value("residual", "");
            out = run_conv(op, in, r.empty() ? nullptr : &values.at(r));
        } else if (kind == "quantize") {
            out = run_quantize(op, in);
        } else if (kind == "linear") {
            out = run_linear(op, in);
        } else if (kind == "shortcut_a") {
            out.f = shortcut_option_a(in.f, op.at("cout"), op.at("stride"));
        } else if (kind == "avgpool") {
            out.f = global_avg_pool(in.f);
        } else if (kind == "maxpool") {
            out.f = max_pool2d(in.f, {op.at("k"), op.at("stride"), op.at("pad")});
        } else {
            TERN_FAIL(path_ << ": unknown op '" << kind << "'");
        }
        if (!out.is_codes()) out.shape = out.f.shape();
        values[op.at("out").get<std::string>()] = std::move(out);
        for (const std::string& v : release_after_[i]) values.erase(v);  // memory returns to the cache
    }
    return values.at(program_.at("output").get<std::string>()).f;
}

}  // namespace tern
