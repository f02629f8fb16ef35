// RMSNorm forward, alone or fused with the residual add before it, and its input gradient: one block per row, fp32
// accumulation, warp-shuffle reduction.
#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

// y = w * cast(h * rsqrt(mean(h^2) + eps)) over the row h (already in the element type).
template <typename T>
__device__ void normalise_row(const T* __restrict__ h, const T* __restrict__ w, T* __restrict__ y, int64_t cols,
                              float sum_squares, float eps) {
  const float inv = rsqrtf(sum_squares / static_cast<float>(cols) + eps);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const T normed = from_f<T>(to_f(h[i]) * inv);
    y[i] = from_f<T>(to_f(w[i]) * to_f(normed));
  }
}

template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t cols,
                                float eps) {
  const T* xr = x + blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = to_f(xr[i]);
    sum += v * v;
  }
  normalise_row(xr, w, y + blockIdx.x * cols, cols, block_sum(sum), eps);
}

// h = x + r rounded to the element type (as a separate add would), then the RMSNorm of h. Each thread reads back
// only the elements of h it wrote itself.
template <typename T>
__global__ void add_rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ r, const T* __restrict__ w,
                                    T* __restrict__ h, T* __restrict__ y, int64_t cols, float eps) {
  const int64_t row = blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const T hv = from_f<T>(to_f(x[row + i]) + to_f(r[row + i]));
    h[row + i] = hv;
    const float v = to_f(hv);
    sum += v * v;
  }
  normalise_row(h + row, w, y + row, cols, block_sum(sum), eps);
}

// dx of y = w * cast(x * rstd), rstd = rsqrt(mean(x^2) + eps), given dy: with gw = cast(dy * w) (the gradient of
// the cast normalised row, rounded as autograd's product in the element type would be),
//   dx = rstd * gw - x * rstd^3 * sum(gw * x) / cols, in fp32, rounded once.
template <typename T>
__global__ void rms_norm_backward_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ dy,
                                         T* __restrict__ dx, int64_t cols, float eps) {
  const int64_t row = blockIdx.x * cols;
  float squares = 0.f, dot = 0.f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float xv = to_f(x[row + i]), gw = to_f(from_f<T>(to_f(dy[row + i]) * to_f(w[i])));
    squares += xv * xv;
    dot += gw * xv;
  }
  squares = block_sum(squares);
  dot = block_sum(dot);
  const float rstd = rsqrtf(squares / static_cast<float>(cols) + eps);
  const float coef = rstd * rstd * rstd * dot / static_cast<float>(cols);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float xv = to_f(x[row + i]), gw = to_f(from_f<T>(to_f(dy[row + i]) * to_f(w[i])));
    dx[row + i] = from_f<T>(rstd * gw - xv * coef);
  }
}

int threads_for(int64_t cols) { return cols >= 1024 ? 1024 : (cols >= 256 ? 256 : 128); }

}  // namespace

int rms_norm_forward(ElemType type, const void* x, const void* w, void* y, int64_t rows, int64_t cols, float eps,
                     void* stream) {
  if (rows == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    rms_norm_kernel<T><<<static_cast<unsigned>(rows), threads_for(cols), 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(y), cols, eps);
    return static_cast<int>(cudaGetLastError());
  });
}

int add_rms_norm_forward(ElemType type, const void* x, const void* r, const void* w, void* h, void* y, int64_t rows,
                         int64_t cols, float eps, void* stream) {
  if (rows == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    add_rms_norm_kernel<T><<<static_cast<unsigned>(rows), threads_for(cols), 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(x), static_cast<const T*>(r), static_cast<const T*>(w), static_cast<T*>(h),
        static_cast<T*>(y), cols, eps);
    return static_cast<int>(cudaGetLastError());
  });
}

int rms_norm_backward(ElemType type, const void* x, const void* w, const void* dy, void* dx, int64_t rows, int64_t cols,
                      float eps, void* stream) {
  if (rows == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    rms_norm_backward_kernel<T><<<static_cast<unsigned>(rows), threads_for(cols), 0,
                                  static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(dy), static_cast<T*>(dx), cols, eps);
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace vlm::cuda
