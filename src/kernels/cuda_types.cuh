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

// op(v over the whole block) for a commutative op; every thread gets it. blockDim.x is a multiple of 32, at most
// 1024. Safe to call several times in a row.
template <typename Op>
__device__ __forceinline__ float block_reduce(float v, Op op) {
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  __shared__ float partial[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = (blockDim.x + 31) / 32;
  __syncthreads();  // the readers of an earlier call are done with `partial`
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = partial[0];
  for (int i = 1; i < warps; ++i) v = op(v, partial[i]);
  return v;
}

__device__ __forceinline__ float block_sum(float v) {
  return block_reduce(v, [](float a, float b) { return a + b; });
}

__device__ __forceinline__ float block_max(float v) {
  return block_reduce(v, [](float a, float b) { return fmaxf(a, b); });
}

}  // namespace vlm::cuda
