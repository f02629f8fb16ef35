// Raw-pointer CUDA launchers (no torch types, so this header is shared by .cu and .cpp files).
#pragma once

#include <cstdint>

namespace vlm::cuda {

enum class ElemType { kF32, kF16, kBF16 };

// y[r, :] = w * cast(x[r, :] * rsqrt(mean(x[r, :]^2) + eps)) for rows r < rows of `cols` contiguous elements; the
// normalisation runs in fp32 and is rounded to the element type before the weight multiply, as in transformers'
// Llama/Qwen RMSNorm. Returns a CUDA error code (0 = success).
int rms_norm_forward(ElemType type, const void* x, const void* w, void* y, int64_t rows, int64_t cols, float eps,
                     void* stream);

}  // namespace vlm::cuda
