// safetensors <-> torch tensors. Tensors read from a file share its memory map (zero copy) and keep it alive.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "core/safetensors.h"

namespace vlm {

// The torch scalar type holding a safetensors dtype. On libtorch builds without a native type (float8 before
// 2.1, unsigned 16/32/64-bit before 2.3) the tensor is converted on read: float8 -> float32, U16 -> int32,
// U32 -> int64, U64 -> int64 (error if a value exceeds INT64_MAX). F4 and F6_* have no torch type: an error.
at::Tensor to_torch(const safetensors::File& file, const safetensors::TensorInfo& info);
at::Tensor to_torch(const safetensors::Checkpoint& ckpt, const std::string& name);

// The safetensors dtype for a torch scalar type; error for types the format cannot hold.
safetensors::DType dtype_of(at::ScalarType type);

// Saves CPU tensors (made contiguous first) atomically. The order of `tensors` does not matter.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace vlm
