// core/safetensors.cpp — TEMPORARY minimal safetensors reader/writer (F32 only); see core/safetensors.h.
#include "core/safetensors.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"

namespace tern {

std::map<std::string, Tensor> load_tensors(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    TERN_CHECK(f, "cannot open safetensors file " << path);
    f.seekg(0, std::ios::end);
    const uint64_t file_size = uint64_t(f.tellg());
    f.seekg(0);
    uint8_t n_bytes[8] = {};
    f.read(reinterpret_cast<char*>(n_bytes), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | n_bytes[i];
    TERN_CHECK(f && n <= file_size - 8, path << ": not a safetensors file (header size " << n << ")");
    std::string header(size_t(n), '\0');
    f.read(header.data(), std::streamsize(n));
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(header);
    } catch (const std::exception& e) {
        TERN_FAIL(path << ": the safetensors header is not valid JSON: " << e.what());
    }
    const uint64_t data_start = 8 + n, data_size = file_size - data_start;
    std::map<std::string, Tensor> out;
    for (auto& [name, entry] : j.items()) {
        if (name == "__metadata__") continue;
        const std::string dtype = entry.at("dtype").get<std::string>();
        TERN_CHECK(dtype == "F32", path << ": array '" << name << "' is " << dtype << "; this reader takes F32 only");
        const Shape shape = entry.at("shape").get<Shape>();
        const uint64_t begin = entry.at("data_offsets").at(0).get<uint64_t>();
        const uint64_t end = entry.at("data_offsets").at(1).get<uint64_t>();
        TERN_CHECK(begin <= end && end <= data_size && end - begin == uint64_t(shape_numel(shape)) * 4,
                   path << ": array '" << name << "' has data_offsets [" << begin << ", " << end
                        << ") that do not match its shape " << shape_str(shape) << " or the file size");
        Tensor t = Tensor::empty(shape);
        f.seekg(std::streamoff(data_start + begin));
        f.read(reinterpret_cast<char*>(t.data()), std::streamsize(end - begin));  // little-endian host assumed
        TERN_CHECK(f, path << ": truncated while reading array '" << name << "'");
        out.emplace(name, t);
    }
    return out;
}

void save_tensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        const uint64_t bytes = uint64_t(t.numel()) * 4;
        header[name] = {{"dtype", "F32"}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string h = header.dump();
    h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned, as the reference writer
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    TERN_CHECK(f, "cannot create safetensors file " << path);
    uint8_t n_bytes[8];
    for (int i = 0; i < 8; ++i) n_bytes[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
    f.write(reinterpret_cast<const char*>(n_bytes), 8);
    f.write(h.data(), std::streamsize(h.size()));
    for (const auto& [name, t] : tensors) {
        const Tensor c = contiguous_data(t);
        f.write(reinterpret_cast<const char*>(c.data()), std::streamsize(c.numel() * 4));
    }
    TERN_CHECK(f, "error writing safetensors file " << path);
}

}  // namespace tern
