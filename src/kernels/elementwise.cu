// Element-wise fused kernels: rotary embedding and SwiGLU. Grid-stride loops over the output, fp32 arithmetic.
#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 8 ? b : 65535 * 8);
}

template <typename T>
__global__ void rope_kernel(const T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin,
                            T* __restrict__ y, int64_t n, int64_t h, int64_t d) {
  const int64_t half = d / 2;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i % d;               // position in the head
    const int64_t row = i / (h * d);       // b * L + l: the cos / sin row
    const int64_t c = row * d + j;
    const float xi = to_f(x[i]);
    const float rotated = j < half ? -to_f(x[i + half]) : to_f(x[i - half]);
    y[i] = from_f<T>(xi * to_f(cos[c]) + rotated * to_f(sin[c]));
  }
}

template <typename T>
__global__ void swiglu_kernel(const T* __restrict__ gate, const T* __restrict__ up, T* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = to_f(gate[i]);
    y[i] = from_f<T>(g / (1.f + __expf(-g)) * to_f(up[i]));
  }
}

}  // namespace

int rope_forward(ElemType type, const void* x, const void* cos, const void* sin, void* y, int64_t b, int64_t l,
                 int64_t h, int64_t d, void* stream) {
  const int64_t n = b * l * h * d;
  if (n == 0) return 0;
  if (d % 2 != 0) return static_cast<int>(cudaErrorInvalidValue);
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    rope_kernel<T><<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(x), static_cast<const T*>(cos), static_cast<const T*>(sin), static_cast<T*>(y), n, h,
        d);
    return static_cast<int>(cudaGetLastError());
  });
}

int swiglu_forward(ElemType type, const void* gate, const void* up, void* y, int64_t n, void* stream) {
  if (n == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    swiglu_kernel<T><<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(gate), static_cast<const T*>(up), static_cast<T*>(y), n);
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace vlm::cuda
