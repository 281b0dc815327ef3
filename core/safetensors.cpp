// core/safetensors.cpp — the strict safetensors reader, the writer, and float16/bfloat16 decoding.
// The format is described in core/safetensors.h.
#include "core/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>

#include "core/atomic_file.h"
#include "core/error.h"

// safetensors stores little-endian numbers, and this file reads and writes them with plain memcpy.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tern's safetensors code assumes a little-endian host");

namespace tern {

using json = nlohmann::json;

// ---- dtypes ------------------------------------------------------------------------------------------------

struct DTypeInfo {
    DType dtype;
    const char* name;
    size_t size;
};
static const DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::U8, "U8", 1},   {DType::I8, "I8", 1},   {DType::I16, "I16", 2},   {DType::I32, "I32", 4},
    {DType::I64, "I64", 8}, {DType::BOOL, "BOOL", 1},
};

static const DTypeInfo& info(DType dtype) {
    for (const DTypeInfo& d : kDTypes)
        if (d.dtype == dtype) return d;
    TERN_FAIL("invalid DType value " << int(dtype));
}
size_t dtype_size(DType dtype) { return info(dtype).size; }
const char* dtype_name(DType dtype) { return info(dtype).name; }

// numel(shape) · dtype_size(dtype) if that is at most `limit`, else nullopt. Every partial product is compared
// with the limit before multiplying, so a hostile shape like [2⁴⁰, 2⁴⁰] cannot overflow.
static std::optional<uint64_t> array_bytes(const Shape& shape, DType dtype, uint64_t limit) {
    if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
    uint64_t n = dtype_size(dtype);
    for (int64_t d : shape) {
        if (uint64_t(d) > limit / n) return std::nullopt;  // n · d > limit
        n *= uint64_t(d);
    }
    if (n > limit) return std::nullopt;
    return n;
}

// ---- reading -----------------------------------------------------------------------------------------------
//
// What the reader checks (each failure is a tern::Error naming the file and, where there is one, the array):
//   1. the file has the 8-byte header length N, and N ≤ 100 MB and N ≤ the bytes that follow it
//   2. the header is valid JSON, is an object, nests at most 8 levels deep, and names no array twice
//   3. "__metadata__", if present, is an object whose values are strings
//   4. every other entry is an object with "dtype" (a known name), "shape" (non-negative integers) and
//      "data_offsets" ([begin, end] integers with begin ≤ end ≤ the size of the data buffer)
//   5. end − begin = numel(shape) · dtype_size(dtype)
//   6. no two arrays share a byte.
// Unused bytes between or after the arrays are allowed: nothing reads them. (The reference Rust reader is
// stricter and rejects such gaps; files written by it or by us never have any.)

static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// A short rendering of a JSON value for error messages.
static std::string brief(const json& v) {
    std::string s = v.dump();
    return s.size() <= 40 ? s : s.substr(0, 37) + "...";
}

// A JSON integer ≥ 0 that fits in int64 (nlohmann parses non-negative integer literals as number_unsigned).
static uint64_t read_count(const json& v, const std::string& where, const char* what) {
    TERN_CHECK(v.is_number_integer(), where << ": " << what << " must be an integer, got " << brief(v));
    TERN_CHECK(v.is_number_unsigned(), where << ": " << what << " must not be negative, got " << brief(v));
    const uint64_t n = v.get<uint64_t>();
    TERN_CHECK(n <= uint64_t(INT64_MAX), where << ": " << what << " " << n << " is too large");
    return n;
}

static DType read_dtype(const json& v, const std::string& where) {
    TERN_CHECK(v.is_string(), where << ": dtype must be a string, got " << brief(v));
    const std::string name = v.get<std::string>();
    for (const DTypeInfo& d : kDTypes)
        if (name == d.name) return d.dtype;
    TERN_FAIL(where << ": unknown dtype '" << name
                    << "' (tern reads F32, F16, BF16, F64, U8, I8, I16, I32, I64, BOOL)");
}

// One header entry: "name": {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}.
struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;  // byte range [begin, end) in the data buffer
};

