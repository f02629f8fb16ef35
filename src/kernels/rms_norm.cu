// RMSNorm forward, alone or fused with the residual add before it, and its input gradient: one block per row, fp32
// accumulation, warp-shuffle reduction.
#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

// Each block runs one row of `cols` elements, V at a time (16-byte packs where cols and the pointers allow), with
// about one pack per thread for the usual widths; rows re-read in the second pass come from the L1 / L2 caches.

// y = w * cast(h * rsqrt(mean(h^2) + eps)) over the row h (already in the element type).
template <typename T, int V>
__device__ void normalise_row(const T* __restrict__ h, const T* __restrict__ w, T* __restrict__ y, int64_t cols,
                              float sum_squares, float eps) {
  const float inv = rsqrtf(sum_squares / static_cast<float>(cols) + eps);
  for (int64_t i = threadIdx.x * V; i < cols; i += blockDim.x * V) {
    const Pack<T, V> hv = load_pack<V>(h + i), wv = load_pack<V>(w + i);
    Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = from_f<T>(to_f(wv.v[k]) * to_f(from_f<T>(to_f(hv.v[k]) * inv)));
    store_pack<V>(y + i, out);
  }
}

template <typename T, int V>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t cols,
                                float eps) {
  const T* xr = x + blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t i = threadIdx.x * V; i < cols; i += blockDim.x * V) {
    const Pack<T, V> xv = load_pack<V>(xr + i);
#pragma unroll
    for (int k = 0; k < V; ++k) sum += to_f(xv.v[k]) * to_f(xv.v[k]);
  }
  normalise_row<T, V>(xr, w, y + blockIdx.x * cols, cols, block_sum(sum), eps);
}

// h = x + r rounded to the element type (as a separate add would), then the RMSNorm of h. Each thread reads back
// only the elements of h it wrote itself.
template <typename T, int V>
__global__ void add_rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ r, const T* __restrict__ w,
                                    T* __restrict__ h, T* __restrict__ y, int64_t cols, float eps) {
  const int64_t row = blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t i = threadIdx.x * V; i < cols; i += blockDim.x * V) {
    const Pack<T, V> xv = load_pack<V>(x + row + i), rv = load_pack<V>(r + row + i);
    Pack<T, V> hv;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      hv.v[k] = from_f<T>(to_f(xv.v[k]) + to_f(rv.v[k]));
      sum += to_f(hv.v[k]) * to_f(hv.v[k]);
    }
    store_pack<V>(h + row + i, hv);
  }
  normalise_row<T, V>(h + row, w, y + row, cols, block_sum(sum), eps);
}

// dx of y = w * cast(x * rstd), rstd = rsqrt(mean(x^2) + eps), given dy: with gw = cast(dy * w) (the gradient of
// the cast normalised row, rounded as autograd's product in the element type would be),
//   dx = rstd * gw - x * rstd^3 * sum(gw * x) / cols, in fp32, rounded once.
template <typename T, int V>
__global__ void rms_norm_backward_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ dy,
                                         T* __restrict__ dx, int64_t cols, float eps) {
  const int64_t row = blockIdx.x * cols;
  float squares = 0.f, dot = 0.f;
  for (int64_t i = threadIdx.x * V; i < cols; i += blockDim.x * V) {
    const Pack<T, V> xv = load_pack<V>(x + row + i), wv = load_pack<V>(w + i), dv = load_pack<V>(dy + row + i);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float xf = to_f(xv.v[k]), gw = to_f(from_f<T>(to_f(dv.v[k]) * to_f(wv.v[k])));
      squares += xf * xf;
      dot += gw * xf;
    }
  }
  squares = block_sum(squares);
  dot = block_sum(dot);
  const float rstd = rsqrtf(squares / static_cast<float>(cols) + eps);
  const float coef = rstd * rstd * rstd * dot / static_cast<float>(cols);
  for (int64_t i = threadIdx.x * V; i < cols; i += blockDim.x * V) {
    const Pack<T, V> xv = load_pack<V>(x + row + i), wv = load_pack<V>(w + i), dv = load_pack<V>(dy + row + i);
    Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float gw = to_f(from_f<T>(to_f(dv.v[k]) * to_f(wv.v[k])));
      out.v[k] = from_f<T>(rstd * gw - to_f(xv.v[k]) * coef);
    }
    store_pack<V>(dx + row + i, out);
  }
}

// Threads for a row of `packs` packs: one pack each, whole warps, 64 to 1024.
unsigned threads_for(int64_t packs) {
  const int64_t t = (packs + 31) / 32 * 32;
  return static_cast<unsigned>(t < 64 ? 64 : (t > 1024 ? 1024 : t));
}

// Launches kernel<T, V> over `rows` blocks with the pack width the row length and pointers allow.
template <typename T, typename Launch>
int launch_rows(int64_t cols, std::initializer_list<const void*> ptrs, Launch&& launch) {
  return with_pack<T>(cols, ptrs, [&](auto pack) {
    constexpr int V = decltype(pack)::value;
    launch(pack, threads_for(cols / V));
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace

int rms_norm_forward(ElemType type, const void* x, const void* w, void* y, int64_t rows, int64_t cols, float eps,
                     void* stream) {
  if (rows == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_rows<T>(cols, {x, w, y}, [&](auto pack, unsigned threads) {
      rms_norm_kernel<T, decltype(pack)::value><<<static_cast<unsigned>(rows), threads, 0,
                                                  static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(y), cols, eps);
    });
  });
}

int add_rms_norm_forward(ElemType type, const void* x, const void* r, const void* w, void* h, void* y, int64_t rows,
                         int64_t cols, float eps, void* stream) {
  if (rows == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_rows<T>(cols, {x, r, w, h, y}, [&](auto pack, unsigned threads) {
      add_rms_norm_kernel<T, decltype(pack)::value><<<static_cast<unsigned>(rows), threads, 0,
                                                      static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<const T*>(r), static_cast<const T*>(w), static_cast<T*>(h),
          static_cast<T*>(y), cols, eps);
    });
  });
}

int rms_norm_backward(ElemType type, const void* x, const void* w, const void* dy, void* dx, int64_t rows, int64_t cols,
                      float eps, void* stream) {
  if (rows == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_rows<T>(cols, {x, w, dy, dx}, [&](auto pack, unsigned threads) {
      rms_norm_backward_kernel<T, decltype(pack)::value><<<static_cast<unsigned>(rows), threads, 0,
                                                           static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(dy), static_cast<T*>(dx), cols,
          eps);
    });
  });
}

}  // namespace vlm::cuda
