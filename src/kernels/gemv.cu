// Matrix-vector products for decoding: a few input rows against a weight matrix read once, at the memory bandwidth.
// cuBLAS's GEMM kernels for M = 1 leave a large share of the bandwidth unused on these shapes, and a decoding step
// is nothing but such products. One warp (or a few, for short and wide matrices) computes one output column
// (weight row) for every input row: the inputs sit in shared memory, each lane streams 16-byte pieces of the weight
// row (four loads in flight), and the fp32 partial sums meet by warp shuffles. Blocks loop over the rows, so the
// grid is a few blocks per SM.
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

// The dot products of weight row `row` over the 16-byte pieces [begin, end) with the M input rows in shared memory,
// summed over the warp (every lane gets them).
template <typename T, int M>
__device__ __forceinline__ void row_dots(const T* __restrict__ w, int64_t row, const uint4* xs, int64_t kv,
                                         int64_t begin, int64_t end, float (&acc)[M]) {
  const uint4* wr = reinterpret_cast<const uint4*>(w + row * kv * 8);
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.f;
  int64_t i = begin + lane;
  for (; i + 32 * (kUnroll - 1) < end; i += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(wr + i + 32 * u);  // streamed: read once per step
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) accumulate<T, M>(wv[u], xs, kv, i + 32 * u, acc);
  }
  for (; i < end; i += 32) accumulate<T, M>(__ldcs(wr + i), xs, kv, i, acc);
#pragma unroll
  for (int m = 0; m < M; ++m)
    for (int off = 16; off > 0; off >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], off);
}

// Copies the M input rows [M, k] into shared memory as 16-byte pieces.
__device__ __forceinline__ void load_inputs(const void* x, uint4* xs, int64_t count) {
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) xs[i] = reinterpret_cast<const uint4*>(x)[i];
  __syncthreads();
}

// Plain: y[m, r] = x[m, :] . w[r, :] (+ bias[r]) in fp32, rounded once.
// kSwiglu: y[m, r] = silu(g) * u with g = x[m, :] . w[r, :] and u = x[m, :] . w_up[r, :], each rounded to T first
// (the numbers of two products followed by the SwiGLU kernel).
// `split` warps (1, 2, 4 or 8) share a row, each taking a slice of k, so that short and wide matrices still keep
// enough loads in flight; their partial sums meet in shared memory.
template <typename T, int M, bool kSwiglu>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                           const T* __restrict__ w_up, const T* __restrict__ bias,
                                                           T* __restrict__ y, int64_t n, int64_t k, int split) {
  extern __shared__ uint4 xs[];
  __shared__ float partial[kWarps][2][M];
  const int64_t kv = k / 8;
  load_inputs(x, xs, M * kv);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int part = warp % split, rows_per_block = kWarps / split;
  const int64_t begin = kv * part / split, end = kv * (part + 1) / split;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * rows_per_block; base < n;
       base += static_cast<int64_t>(gridDim.x) * rows_per_block) {
    const int64_t row = base + warp / split;
    float g[M], u[M];
    if (row < n) {
      row_dots<T, M>(w, row, xs, kv, begin, end, g);
      if constexpr (kSwiglu) row_dots<T, M>(w_up, row, xs, kv, begin, end, u);
    }
    if (split > 1) {  // the row's first warp adds the others' partial sums
      if (lane == 0 && row < n) {
#pragma unroll
        for (int m = 0; m < M; ++m) {
          partial[warp][0][m] = g[m];
          if constexpr (kSwiglu) partial[warp][1][m] = u[m];
        }
      }
      __syncthreads();
      if (part == 0 && lane == 0 && row < n) {
        for (int p = 1; p < split; ++p) {
#pragma unroll
          for (int m = 0; m < M; ++m) {
            g[m] += partial[warp + p][0][m];
            if constexpr (kSwiglu) u[m] += partial[warp + p][1][m];
          }
        }
      }
      __syncthreads();  // partial is reused by the next rows
    }
    if (part == 0 && lane == 0 && row < n) {
#pragma unroll
      for (int m = 0; m < M; ++m) {
        if constexpr (kSwiglu) {
          const float gm = to_f(from_f<T>(g[m])), um = to_f(from_f<T>(u[m]));
          y[m * n + row] = from_f<T>(gm / (1.f + __expf(-gm)) * um);
        } else {
          y[m * n + row] = from_f<T>(g[m] + (bias ? to_f(bias[row]) : 0.f));
        }
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
// Warps per row: the fewest (1, 2, 4, 8) that give about 32 warps per SM, as long as each warp keeps at least 64
// pieces of 16 bytes of its row.
int split_for(int64_t n, int64_t k) {
  int split = 1;
  while (split < kWarps && n * split < 32 * sm_count() && k / 8 / (split * 2) >= 64) split *= 2;
  return split;
}

template <typename T, int M, bool kSwiglu>
int launch(const T* x, const T* w, const T* w_up, const T* bias, T* y, int64_t n, int64_t k, void* stream) {
  const auto kernel = gemv_kernel<T, M, kSwiglu>;
  const int64_t smem = M * k * 2;
  if (smem > 48 * 1024 &&
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kGemvMaxInputBytes) != cudaSuccess)
    return static_cast<int>(cudaGetLastError());
  const int split = split_for(n, k), rows_per_block = kWarps / split;
  const int64_t per_sm = std::max<int64_t>(1, std::min<int64_t>(8, (200 * 1024) / (smem + 1024)));
  const int64_t grid = std::min<int64_t>((n + rows_per_block - 1) / rows_per_block, per_sm * sm_count());
  kernel<<<static_cast<unsigned>(grid), kWarps * 32, smem, static_cast<cudaStream_t>(stream)>>>(x, w, w_up, bias, y,
                                                                                                n, k, split);
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
        return launch<T, M, false>(static_cast<const T*>(x), static_cast<const T*>(w), nullptr,
                                   static_cast<const T*>(bias), static_cast<T*>(y), n, k, stream);
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
        return launch<T, M, true>(static_cast<const T*>(x), static_cast<const T*>(w_gate),
                                  static_cast<const T*>(w_up), nullptr, static_cast<T*>(y), n, k, stream);
      });
    }
  });
}

}  // namespace vlm::cuda
