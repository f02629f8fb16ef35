// Matrix-vector products for decoding: a few input rows against a weight matrix read once, at the memory bandwidth.
// cuBLAS's GEMM kernels for M = 1 leave a large share of the bandwidth unused on these shapes, and a decoding step
// is nothing but such products. One warp computes one output column (weight row) for every input row: the inputs
// sit in shared memory (normalised there first when the kernel also runs the norm before the projection), each
// lane streams 16-byte pieces of the weight row (eight loads in flight), and the fp32 partial sums meet by warp
// shuffles. Blocks loop over the rows; the grid is what is resident at once, and the block size (4 or 8 warps) the
// one that leaves the busiest SM the fewest rows. (Sharing a row among several warps was slower on the H100:
// bench/NOTES.md.) Launched as dependents (cuda_types.cuh): while the kernel before is still running, each warp
// asks for its first weight row in L2, the one input of the kernel that no earlier kernel writes.
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>

#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kUnroll = 8;   // 16-byte weight loads in flight per lane
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
  for (int64_t i = lane; i < kv; i += 32 * kUnroll) {
    // All of a round's loads are issued before any is used (the last round's are predicated).
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (i + 32 * u < kv) wv[u] = __ldcs(wr + i + 32 * u);  // streamed: read once per step
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (i + 32 * u < kv) accumulate<T, M>(wv[u], xs, kv, i + 32 * u, acc);
  }
#pragma unroll
  for (int m = 0; m < M; ++m)
    for (int off = 16; off > 0; off >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], off);
}

// The M input rows [M, k] in shared memory (as 16-byte pieces): x itself, or with a norm weight
// rms_norm(x + residual) * norm_weight with the numbers of add_rms_norm_forward (h = x + residual rounded, normalised
// in fp32, rounded, times the weight); block 0 writes h to sum_out. Each block computes the norm itself: it is
// small next to the weight rows the block streams.
template <typename T, int M>
__device__ __forceinline__ void load_inputs(const GemvArgs& a, uint4* xs) {
  const int64_t k = a.k;
  if (!a.norm_weight) {
    for (int64_t i = threadIdx.x; i < M * k / 8; i += blockDim.x) xs[i] = static_cast<const uint4*>(a.x)[i];
    __syncthreads();
    return;
  }
  const auto* x = static_cast<const T*>(a.x);
  const auto* r = static_cast<const T*>(a.residual);
  const auto* nw = static_cast<const T*>(a.norm_weight);
  auto* h_out = blockIdx.x == 0 ? static_cast<T*>(a.sum_out) : nullptr;
  T* h = reinterpret_cast<T*>(xs);
  for (int m = 0; m < M; ++m) {
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
      const int64_t j = m * k + i;
      const T hv = r ? from_f<T>(to_f(x[j]) + to_f(r[j])) : x[j];
      h[j] = hv;
      if (h_out) h_out[j] = hv;
      sum += to_f(hv) * to_f(hv);
    }
    const float inv = rsqrtf(block_sum(sum) / static_cast<float>(k) + a.eps);
    for (int64_t i = threadIdx.x; i < k; i += blockDim.x)  // each thread rereads only what it wrote
      h[m * k + i] = from_f<T>(to_f(nw[i]) * to_f(from_f<T>(to_f(h[m * k + i]) * inv)));
  }
  __syncthreads();
}

