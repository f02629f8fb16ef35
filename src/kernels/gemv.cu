// Matrix-vector products for decoding: a few input rows against a weight matrix read once, at the memory bandwidth.
// cuBLAS's GEMM kernels for M = 1 leave a large share of the bandwidth unused on these shapes, and a decoding step
// is nothing but such products. One warp computes one output column (weight row) for every input row: the inputs
// sit in shared memory, each lane streams 16-byte pieces of the weight row (four loads in flight), and the lanes'
// fp32 partial sums meet by warp shuffles. Blocks loop over the rows, so the grid is a few blocks per SM.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kWarps = 8;    // warps (weight rows at a time) per block
constexpr int kUnroll = 4;   // 16-byte weight loads in flight per lane
constexpr int kMaxRows = 4;  // input rows handled together

// Eight elements of T as floats.
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& v, float (&out)[8]) {
  const auto* p = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = to_f(p[i]);
}

template <typename T, int M>
__device__ __forceinline__ void accumulate(const uint4& wv, const uint4* xs, int64_t kv, int64_t i, float (&acc)[M]) {
  float w[8];
  unpack8<T>(wv, w);
#pragma unroll
  for (int m = 0; m < M; ++m) {
    float x[8];
    unpack8<T>(xs[m * kv + i], x);
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[m] = fmaf(w[j], x[j], acc[m]);
  }
}

// The dot products of weight row `row` with the M input rows in shared memory, summed over the warp (every lane
// gets them).
template <typename T, int M>
__device__ __forceinline__ void row_dots(const T* __restrict__ w, int64_t row, const uint4* xs, int64_t kv,
                                         float (&acc)[M]) {
  const uint4* wr = reinterpret_cast<const uint4*>(w + row * kv * 8);
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.f;
  int64_t i = lane;
  for (; i + 32 * (kUnroll - 1) < kv; i += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(wr + i + 32 * u);  // streamed: read once per step
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) accumulate<T, M>(wv[u], xs, kv, i + 32 * u, acc);
  }
  for (; i < kv; i += 32) accumulate<T, M>(__ldcs(wr + i), xs, kv, i, acc);
#pragma unroll
  for (int m = 0; m < M; ++m)
    for (int off = 16; off > 0; off >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], off);
}

// Copies the M input rows [M, k] into shared memory as 16-byte pieces.
__device__ __forceinline__ void load_inputs(const void* x, uint4* xs, int64_t count) {
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) xs[i] = reinterpret_cast<const uint4*>(x)[i];
  __syncthreads();
}

// y[m, r] = x[m, :] . w[r, :] (+ bias[r]) in fp32, rounded once.
template <typename T, int M>
__global__ void gemv_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                            T* __restrict__ y, int64_t n, int64_t k) {
  extern __shared__ uint4 xs[];
  const int64_t kv = k / 8;
  load_inputs(x, xs, M * kv);
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t row = blockIdx.x * kWarps + threadIdx.x / 32; row < n; row += warps) {
    float acc[M];
    row_dots<T, M>(w, row, xs, kv, acc);
    if (threadIdx.x % 32 == 0) {
      const float b = bias ? to_f(bias[row]) : 0.f;
#pragma unroll
      for (int m = 0; m < M; ++m) y[m * n + row] = from_f<T>(acc[m] + b);
    }
  }
}

// y[m, r] = silu(g) * u with g = x[m, :] . w_gate[r, :] and u = x[m, :] . w_up[r, :], each rounded to T first (the
// numbers of two products followed by the SwiGLU kernel).
template <typename T, int M>
__global__ void gemv_swiglu_kernel(const T* __restrict__ x, const T* __restrict__ w_gate, const T* __restrict__ w_up,
                                   T* __restrict__ y, int64_t n, int64_t k) {
  extern __shared__ uint4 xs[];
  const int64_t kv = k / 8;
  load_inputs(x, xs, M * kv);
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t row = blockIdx.x * kWarps + threadIdx.x / 32; row < n; row += warps) {
    float g[M], u[M];
    row_dots<T, M>(w_gate, row, xs, kv, g);
    row_dots<T, M>(w_up, row, xs, kv, u);
    if (threadIdx.x % 32 == 0) {
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float gm = to_f(from_f<T>(g[m])), um = to_f(from_f<T>(u[m]));
        y[m * n + row] = from_f<T>(gm / (1.f + __expf(-gm)) * um);
      }
    }
  }
}

int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device);
    return n > 0 ? n : 1;
  }();
  return count;
}

// Launches kernel<<<grid, 256, smem>>> with a grid of at most a few resident blocks per SM, allowing dynamic shared
// memory past the default 48 KB where the inputs need it.
template <typename Kernel, typename... Args>
int launch(Kernel kernel, int64_t n, int64_t smem, void* stream, Args... args) {
  if (smem > 48 * 1024 &&
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kGemvMaxInputBytes) != cudaSuccess)
    return static_cast<int>(cudaGetLastError());
  const int64_t per_sm = std::max<int64_t>(1, std::min<int64_t>(8, (200 * 1024) / (smem + 1024)));
  const int64_t grid = std::min<int64_t>((n + kWarps - 1) / kWarps, per_sm * sm_count());
  kernel<<<static_cast<unsigned>(grid), kWarps * 32, smem, static_cast<cudaStream_t>(stream)>>>(args...);
  return static_cast<int>(cudaGetLastError());
}

// Calls f(std::integral_constant<int, M>{}) for the run-time row count m in 1..kMaxRows.
template <typename F>
int with_rows(int64_t m, F&& f) {
  switch (m) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

bool fits(ElemType type, int64_t m, int64_t k) {
  return type != ElemType::kF32 && m >= 1 && m <= kMaxRows && k > 0 && k % 8 == 0 && m * k * 2 <= kGemvMaxInputBytes;
}

}  // namespace

bool gemv_supported(ElemType type, int64_t m, int64_t k) { return fits(type, m, k); }

int gemv_forward(ElemType type, const void* x, const void* w, const void* bias, void* y, int64_t m, int64_t n,
                 int64_t k, void* stream) {
  if (!fits(type, m, k)) return static_cast<int>(cudaErrorInvalidValue);
  if (n == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) {
      return static_cast<int>(cudaErrorInvalidValue);
    } else {
      return with_rows(m, [&](auto rows) {
        constexpr int M = decltype(rows)::value;
        return launch(gemv_kernel<T, M>, n, m * k * 2, stream, static_cast<const T*>(x), static_cast<const T*>(w),
                      static_cast<const T*>(bias), static_cast<T*>(y), n, k);
      });
    }
  });
}

int gemv_swiglu_forward(ElemType type, const void* x, const void* w_gate, const void* w_up, void* y, int64_t m,
                        int64_t n, int64_t k, void* stream) {
  if (!fits(type, m, k)) return static_cast<int>(cudaErrorInvalidValue);
  if (n == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) {
      return static_cast<int>(cudaErrorInvalidValue);
    } else {
      return with_rows(m, [&](auto rows) {
        constexpr int M = decltype(rows)::value;
        return launch(gemv_swiglu_kernel<T, M>, n, m * k * 2, stream, static_cast<const T*>(x),
                      static_cast<const T*>(w_gate), static_cast<const T*>(w_up), static_cast<T*>(y), n, k);
      });
    }
  });
}

}  // namespace vlm::cuda
