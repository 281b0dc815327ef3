// quant/packed_model.cpp — loading a packed model and running its program (see packed_model.h).
#include "quant/packed_model.h"

#include <cmath>
#include <filesystem>
#include <set>

#include "core/autograd.h"
#include "core/error.h"
#include "core/kernels/conv2d.h"
#include "core/ops/matmul.h"
#include "core/ops/pool.h"
#include "core/ops/shape_ops.h"
#include "core/ops/shortcut.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "quant/packed_format.h"

namespace tern {

using json = nlohmann::json;

PackedModel::PackedModel(const std::string& path) : path_(path) {
    load(read_safetensors(path));
    file_bytes_ = size_t(std::filesystem::file_size(path));
}

PackedModel::PackedModel(const uint8_t* data, size_t size, const std::string& name) : path_(name) {
    load(parse_safetensors(data, size, name));
    file_bytes_ = size;
}

namespace {
// Limits that no real model reaches and that keep a hostile file from asking for absurd work or memory.
constexpr int64_t kMaxChannels = 1 << 16, kMaxKernel = 15, kMaxStride = 8, kMaxSide = 8192;
constexpr int64_t kMaxValueElements = int64_t(1) << 28;  // per image
}  // namespace

void PackedModel::load(const SafetensorsFile& file) {
    const std::string& path = path_;
    for (const NamedArray& a : file.arrays) array_bytes_ += a.bytes.size();
    auto meta = file.metadata.find("tern.packed");
    TERN_CHECK(meta != file.metadata.end(), path << " is not a packed tern model (no 'tern.packed' metadata)");
    try {
        program_ = json::parse(meta->second);
    } catch (const std::exception& e) {
        TERN_FAIL(path << ": the packed program is not valid JSON: " << e.what());
    }
    // Everything below reads the JSON through checked accessors: a missing field or a wrong type is a tern::Error
    // naming the file and the op, not a JSON library exception.
    auto field = [&](const json& j, const char* key, const std::string& where) -> const json& {
        TERN_CHECK(j.is_object() && j.contains(key), path << ": " << where << " has no '" << key << "'");
        return j[key];
    };
    auto integer = [&](const json& j, const char* key, const std::string& where, int64_t lo, int64_t hi) {
        const json& v = field(j, key, where);
        TERN_CHECK(v.is_number_integer(), path << ": " << where << ": '" << key << "' must be an integer");
        const int64_t x = v.get<int64_t>();
        TERN_CHECK(x >= lo && x <= hi, path << ": " << where << ": '" << key << "' = " << x << " is outside [" << lo
                                            << ", " << hi << "]");
        return x;
    };
    auto number = [&](const json& j, const char* key, const std::string& where) {
        const json& v = field(j, key, where);
        TERN_CHECK(v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0,
                   path << ": " << where << ": '" << key << "' must be a positive number");
        return v.get<float>();
    };
    auto boolean = [&](const json& j, const char* key, const std::string& where) {
        const json& v = field(j, key, where);
        TERN_CHECK(v.is_boolean(), path << ": " << where << ": '" << key << "' must be true or false");
        return v.get<bool>();
    };
    auto string = [&](const json& j, const char* key, const std::string& where) {
        const json& v = field(j, key, where);
        TERN_CHECK(v.is_string(), path << ": " << where << ": '" << key << "' must be a string");
        return v.get<std::string>();
    };
    TERN_CHECK(program_.is_object() && program_.value("format", "") == "tern-packed-v1",
               path << ": unknown packed format (expected \"tern-packed-v1\")");
    num_classes_ = integer(program_, "num_classes", "the program", 1, kMaxChannels);
    const json& input = field(program_, "input", "the program");
    in_h_ = integer(input, "height", "input", 1, kMaxSide);
    in_w_ = integer(input, "width", "input", 1, kMaxSide);
    in_c_ = integer(input, "channels", "input", 1, 64);

    auto array = [&](const std::string& name) -> const NamedArray& {
        const NamedArray* a = file.find(name);
        TERN_CHECK(a, path << ": the program uses '" << name << "', which the file does not contain");
        return *a;
    };
    auto floats = [&](const std::string& name, int64_t n) {
        const Tensor t = array_to_tensor(array(name), path);
        TERN_CHECK(t.numel() == n, path << ": '" << name << "' has " << t.numel() << " values, expected " << n);
        std::vector<float> v = t.to_vector();
        for (float x : v) TERN_CHECK(std::isfinite(x), path << ": '" << name << "' holds a non-finite value");
        return v;
    };

    // Shape inference: every value's shape per image and whether it holds floats or uint8 codes.
    struct ValueInfo {
        Shape shape;  // without the batch dimension: (H, W, C) or (C)
        bool codes = false;
        uint8_t pad = 0;
    };
    std::map<std::string, int> ids;
    std::vector<ValueInfo> info;
    auto define = [&](const std::string& name, ValueInfo v, const std::string& where) {
        TERN_CHECK(!ids.count(name), path << ": " << where << " defines '" << name << "' a second time");
        int64_t n = 1;
        for (int64_t d : v.shape) {
            TERN_CHECK(d >= 1 && d <= kMaxValueElements, path << ": " << where << " produces an empty or huge value");
            n *= d;
            TERN_CHECK(n <= kMaxValueElements, path << ": " << where << " produces a value of more than 2^28 elements");
        }
        ids[name] = int(info.size());
        largest_value_ = std::max(largest_value_, n);
        info.push_back(v);
        return int(info.size()) - 1;
    };
    auto use = [&](const std::string& name, const std::string& where) {
        auto it = ids.find(name);
        TERN_CHECK(it != ids.end(), path << ": " << where << " reads '" << name << "' before it is computed");
        return it->second;
    };
    define("image", {{in_h_, in_w_, in_c_}, false, 0}, "the input");

    const json& ops = field(program_, "ops", "the program");
    TERN_CHECK(ops.is_array() && ops.size() <= 10000, path << ": 'ops' must be a list (of at most 10000 ops)");
    std::vector<int> last_use;
    for (size_t i = 0; i < ops.size(); ++i) {
        const json& j = ops[i];
        const std::string kind = string(j, "op", "op " + std::to_string(i));
        const std::string where = "op " + std::to_string(i) + " (" + kind + ")";
        Op op;
        op.in = use(string(j, "in", where), where);
        const ValueInfo in = info[size_t(op.in)];
        ValueInfo out;
        if (kind == "conv" || kind == "linear") {
            op.kind = kind == "conv" ? Op::Conv : Op::Linear;
            op.layer = string(j, "layer", where);
            op.ternary = boolean(j, "ternary", where);
            op.cin = integer(j, "cin", where, 1, kMaxChannels);
            op.cout = integer(j, "cout", where, 1, kMaxChannels);
            TERN_CHECK(!layers_.count(op.layer), path << ": " << where << ": layer '" << op.layer << "' used twice");
            TERN_CHECK(in.codes == op.ternary, path << ": " << where << ": a " << (op.ternary ? "ternary" : "float")
                                                    << " layer needs " << (op.ternary ? "uint8 codes" : "floats")
                                                    << " as input");
            if (op.kind == Op::Conv) {
                op.k = integer(j, "k", where, 1, kMaxKernel);
                op.stride = integer(j, "stride", where, 1, kMaxStride);
                op.pad = integer(j, "pad", where, 0, op.k - 1);
                op.relu = boolean(j, "relu", where);
                TERN_CHECK(in.shape.size() == 3 && in.shape[2] == op.cin,
                           path << ": " << where << ": input " << shape_str(in.shape) << " does not have " << op.cin
                                << " channels");
                const int64_t oh = (in.shape[0] + 2 * op.pad - op.k) / op.stride + 1;
                const int64_t ow = (in.shape[1] + 2 * op.pad - op.k) / op.stride + 1;
                TERN_CHECK(in.shape[0] + 2 * op.pad >= op.k && in.shape[1] + 2 * op.pad >= op.k,
                           path << ": " << where << ": the kernel does not fit the input " << shape_str(in.shape));
                out.shape = {oh, ow, op.cout};
                const std::string r = j.contains("residual") ? string(j, "residual", where) : "";
                if (!r.empty()) {
                    op.residual = use(r, where);
                    TERN_CHECK(!info[size_t(op.residual)].codes && info[size_t(op.residual)].shape == out.shape,
                               path << ": " << where << ": the residual must be floats of the output's shape "
                                    << shape_str(out.shape));
                }
                if (j.contains("out_q")) {
                    TERN_CHECK(op.ternary && op.residual < 0, path << ": " << where
                                                                  << ": only a ternary conv without residual can emit codes");
                    op.out_codes = true;
                    op.out_step = number(j["out_q"], "step", where + ".out_q");
                    op.out_qmax = int(integer(j["out_q"], "qmax", where + ".out_q", 1, 255));
                    out.codes = true;
                }
            } else {
                TERN_CHECK(in.shape.size() == 1 && in.shape[0] == op.cin,
                           path << ": " << where << ": input " << shape_str(in.shape) << " is not (" << op.cin << ",)");
                out.shape = {op.cout};
            }
            // The layer's numbers.
            const int64_t per_oc = op.cin * op.k * op.k;
            Layer L;
            L.ternary = op.ternary;
            L.scale = floats(op.layer + ".scale", op.cout);
            L.bias = floats(op.layer + ".bias", op.cout);
            if (L.ternary) {
                const NamedArray& w2 = array(op.layer + ".w2");
                TERN_CHECK(w2.dtype == DType::U8, path << ": '" << op.layer << ".w2' must be U8");
                const std::vector<int8_t> codes = unpack_ternary_2bit(w2.bytes, op.cout * per_oc);
                L.packed = kernels::PackedTernaryWeights::pack(codes.data(), op.cout, op.cin, op.k, op.k);
            } else {
                L.weight = array_to_tensor(array(op.layer + ".weight"), path);
                TERN_CHECK(L.weight.numel() == op.cout * per_oc,
                           path << ": '" << op.layer << ".weight' has " << L.weight.numel() << " values, expected "
                                << op.cout * per_oc);
                L.weight = reshape(L.weight, op.kind == Op::Conv ? Shape{op.cout, op.cin, op.k, op.k}
                                                                 : Shape{op.cout, op.cin}).contiguous();
                for (int64_t o = 0; o < op.cout; ++o)  // fold the per-channel scale into the float weights
                    for (int64_t q = 0; q < per_oc; ++q) L.weight.data()[o * per_oc + q] *= L.scale[size_t(o)];
            }
            layers_[op.layer] = std::move(L);
        } else if (kind == "quantize") {
            op.kind = Op::Quantize;
            TERN_CHECK(!in.codes, path << ": " << where << " needs floats as input");
            op.step = number(j, "step", where);
            op.qmax = int(integer(j, "qmax", where, 1, 255));
            op.is_signed = boolean(j, "signed", where);
            TERN_CHECK(!op.is_signed || op.qmax <= 127, path << ": " << where << ": signed codes need qmax ≤ 127");
            out = {in.shape, true, uint8_t(op.is_signed ? 128 : 0)};
        } else if (kind == "shortcut_a") {
            op.kind = Op::ShortcutA;
            op.cout = integer(j, "cout", where, 1, kMaxChannels);
            op.stride = integer(j, "stride", where, 1, kMaxStride);
            TERN_CHECK(!in.codes && in.shape.size() == 3 && op.cout >= in.shape[2] && (op.cout - in.shape[2]) % 2 == 0,
                       path << ": " << where << ": needs float (H, W, C) input with C ≤ cout, same parity");
            out.shape = {(in.shape[0] + op.stride - 1) / op.stride, (in.shape[1] + op.stride - 1) / op.stride, op.cout};
        } else if (kind == "maxpool") {
            op.kind = Op::MaxPool;
            op.k = integer(j, "k", where, 1, kMaxKernel);
            op.stride = integer(j, "stride", where, 1, kMaxStride);
            op.pad = integer(j, "pad", where, 0, op.k / 2);
            TERN_CHECK(!in.codes && in.shape.size() == 3 && in.shape[0] + 2 * op.pad >= op.k &&
                           in.shape[1] + 2 * op.pad >= op.k,
                       path << ": " << where << ": needs float (H, W, C) input at least as large as the window");
            out.shape = {(in.shape[0] + 2 * op.pad - op.k) / op.stride + 1,
                         (in.shape[1] + 2 * op.pad - op.k) / op.stride + 1, in.shape[2]};
        } else if (kind == "avgpool") {
            op.kind = Op::AvgPool;
            TERN_CHECK(!in.codes && in.shape.size() == 3, path << ": " << where << ": needs float (H, W, C) input");
            out.shape = {in.shape[2]};
        } else {
            TERN_FAIL(path << ": " << where << ": unknown op '" << kind << "'");
        }
        op.out = define(string(j, "out", where), out, where);
        last_use.resize(info.size(), -1);
        last_use[size_t(op.in)] = int(i);
        if (op.residual >= 0) last_use[size_t(op.residual)] = int(i);
        ops_.push_back(std::move(op));
    }
    output_ = use(string(program_, "output", "the program"), "the program's output");
    TERN_CHECK(!info[size_t(output_)].codes && info[size_t(output_)].shape == Shape{num_classes_},
               path << ": the output must be floats of shape (" << num_classes_ << ",)");
    num_values_ = int(info.size());
    last_use.resize(info.size(), -1);
    for (int v = 0; v < num_values_; ++v)
        if (v != output_ && last_use[size_t(v)] >= 0) ops_[size_t(last_use[size_t(v)])].release.push_back(v);
}

size_t PackedModel::packed_weight_bytes() const {
    size_t n = 0;
    for (auto& [name, L] : layers_) n += L.ternary ? L.packed.bytes() : size_t(L.weight.numel()) * 4;
    return n;
}

// floats → uint8 codes: q = clamp(round(x/step), lo, qmax) (+128 when signed), as LSQ's forward computes it.
PackedModel::Value PackedModel::run_quantize(const Op& op, const Value& in) {
    const float step = op.step, inv = 1.f / step;
    const int qmax = op.qmax;
    const bool is_signed = op.is_signed;
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

PackedModel::Value PackedModel::run_conv(const Op& op, const Value& in, const Value* residual) {
    const Layer& L = layers_.at(op.layer);
    const int64_t k = op.k, stride = op.stride, pad = op.pad, cout = op.cout;
    const bool relu = op.relu;
    Value out;
    if (L.ternary) {
        const auto s = kernels::TernaryConvShape::make(in.shape[0], in.shape[1], in.shape[2], in.shape[3], cout, k, k,
                                                       stride, pad);
        out.shape = {s.N, s.OH, s.OW, cout};
        kernels::Epilogue e;
        e.scale = L.scale.data();
        e.bias = L.bias.data();
        if (op.out_codes) {
            e.kind = kernels::Epilogue::Uint8;
            e.out_inv_step = 1.f / op.out_step;
            e.qmax = op.out_qmax;
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

PackedModel::Value PackedModel::run_linear(const Op& op, const Value& in) {
    const Layer& L = layers_.at(op.layer);
    const int64_t cout = op.cout;
    Value out;
    out.shape = {in.shape[0], cout};
    if (L.ternary) {
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
    TERN_CHECK(images.dim() == 4 && images.size(1) == in_h_ && images.size(2) == in_w_ && images.size(3) == in_c_,
               path_ << ": expects images (N, " << in_h_ << ", " << in_w_ << ", " << in_c_ << "), got "
                     << images.shape_str());
    std::vector<Value> values(static_cast<size_t>(num_values_));
    values[0].f = contiguous_data(images);  // value 0 is the image
    values[0].shape = images.shape();
    for (const Op& op : ops_) {
        const Value& in = values[size_t(op.in)];
        Value out;
        switch (op.kind) {
            case Op::Conv: out = run_conv(op, in, op.residual >= 0 ? &values[size_t(op.residual)] : nullptr); break;
            case Op::Quantize: out = run_quantize(op, in); break;
            case Op::Linear: out = run_linear(op, in); break;
            case Op::ShortcutA: out.f = shortcut_option_a(in.f, op.cout, op.stride); break;
            case Op::AvgPool: out.f = global_avg_pool(in.f); break;
            case Op::MaxPool: out.f = max_pool2d(in.f, {op.k, op.stride, op.pad}); break;
        }
        if (!out.is_codes()) out.shape = out.f.shape();
        values[size_t(op.out)] = std::move(out);
        for (int v : op.release) values[size_t(v)] = Value();  // its memory returns to the cache
    }
    return values[size_t(output_)].f;
}

}  // namespace tern
