// Element types of the kernels: float loads/stores of fp32 / fp16 / bf16 and the dispatch from ElemType.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/kernels_cuda.h"

namespace vlm::cuda {

template <typename T>
__device__ __forceinline__ float to_f(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float to_f(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_f(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T from_f(float v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_f(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f(float v) {
  return __float2bfloat16_rn(v);
}

// Calls f(T{}) for the element type T (host code; f reads the type as decltype of its argument).
template <typename F>
int dispatch(ElemType type, F&& f) {
  switch (type) {
    case ElemType::kF32: return f(float{});
    case ElemType::kF16: return f(__half{});
    case ElemType::kBF16: return f(__nv_bfloat16{});
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace vlm::cuda