// Plain: y[m, r] = x[m, :] . w[r, :] (+ bias[r]) in fp32, rounded once.
// kSwiglu: y[m, r] = silu(g) * u with g = x[m, :] . w[r, :] and u = x[m, :] . w_up[r, :], each rounded to T first
// (the numbers of two products followed by the SwiGLU kernel).
// The input rows are first prepared in shared memory (see load_inputs).
template <typename T, int M, bool kSwiglu, int W>
__global__ void __launch_bounds__(W * 32) gemv_kernel(GemvArgs a) {
  extern __shared__ uint4 xs[];
  const int64_t n = a.n, kv = a.k / 8;
  const auto* w = static_cast<const T*>(a.w);
  const int64_t first = blockIdx.x * W + threadIdx.x / 32;
  if (threadIdx.x % 32 == 0 && first < n) {
    const auto bytes = static_cast<uint32_t>(a.k * sizeof(T));
    prefetch_l2(w + first * a.k, bytes);
    if constexpr (kSwiglu) prefetch_l2(static_cast<const T*>(a.w_up) + first * a.k, bytes);
  }
  wait_for_producers();
  load_inputs<T, M>(a, xs);
  const auto* bias = static_cast<const T*>(a.bias);
  auto* y = static_cast<T*>(a.y);
  const int64_t warps = static_cast<int64_t>(gridDim.x) * W;
  for (int64_t row = first; row < n; row += warps) {
    float g[M], u[M];
    row_dots<T, M>(w, row, xs, kv, g);
    if constexpr (kSwiglu) row_dots<T, M>(static_cast<const T*>(a.w_up), row, xs, kv, u);
    if (threadIdx.x % 32 != 0) continue;
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
  allow_dependents();  // the weights are read: the next kernel may start prefetching its own
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

// A launch of the kernel with W warps a block: as many blocks as are resident at once (the occupancy calculator's
// count, at most one warp a row), and the rows the busiest SM computes with that grid.
struct Plan {
  int64_t blocks = 0, busiest = 0;
  int status = 0;
};

template <typename T, int M, bool kSwiglu, int W>
Plan plan(const GemvArgs& a) {
  const auto kernel = gemv_kernel<T, M, kSwiglu, W>;
  const int64_t smem = M * a.k * 2;
  Plan p;
  // Asked once per input size (eager decoding launches these kernels a hundred times a token).
  static std::mutex mutex;
  static std::map<int64_t, int> resident_by_smem;
  int resident = 0;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = resident_by_smem.find(smem); it != resident_by_smem.end()) {
      resident = it->second;
    } else {
      if ((smem > 48 * 1024 && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    kGemvMaxInputBytes) != cudaSuccess) ||
          cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, W * 32, smem) != cudaSuccess) {
        p.status = static_cast<int>(cudaGetLastError());
        return p;
      }
      resident_by_smem.emplace(smem, resident);
    }
  }
  const int64_t sms = sm_count();
  p.blocks = std::max<int64_t>(1, std::min<int64_t>((a.n + W - 1) / W, std::max(resident, 1) * sms));
  const int64_t rows_per_warp = (a.n + p.blocks * W - 1) / (p.blocks * W);
  p.busiest = (p.blocks + sms - 1) / sms * W * rows_per_warp;
  return p;
}

// Blocks of 8 warps unless blocks of 4 leave the busiest SM fewer rows (down_proj's 1,536 rows: 192 blocks of 8 put
// 16 rows on some of the H100's 132 SMs, 384 blocks of 4 at most 12).
template <typename T, int M, bool kSwiglu>
int launch(const GemvArgs& a, void* stream) {
  const Plan wide = plan<T, M, kSwiglu, 8>(a), narrow = plan<T, M, kSwiglu, 4>(a);
  if (wide.status != 0) return wide.status;
  if (narrow.status != 0) return narrow.status;
  const int64_t smem = M * a.k * 2;
  if (narrow.busiest < wide.busiest)
    return launch_dependent(gemv_kernel<T, M, kSwiglu, 4>, static_cast<unsigned>(narrow.blocks), 128, smem, stream, a);
  return launch_dependent(gemv_kernel<T, M, kSwiglu, 8>, static_cast<unsigned>(wide.blocks), 256, smem, stream, a);
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

int gemv_forward(ElemType type, const GemvArgs& a, void* stream) {
  if (!fits(type, a.m, a.k) || (a.residual && !a.norm_weight)) return static_cast<int>(cudaErrorInvalidValue);
  if (a.n == 0 && !a.sum_out) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) {
      return static_cast<int>(cudaErrorInvalidValue);
    } else {
      return with_rows(a.m, [&](auto rows) {
        constexpr int M = decltype(rows)::value;
        return a.w_up ? launch<T, M, true>(a, stream) : launch<T, M, false>(a, stream);
      });
    }
  });
}

}  // namespace vlm::cuda
