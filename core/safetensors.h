// core/safetensors.h — TEMPORARY minimal safetensors reader/writer (F32 only), so that models/ and
// apps/eval_imagenet build before the safetensors branch lands; that branch's full version (validation,
// F16/BF16, atomic writes) replaces this file and core/safetensors.cpp, with the same two functions.
//
// The format: [u64 little-endian N][N bytes of JSON header][raw little-endian data]. The header maps each name
// to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (bytes, relative to the data), plus an
// optional "__metadata__" object of strings.
#pragma once
#include <map>
#include <string>

#include "core/tensor.h"

namespace tern {

// State dicts: every array in the file as a float32 tensor, keyed (and so ordered) by name. Any array that is
// not F32 is an error naming the file and the array.
std::map<std::string, Tensor> load_tensors(const std::string& path);
void save_tensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata = {});

}  // namespace tern
