// Element-wise fused kernels: rotary embedding (alone with its gradient, or for a decoding step's fused q/k/v written
// to the KV cache) and SwiGLU with its gradients. Grid-stride loops over the output, fp32 arithmetic.
#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 8 ? b : 65535 * 8);
}

// Forward: y_j = x_j cos_j + sign_j x_p sin_j, with p = j + D/2 and sign -1 in the first half, p = j - D/2 and sign +1
// in the second (rotate_half). Backward (its transpose): dx_j = dy_j cos_j - sign_j dy_p sin_p.
// Tables of type C: x's type, or float (the vision tower's RoPE runs in fp32 and rounds once).
template <typename T, typename C, bool kBackward>
__global__ void rope_kernel(const T* __restrict__ x, const C* __restrict__ cos, const C* __restrict__ sin,
                            T* __restrict__ y, int64_t n, int64_t h, int64_t d) {
  const int64_t half = d / 2;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i % d;               // position in the head
    const int64_t row = i / (h * d);       // b * L + l: the cos / sin row
    const int64_t c = row * d + j;
    const bool first = j < half;
    const int64_t partner = first ? i + half : i - half;
    const float sign = first ? -1.f : 1.f;
    const float s = kBackward ? -to_f(sin[first ? c + half : c - half]) : to_f(sin[c]);
    y[i] = from_f<T>(to_f(x[i]) * to_f(cos[c]) + sign * to_f(x[partner]) * s);
  }
}

// One thread per element of a row's fused q/k/v [(H + 2 Hkv) D]: q and k heads are rotated at the row's position
// (cos and sin computed here in fp32 and rounded to T, as a table in T would be), q goes to q_out [B, H, D], k and
// v to the caches [B, Hkv, T, D] at position *slot.
template <typename T>
__global__ void rope_qkv_decode_kernel(const T* __restrict__ qkv, int64_t row_stride, const int64_t* __restrict__ pos,
                                       const float* __restrict__ inv_freq, T* __restrict__ q_out,
                                       T* __restrict__ k_cache, T* __restrict__ v_cache,
                                       const int64_t* __restrict__ slot, int64_t n, int64_t h, int64_t hkv,
                                       int64_t t, int64_t d) {
  const int64_t half = d / 2, heads = h + 2 * hkv;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i % d, head = (i / d) % heads, b = i / (heads * d);
    const T* x = qkv + b * row_stride + head * d;
    if (head >= h + hkv) {  // v: copied as is
      v_cache[((b * hkv + head - h - hkv) * t + *slot) * d + j] = x[j];
      continue;
    }
    float s, c;
    sincosf(static_cast<float>(pos[b]) * inv_freq[j % half], &s, &c);
    const float rotated = j < half ? -to_f(x[j + half]) : to_f(x[j - half]);
    const T y = from_f<T>(to_f(x[j]) * to_f(from_f<T>(c)) + rotated * to_f(from_f<T>(s)));
    if (head < h)
      q_out[(b * h + head) * d + j] = y;
    else
      k_cache[((b * hkv + head - h) * t + *slot) * d + j] = y;
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

// d/dgate and d/dup of silu(gate) * up given dy: dgate = dy * up * sig * (1 + gate * (1 - sig)), dup = dy * silu(gate).
template <typename T>
__global__ void swiglu_backward_kernel(const T* __restrict__ gate, const T* __restrict__ up, const T* __restrict__ dy,
                                       T* __restrict__ dgate, T* __restrict__ dup, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = to_f(gate[i]), u = to_f(up[i]), dyv = to_f(dy[i]);
    const float sig = 1.f / (1.f + __expf(-g));
    dgate[i] = from_f<T>(dyv * u * sig * (1.f + g * (1.f - sig)));
    dup[i] = from_f<T>(dyv * g * sig);
  }
}

}  // namespace

int rope_forward(ElemType type, const void* x, const void* cos, const void* sin, void* y, int64_t b, int64_t l,
                 int64_t h, int64_t d, void* stream, bool backward, bool float_tables) {
  const int64_t n = b * l * h * d;
  if (n == 0) return 0;
  if (d % 2 != 0) return static_cast<int>(cudaErrorInvalidValue);
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    const auto launch = [&](auto kernel, auto table) {
      using C = decltype(table);
      kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<const C*>(cos), static_cast<const C*>(sin), static_cast<T*>(y), n, h,
          d);
    };
    if (float_tables)
      backward ? launch(rope_kernel<T, float, true>, float{}) : launch(rope_kernel<T, float, false>, float{});
    else
      backward ? launch(rope_kernel<T, T, true>, T{}) : launch(rope_kernel<T, T, false>, T{});
    return static_cast<int>(cudaGetLastError());
  });
}

int rope_qkv_decode_forward(ElemType type, const void* qkv, int64_t row_stride, const int64_t* positions,
                            const float* inv_freq, void* q_out, void* k_cache, void* v_cache, const int64_t* slot,
                            int64_t b, int64_t h, int64_t hkv, int64_t t, int64_t d, void* stream) {
  const int64_t n = b * (h + 2 * hkv) * d;
  if (n == 0) return 0;
  if (d % 2 != 0) return static_cast<int>(cudaErrorInvalidValue);
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    rope_qkv_decode_kernel<T><<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(qkv), row_stride, positions, inv_freq, static_cast<T*>(q_out), static_cast<T*>(k_cache),
        static_cast<T*>(v_cache), slot, n, h, hkv, t, d);
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

int swiglu_backward(ElemType type, const void* gate, const void* up, const void* dy, void* dgate, void* dup, int64_t n,
                    void* stream) {
  if (n == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    swiglu_backward_kernel<T><<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(gate), static_cast<const T*>(up), static_cast<const T*>(dy), static_cast<T*>(dgate),
        static_cast<T*>(dup), n);
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace vlm::cuda