static Entry read_entry(const std::string& name, const json& e, uint64_t buffer_size, const std::string& file) {
    const std::string where = file + ": tensor '" + name + "'";
    TERN_CHECK(e.is_object(), where << ": entry must be a JSON object, got " << brief(e));
    for (const char* key : {"dtype", "shape", "data_offsets"})
        TERN_CHECK(e.contains(key), where << ": entry has no \"" << key << "\"");

    Entry out{name, read_dtype(e["dtype"], where), {}, 0, 0};

    const json& shape = e["shape"];
    TERN_CHECK(shape.is_array(), where << ": shape must be a JSON array, got " << brief(shape));
    for (const json& d : shape) out.shape.push_back(int64_t(read_count(d, where, "shape entry")));

    const json& offsets = e["data_offsets"];
    TERN_CHECK(offsets.is_array() && offsets.size() == 2,
               where << ": data_offsets must be an array [begin, end], got " << brief(offsets));
    out.begin = read_count(offsets[0], where, "data_offsets begin");
    out.end = read_count(offsets[1], where, "data_offsets end");
    TERN_CHECK(out.begin <= out.end,
               where << ": data_offsets [" << out.begin << ", " << out.end << "] has begin > end");
    TERN_CHECK(out.end <= buffer_size, where << ": data_offsets [" << out.begin << ", " << out.end
                                             << "] run past the end of the data buffer (" << buffer_size << " bytes)");

    const uint64_t span = out.end - out.begin;
    const std::optional<uint64_t> need = array_bytes(out.shape, out.dtype, buffer_size);  // nullopt: > buffer_size
    TERN_CHECK(need == span, where << ": shape " << shape_str(out.shape) << " of " << dtype_name(out.dtype) << " needs "
                                   << (need ? std::to_string(*need) : "more than " + std::to_string(buffer_size))
                                   << " bytes but data_offsets [" << out.begin << ", " << out.end << "] hold " << span);
    return out;
}

// nlohmann::json keeps the last of two equal keys without a word; this parser callback notices the repeat.
// It also refuses deep nesting: a valid header is 3 levels deep (object → entry → shape), and brief() renders
// a bad value with dump(), which recurses once per level (a header of 100,000 '[' would overflow the stack).
static constexpr int kMaxHeaderDepth = 8;
static json parse_header(const uint8_t* begin, const uint8_t* end, const std::string& file) {
    std::set<std::string> keys;
    std::string repeated;
    auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
        TERN_CHECK(depth <= kMaxHeaderDepth, file << ": header nests deeper than " << kMaxHeaderDepth
                                                  << " levels; not a safetensors header");
        if (depth == 1 && event == json::parse_event_t::key && !keys.insert(parsed.get<std::string>()).second)
            repeated = parsed.get<std::string>();
        return true;
    };
    json header;
    try {
        header = json::parse(begin, end, on_event);
    } catch (const json::exception& e) {
        TERN_FAIL(file << ": header is not valid JSON (" << e.what() << ")");
    }
    TERN_CHECK(header.is_object(), file << ": header must be a JSON object, got " << header.type_name());
    TERN_CHECK(repeated.empty(), file << ": the header names '" << repeated << "' twice");
    return header;
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& file) {
    // [ N: u64 ][ header: N bytes of JSON ][ data buffer ]
    TERN_CHECK(size >= 8, file << ": too short for a safetensors file (" << size
                               << " bytes; the header length alone takes 8)");
    uint64_t header_size;
    std::memcpy(&header_size, data, 8);
    TERN_CHECK(header_size <= kMaxHeaderBytes, file << ": header length " << header_size
                                                    << " is absurdly large (limit 100 MB); not a safetensors file?");
    TERN_CHECK(header_size <= size - 8, file << ": header length " << header_size << " runs past the end of the file ("
                                             << size << " bytes)");
    const uint8_t* header_begin = data + 8;
    const uint8_t* buffer = header_begin + header_size;
    const uint64_t buffer_size = size - 8 - header_size;

    SafetensorsFile out;
    std::vector<Entry> entries;
    const json header = parse_header(header_begin, buffer, file);
    for (const auto& [key, value] : header.items()) {
        if (key != "__metadata__") {
            entries.push_back(read_entry(key, value, buffer_size, file));
            continue;
        }
        TERN_CHECK(value.is_object(), file << ": __metadata__ must be an object of strings, got " << brief(value));
        for (const auto& [mkey, mvalue] : value.items()) {
            TERN_CHECK(mvalue.is_string(), file << ": __metadata__ value for '" << mkey << "' must be a string, got "
                                                << brief(mvalue));
            out.metadata[mkey] = mvalue.get<std::string>();
        }
    }

    // Put the arrays in buffer order (stable: empty arrays at the same offset stay in name order). Then no two
    // share a byte exactly when each non-empty array starts at or after the end of the one before it.
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
    const Entry* previous = nullptr;  // the last non-empty array
    for (const Entry& e : entries) {
        if (e.begin == e.end) continue;  // an empty array occupies no bytes
        TERN_CHECK(!previous || e.begin >= previous->end,
                   file << ": tensors '" << previous->name << "' [" << previous->begin << ", " << previous->end
                        << ") and '" << e.name << "' [" << e.begin << ", " << e.end << ") overlap in the data buffer");
        previous = &e;
    }

    for (const Entry& e : entries)
        out.arrays.push_back({e.name, e.dtype, e.shape, std::vector<uint8_t>(buffer + e.begin, buffer + e.end)});
    return out;
}

SafetensorsFile read_safetensors(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file(path);
    return parse_safetensors(bytes.data(), bytes.size(), path);
}

const NamedArray* SafetensorsFile::find(const std::string& name) const {
    for (const NamedArray& a : arrays)
        if (a.name == name) return &a;
    return nullptr;
}

