// RMSNorm forward: one block per row, fp32 accumulation, warp-shuffle reduction.
#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t cols,
                                float eps) {
  const T* xr = x + blockIdx.x * cols;
  T* yr = y + blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = to_f(xr[i]);
    sum += v * v;
  }
  // Reduce within each warp, then across warps through shared memory.
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  __shared__ float partial[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = sum;
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) / 32;
    sum = lane < warps ? partial[lane] : 0.f;
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0) partial[0] = sum;
  }
  __syncthreads();
  const float inv = rsqrtf(partial[0] / static_cast<float>(cols) + eps);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const T normed = from_f<T>(to_f(xr[i]) * inv);
    yr[i] = from_f<T>(to_f(w[i]) * to_f(normed));
  }
}

template <typename T>
int launch(const void* x, const void* w, void* y, int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  if (rows == 0) return 0;
  const int threads = cols >= 1024 ? 1024 : (cols >= 256 ? 256 : 128);
  rms_norm_kernel<T><<<static_cast<unsigned>(rows), threads, 0, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(y), cols, eps);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int rms_norm_forward(ElemType type, const void* x, const void* w, void* y, int64_t rows, int64_t cols, float eps,
                     void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case ElemType::kF32: return launch<float>(x, w, y, rows, cols, eps, s);
    case ElemType::kF16: return launch<__half>(x, w, y, rows, cols, eps, s);
    case ElemType::kBF16: return launch<__nv_bfloat16>(x, w, y, rows, cols, eps, s);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace vlm::cuda
