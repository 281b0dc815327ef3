// core/safetensors.h — read and write the safetensors format (HuggingFace), tern's file format for weights.
//
// The whole format, byte by byte:
//
//     [ N: u64 little-endian ][ N bytes of JSON header ][ data buffer: the raw little-endian tensor bytes ]
//
//     header = { "__metadata__": { "arch": "resnet20", ... },          (optional; string → string)
//                "conv1.weight": { "dtype": "F32", "shape": [16, 3, 3, 3], "data_offsets": [0, 1728] },
//                ... }
//
// data_offsets = [begin, end) in bytes, counted from the start of the data buffer (not of the file), and
// end − begin = numel(shape) · dtype_size(dtype). Arrays are stored row-major (contiguous), with no padding.
// There is no pickle and no code: a reader that checks every number before trusting it is safe on any file,
// which is why read_safetensors() is strict (see the list in safetensors.cpp) and why there is an in-memory
// parse_safetensors() to fuzz it with.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tern {

// The element types safetensors files use for model weights. F16 and BF16 are 16-bit floats (see
// half_to_float / bfloat16_to_float); BOOL is one byte per element.
enum class DType { F32, F16, BF16, F64, U8, I8, I16, I32, I64, BOOL };
size_t dtype_size(DType dtype);        // bytes per element: F32 → 4
const char* dtype_name(DType dtype);   // the name in the header: F32 → "F32"

// One array as it is in the file: its bytes, row-major and little-endian, not yet converted to anything.
struct NamedArray {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    std::vector<uint8_t> bytes;  // numel(shape) · dtype_size(dtype) bytes
};

struct SafetensorsFile {
    std::map<std::string, std::string> metadata;  // the "__metadata__" entry (empty if absent)
    std::vector<NamedArray> arrays;               // in the order of their bytes in the data buffer
    const NamedArray* find(const std::string& name) const;  // null if there is no such array
};

// Reads and validates a file; any problem is a tern::Error naming the file and, where there is one, the array.
SafetensorsFile read_safetensors(const std::string& path);
// The same, from bytes in memory; `name_for_errors` stands in for the file name in messages.
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name_for_errors);
// Writes the arrays contiguously in the given order, atomically (core/atomic_file.h). The header is padded
// with spaces to a multiple of 8 bytes, as the reference implementation does, so the data buffer is 8-aligned.
void write_safetensors(const std::string& path, const SafetensorsFile& file);

// 16-bit floats → float32, exactly (every F16 and BF16 value is representable as a float32).
float half_to_float(uint16_t bits);      // IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits
float bfloat16_to_float(uint16_t bits);  // bfloat16: the top 16 bits of a float32

// Arrays ↔ tern tensors. Tensors are float32: F32 is copied, F16/BF16/F64 are converted; other dtypes are an
// error naming `file_for_errors` and the array. tensor_to_array stores F32 and accepts any layout (views).
Tensor array_to_tensor(const NamedArray& array, const std::string& file_for_errors);
NamedArray tensor_to_array(const std::string& name, const Tensor& tensor);

// State dicts: every array in the file as a float32 tensor, keyed (and so ordered) by name. PyTorch's I64
// "<bn>.num_batches_tracked" counters are skipped, so `safetensors.torch.save_file(model.state_dict(), f)` loads.
std::map<std::string, Tensor> load_tensors(const std::string& path);
void save_tensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata = {});

}  // namespace tern