// ---- writing -----------------------------------------------------------------------------------------------

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
    // ordered_json keeps insertion order, so the header lists the arrays in the order of their bytes.
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const NamedArray& a : file.arrays) {
        const std::string where = path + ": tensor '" + a.name + "'";
        TERN_CHECK(a.name != "__metadata__", where << ": the name __metadata__ is reserved");
        TERN_CHECK(names.insert(a.name).second, where << ": two arrays have this name");
        for (int64_t d : a.shape) TERN_CHECK(d >= 0, where << ": negative size in shape " << shape_str(a.shape));
        TERN_CHECK(array_bytes(a.shape, a.dtype, a.bytes.size()) == a.bytes.size(),
                   where << ": " << a.bytes.size() << " bytes do not match shape " << shape_str(a.shape) << " of "
                         << dtype_name(a.dtype));
        header[a.name] = {{"dtype", dtype_name(a.dtype)},
                          {"shape", a.shape},
                          {"data_offsets", nlohmann::ordered_json::array({offset, offset + a.bytes.size()})}};
        offset += a.bytes.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // pad so that the data buffer starts 8-byte aligned
    const uint64_t header_size = text.size();

    write_file_atomic(path, [&](std::FILE* f) {
        write_bytes(f, &header_size, 8);
        write_bytes(f, text.data(), text.size());
        for (const NamedArray& a : file.arrays) write_bytes(f, a.bytes.data(), a.bytes.size());
    });
}

// ---- 16-bit floats -----------------------------------------------------------------------------------------

static float float_from_bits(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// binary16 = sign (1 bit) | exponent (5, bias 15)  | mantissa (10)
// float32  = sign (1 bit) | exponent (8, bias 127) | mantissa (23)
float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h >> 15) << 31;
    const uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    if (exponent == 0) {  // zero or subnormal: value = mantissa · 2⁻²⁴ (exact in float32)
        const float magnitude = std::ldexp(float(mantissa), -24);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31) return float_from_bits(sign | 0x7f800000u | (mantissa << 13));  // inf, or NaN (payload kept)
    return float_from_bits(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));   // normal: rebias, widen
}

float bfloat16_to_float(uint16_t h) { return float_from_bits(uint32_t(h) << 16); }

// ---- arrays ↔ tensors --------------------------------------------------------------------------------------

Tensor array_to_tensor(const NamedArray& a, const std::string& file) {
    const std::string where = file + ": tensor '" + a.name + "'";
    TERN_CHECK(a.dtype == DType::F32 || a.dtype == DType::F16 || a.dtype == DType::BF16 || a.dtype == DType::F64,
               where << ": dtype " << dtype_name(a.dtype)
                     << " is not a float type (tensors load from F32, F16, BF16, F64)");
    TERN_CHECK(array_bytes(a.shape, a.dtype, a.bytes.size()) == a.bytes.size(),
               where << ": " << a.bytes.size() << " bytes do not match shape " << shape_str(a.shape));

    Tensor t = Tensor::empty(a.shape);
    float* out = t.data();
    const uint8_t* in = a.bytes.data();
    const size_t n = size_t(t.numel());
    // memcpy each element out of the byte buffer: the bytes need not be aligned for the element type.
    auto convert = [&](auto element, auto to_float) {
        for (size_t i = 0; i < n; ++i) {
            std::memcpy(&element, in + i * sizeof(element), sizeof(element));
            out[i] = to_float(element);
        }
    };
    switch (a.dtype) {
        case DType::F32: if (n) std::memcpy(out, in, n * 4); break;
        case DType::F16: convert(uint16_t{}, half_to_float); break;
        case DType::BF16: convert(uint16_t{}, bfloat16_to_float); break;
        case DType::F64: convert(double{}, [](double x) { return float(x); }); break;
        default: break;  // excluded above
    }
    return t;
}

NamedArray tensor_to_array(const std::string& name, const Tensor& t) {
    TERN_CHECK(t.defined(), "tensor_to_array: tensor '" << name << "' is undefined");
    const std::vector<float> values = t.to_vector();  // row-major, whatever t's strides are
    NamedArray a{name, DType::F32, t.shape(), std::vector<uint8_t>(values.size() * sizeof(float))};
    if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
    return a;
}

std::map<std::string, Tensor> load_tensors(const std::string& path) {
    std::map<std::string, Tensor> tensors;
    const std::string counter = ".num_batches_tracked";
    for (const NamedArray& a : read_safetensors(path).arrays) {
        // PyTorch's BatchNorm step counter (I64) is in every torchvision state dict; tern keeps no such counter.
        const bool bn_counter = a.name.size() >= counter.size() &&
                                a.name.compare(a.name.size() - counter.size(), counter.size(), counter) == 0;
        if (bn_counter && a.dtype == DType::I64) continue;
        tensors[a.name] = array_to_tensor(a, path);
    }
    return tensors;
}

void save_tensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata) {
    SafetensorsFile file;
    file.metadata = metadata;
    for (const auto& [name, t] : tensors) file.arrays.push_back(tensor_to_array(name, t));
    write_safetensors(path, file);
}

}  // namespace tern
