// Cross-entropy over rows of logits in one kernel: the log-sum-exp (online, one pass), the argmax and the loss,
// then, for training, softmax - onehot written once in the logits' dtype. The unfused version made float32 copies
// of the logits and passed over them about ten times.
#include <cfloat>

#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kThreads = 512;

// A running log-sum-exp (max m, sum s of exp(x - m)) and argmax (best value, its first index).
struct RowState {
  float m, s, best;
  int64_t best_at;

  __device__ void add(float x, int64_t at) {
    if (x > m) {
      s = s * expf(m - x) + 1.f;
      m = x;
    } else {
      s += expf(x - m);
    }
    if (x > best || (x == best && at < best_at)) {
      best = x;
      best_at = at;
    }
  }
  __device__ void merge(const RowState& o) {
    const float mm = fmaxf(m, o.m);
    s = s * expf(m - mm) + o.s * expf(o.m - mm);
    m = mm;
    if (o.best > best || (o.best == best && o.best_at < best_at)) {
      best = o.best;
      best_at = o.best_at;
    }
  }
};

__device__ RowState shuffle_xor(const RowState& r, int off) {
  RowState o;
  o.m = __shfl_xor_sync(0xffffffffu, r.m, off);
  o.s = __shfl_xor_sync(0xffffffffu, r.s, off);
  o.best = __shfl_xor_sync(0xffffffffu, r.best, off);
  o.best_at = __shfl_xor_sync(0xffffffffu, r.best_at, off);
  return o;
}

// One block per row of v logits, V at a time.
template <typename T, int V>
__global__ void cross_entropy_kernel(const T* __restrict__ logits, const int64_t* __restrict__ targets,
                                     float* __restrict__ loss, uint8_t* __restrict__ correct, T* __restrict__ grad,
                                     int64_t v) {
  const T* row = logits + blockIdx.x * v;
  RowState st{-FLT_MAX, 0.f, -FLT_MAX, INT64_MAX};
  for (int64_t i = threadIdx.x * V; i < v; i += blockDim.x * V) {
    const Pack<T, V> p = load_pack<V>(row + i);
#pragma unroll
    for (int k = 0; k < V; ++k) st.add(to_f(p.v[k]), i + k);
  }
  for (int off = 16; off > 0; off >>= 1) st.merge(shuffle_xor(st, off));
  __shared__ RowState warps[kThreads / 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warps[warp] = st;
  __syncthreads();
  st = warps[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) st.merge(warps[w]);
  const float lse = st.m + logf(st.s);
  const int64_t t = targets[blockIdx.x];
  const bool valid = t >= 0 && t < v;  // a target outside the vocabulary gives a NaN loss, not a stray read
  if (threadIdx.x == 0) {
    loss[blockIdx.x] = valid ? lse - to_f(row[t]) : __int_as_float(0x7fc00000);
    correct[blockIdx.x] = valid && st.best_at == t ? 1 : 0;
  }
  if (grad == nullptr) return;
  T* out = grad + blockIdx.x * v;
  for (int64_t i = threadIdx.x * V; i < v; i += blockDim.x * V) {
    const Pack<T, V> p = load_pack<V>(row + i);
    Pack<T, V> g;
#pragma unroll
    for (int k = 0; k < V; ++k) g.v[k] = from_f<T>(expf(to_f(p.v[k]) - lse) - (i + k == t ? 1.f : 0.f));
    store_pack<V>(out + i, g);
  }
}

}  // namespace

int cross_entropy_rows(ElemType type, const void* logits, const int64_t* targets, float* loss, uint8_t* correct,
                       void* grad, int64_t rows, int64_t v, void* stream) {
  if (rows == 0) return 0;
  if (v == 0) return static_cast<int>(cudaErrorInvalidValue);
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    return with_pack<T>(v, {logits, grad}, [&](auto pack) {
      constexpr int V = decltype(pack)::value;
      cross_entropy_kernel<T, V><<<static_cast<unsigned>(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(logits), targets, loss, correct, static_cast<T*>(grad), v);
      return static_cast<int>(cudaGetLastError());
    });
  });
}

}  // namespace vlm::cuda
