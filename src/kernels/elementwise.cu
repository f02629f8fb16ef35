// Element-wise fused kernels: rotary embedding (alone with its gradient, or for a decoding step's fused q/k/v written
// to the KV cache), SwiGLU with its gradients, quick GELU and seeded dropout. Grid-stride loops over the output, fp32
// arithmetic.
#include <algorithm>
#include <numeric>

#include "kernels/cuda_types.cuh"
#include "kernels/dropout_mask.h"

namespace vlm::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 8 ? b : 65535 * 8);
}

// Forward: y_j = x_j cos_j + sign_j x_p sin_j, with p = j + D/2 and sign -1 in the first half, p = j - D/2 and sign +1
// in the second (rotate_half). Backward (its transpose): dx_j = dy_j cos_j - sign_j dy_p sin_p.
// One thread per pair (j, j + D/2) of a head, which reads both elements once; index arithmetic in I (32-bit when
// the tensor allows: 64-bit divisions dominated this kernel). x's (b, l) rows are x_row elements apart (H * D when
// contiguous; more when x is q or k inside a joined projection), y is contiguous. Tables of type C: x's type, or
// float (the vision tower's RoPE runs in fp32 and rounds once).
template <typename T, typename C, bool kBackward, typename I>
__global__ void rope_kernel(const T* __restrict__ x, const C* __restrict__ cos, const C* __restrict__ sin,
                            T* __restrict__ y, I pairs, I h, I d, I x_row) {
  const I half = d / 2;
  for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += gridDim.x * blockDim.x) {
    const I j = i % half, head_row = i / half;  // head_row = (b * L + l) * H + head
    const I row = head_row / h, head = head_row - row * h;
    const I in1 = row * x_row + head * d + j, in2 = in1 + half;
    const I out1 = head_row * d + j, out2 = out1 + half;
    const I c1 = row * d + j, c2 = c1 + half;  // the cos / sin row is b * L + l
    const float x1 = to_f(x[in1]), x2 = to_f(x[in2]);
    if (kBackward) {
      y[out1] = from_f<T>(x1 * to_f(cos[c1]) + x2 * to_f(sin[c2]));
      y[out2] = from_f<T>(x2 * to_f(cos[c2]) - x1 * to_f(sin[c1]));
    } else {
      y[out1] = from_f<T>(x1 * to_f(cos[c1]) - x2 * to_f(sin[c1]));
      y[out2] = from_f<T>(x2 * to_f(cos[c2]) + x1 * to_f(sin[c2]));
    }
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
  wait_for_producers();
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

// SwiGLU over rows x cols elements, V at a time (16-byte packs where the sizes, strides and pointers allow): gate
// and up rows are in_stride elements apart (the two halves of one [rows, 2 cols] tensor, or flat arrays with one
// row), y rows out_stride apart.
template <typename T, int V>
__global__ void swiglu_kernel(const T* __restrict__ gate, const T* __restrict__ up, T* __restrict__ y, int64_t rows,
                              int64_t cols, int64_t in_stride, int64_t out_stride) {
  const int64_t per_row = cols / V;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < rows * per_row;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = p / per_row, c = (p - r * per_row) * V, in = r * in_stride + c;
    const Pack<T, V> g = load_pack<V>(gate + in), u = load_pack<V>(up + in);
    Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float gv = to_f(g.v[k]);
      out.v[k] = from_f<T>(gv / (1.f + __expf(-gv)) * to_f(u.v[k]));
    }
    store_pack<V>(y + r * out_stride + c, out);
  }
}

// d/dgate and d/dup of silu(gate) * up given dy: dgate = dy * up * sig * (1 + gate * (1 - sig)), dup = dy * silu(gate).
// gate, up rows in_stride apart, dy rows dy_stride apart, dgate, dup rows out_stride apart.
template <typename T, int V>
__global__ void swiglu_backward_kernel(const T* __restrict__ gate, const T* __restrict__ up, const T* __restrict__ dy,
                                       T* __restrict__ dgate, T* __restrict__ dup, int64_t rows, int64_t cols,
                                       int64_t in_stride, int64_t dy_stride, int64_t out_stride) {
  const int64_t per_row = cols / V;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < rows * per_row;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = p / per_row, c = (p - r * per_row) * V, in = r * in_stride + c, out = r * out_stride + c;
    const Pack<T, V> g = load_pack<V>(gate + in), u = load_pack<V>(up + in), d = load_pack<V>(dy + r * dy_stride + c);
    Pack<T, V> dg, du;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float gv = to_f(g.v[k]), uv = to_f(u.v[k]), dyv = to_f(d.v[k]);
      const float sig = 1.f / (1.f + __expf(-gv));
      dg.v[k] = from_f<T>(dyv * uv * sig * (1.f + gv * (1.f - sig)));
      du.v[k] = from_f<T>(dyv * gv * sig);
    }
    store_pack<V>(dgate + out, dg);
    store_pack<V>(dup + out, du);
  }
}

// The path among [first, last) whose output columns hold c, or -1 (indices unrolled, so that the arguments stay in
// parameter space).
__device__ __forceinline__ int low_rank_path_of(const LowRankAddArgs& a, int first, int last, int64_t c) {
  int found = -1;
#pragma unroll
  for (int p = 0; p < kLowRankMaxPaths; ++p)
    if (p >= first && p < last && c >= a.path[p].c0 && c < a.path[p].c0 + a.path[p].n) found = p;
  return found;
}

__device__ __forceinline__ LowRankPath low_rank_path_at(const LowRankAddArgs& a, int p) {
  LowRankPath out;
#pragma unroll
  for (int q = 0; q < kLowRankMaxPaths; ++q)
    if (q == p) out = a.path[q];
  return out;
}

// One thread's row of a path's factor bs (output column c), in registers when every path's rank is R (R > 0: R
// elements in 16-byte loads), else read in the sum (R = 0).
template <typename T, int R>
struct FactorRow {
  static constexpr int kLoads = R > 0 ? R * static_cast<int>(sizeof(T)) / 16 : 1;
  uint4 v[kLoads];
  const T* row = nullptr;
  __device__ __forceinline__ void load(const LowRankPath& path, int64_t c) {
    row = static_cast<const T*>(path.bs) + (c - path.c0) * path.r;
    if constexpr (R > 0)
#pragma unroll
      for (int i = 0; i < kLoads; ++i) v[i] = reinterpret_cast<const uint4*>(row)[i];
  }
  // y + sum_j h[j] * bs[j] in fp32 (j ascending), rounded once, as a float.
  __device__ __forceinline__ float finish(float y, const T* h, int64_t r) const {
    float acc = 0.f;
    if constexpr (R > 0) {
      const auto* b = reinterpret_cast<const T*>(v);
#pragma unroll
      for (int j = 0; j < R; ++j) acc = fmaf(to_f(h[j]), to_f(b[j]), acc);
    } else {
      for (int64_t j = 0; j < r; ++j) acc = fmaf(to_f(h[j]), to_f(row[j]), acc);
    }
    return to_f(from_f<T>(y + acc));
  }
};

// One thread an output column of a row (blockIdx.y): it finds its path (gate's and up's with SwiGLU), loads its factor
// rows (before the dependent-launch wait where the weights are settled), waits for the product before it, releases the
// next kernel at once (that one's weights load while this one runs) and finishes its column.
template <typename T, bool kSwiglu, bool kCarved, int R>
__global__ void low_rank_add_kernel(LowRankAddArgs a) {
  const int64_t m = blockIdx.y, c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const bool live = c < a.n_out;
  const int pg = live ? low_rank_path_of(a, 0, kSwiglu ? a.gate_paths : a.paths, c) : -1;
  const int pu = kSwiglu && live ? low_rank_path_of(a, a.gate_paths, a.paths, c) : -1;
  const LowRankPath gate = low_rank_path_at(a, pg), up = low_rank_path_at(a, pu);
  FactorRow<T, R> fg, fu;
  if (a.weights_settled) {
    if (pg >= 0) fg.load(gate, c);
    if (pu >= 0) fu.load(up, c);
  }
  wait_for_producers();
  allow_dependents();
  if (!live) return;
  if (!a.weights_settled) {
    if (pg >= 0) fg.load(gate, c);
    if (pu >= 0) fu.load(up, c);
  }
  const int64_t y_row = m * a.y_row, h_row = m * a.h_row;
  const auto* y = static_cast<const T*>(a.y) + y_row;
  const auto* h = static_cast<const T*>(a.h) + h_row;
  const float g = pg >= 0 ? fg.finish(to_f(y[c]), h + gate.o, gate.r) : to_f(y[c]);
  T* out = static_cast<T*>(a.out) + m * a.n_out;
  if constexpr (kSwiglu) {
    const auto* y_up = static_cast<const T*>(a.y_up) + y_row;
    const auto* h_up = static_cast<const T*>(a.h_up) + h_row;
    const float u = pu >= 0 ? fu.finish(to_f(y_up[c]), h_up + up.o, up.r) : to_f(y_up[c]);
    out[c] = from_f<T>(g / (1.f + __expf(-g)) * u);  // swiglu_kernel's numbers
  } else {
    out[c] = from_f<T>(g);
  }
}

// dst block (rows x cols, rows dst_stride apart) = cast(src * scale) for float32 sources [rows, cols]; blockIdx.y
// picks the segment.
template <typename T>
__global__ void cast_scale_kernel(CastScaleBatch batch) {
  const CastScaleSegment& s = batch.segments[blockIdx.y];
  T* dst = static_cast<T*>(s.dst);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < s.rows * s.cols;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / s.cols;
    dst[r * s.dst_stride + (i - r * s.cols)] = from_f<T>(s.src[i] * s.scale);
  }
}

// x * sigmoid(1.702 x) with each of torch's three roundings to T (the product, the sigmoid, the final product), so
// the result is that of the three separate kernels.
template <typename T, int V>
__global__ void quick_gelu_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < n / V;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Pack<T, V> in = load_pack<V>(x + p * V);
    Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float xv = to_f(in.v[k]);
      const float scaled = to_f(from_f<T>(xv * 1.702f));
      const float sig = to_f(from_f<T>(1.f / (1.f + expf(-scaled))));
      out.v[k] = from_f<T>(xv * sig);
    }
    store_pack<V>(y + p * V, out);
  }
}

// dst = src * keep * scale (kAdd: dst += it), V elements a thread at a time; elements 2j and 2j + 1 share one draw.
template <typename T, int V, bool kAdd>
__global__ void dropout_kernel(const T* __restrict__ src, T* __restrict__ dst, int64_t n, uint64_t seed,
                               uint32_t threshold, float scale) {
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < n / V;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t first = p * V;
    const Pack<T, V> in = load_pack<V>(src + first);
    Pack<T, V> out;
    if (kAdd) out = load_pack<V>(dst + first);
    uint64_t bits = 0;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const uint64_t i = static_cast<uint64_t>(first + k);
      if (k == 0 || (i & 1) == 0) bits = dropout::pair_bits(seed, i >> 1);
      const bool kept = static_cast<uint32_t>(i & 1 ? bits >> 32 : bits) >= threshold;
      const float v = kept ? dropout::mul_rn(to_f(in.v[k]), scale) : 0.f;
      out.v[k] = from_f<T>(kAdd ? to_f(out.v[k]) + v : v);
    }
    store_pack<V>(dst + first, out);
  }
}

// One block a batch row: thread 0 marks the mask and writes the position, every thread copies part of the row's
// embedding, V elements at a time.
template <typename T, int V>
__global__ void begin_decode_step_kernel(const int64_t* __restrict__ tokens, const T* __restrict__ embedding,
                                         int64_t vocab, int64_t hidden, uint8_t* __restrict__ mask, int64_t t,
                                         const int64_t* __restrict__ slot, const int64_t* __restrict__ deltas,
                                         T* __restrict__ embeds, int64_t* __restrict__ positions) {
  TimelineStamps tl;
  tl.begin();
  wait_for_producers();
  tl.after_wait();
  const int64_t b = blockIdx.x, s = *slot, token = tokens[b];
  if (threadIdx.x == 0) {
    if (s >= 0 && s < t) mask[b * t + s] = 1;
    positions[b] = s + deltas[b];
  }
  if (token < 0 || token >= vocab) __trap();
  const T* row = embedding + token * hidden;
  T* out = embeds + b * hidden;
  for (int64_t i = threadIdx.x * static_cast<int64_t>(V); i < hidden; i += static_cast<int64_t>(blockDim.x) * V)
    store_pack<V>(out + i, load_pack<V>(row + i));
  tl.finish(timeline_tag(kTlBeginStep, hidden));
}

}  // namespace

int begin_decode_step(ElemType type, const int64_t* tokens, const void* embedding, int64_t v, int64_t hidden,
                      uint8_t* mask, int64_t t, const int64_t* slot, const int64_t* deltas, void* embeds,
                      int64_t* positions, int64_t b, void* stream) {
  if (b == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    return with_pack<T>(hidden, {embedding, embeds}, [&](auto pack) {
      constexpr int V = decltype(pack)::value;
      return launch_dependent(begin_decode_step_kernel<T, V>, static_cast<unsigned>(b), kThreads, 0, stream, tokens,
                              static_cast<const T*>(embedding), v, hidden, mask, t, slot, deltas,
                              static_cast<T*>(embeds), positions);
    });
  });
}

int rope_forward(ElemType type, const void* x, const void* cos, const void* sin, void* y, int64_t b, int64_t l,
                 int64_t h, int64_t d, void* stream, bool backward, bool float_tables, int64_t x_row) {
  if (x_row == 0) x_row = h * d;
  const int64_t pairs = b * l * h * (d / 2);
  if (pairs == 0) return 0;
  if (d % 2 != 0) return static_cast<int>(cudaErrorInvalidValue);
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    const auto launch = [&](auto table, auto index) {
      using C = decltype(table);
      using I = decltype(index);
      const auto kernel = backward ? rope_kernel<T, C, true, I> : rope_kernel<T, C, false, I>;
      kernel<<<blocks_for(pairs), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<const C*>(cos), static_cast<const C*>(sin), static_cast<T*>(y),
          static_cast<I>(pairs), static_cast<I>(h), static_cast<I>(d), static_cast<I>(x_row));
    };
    // 32-bit indices while every element index (and the grid-stride sum) fits.
    const bool small = b * l * x_row + static_cast<int64_t>(blocks_for(pairs)) * kThreads < (int64_t{1} << 31) &&
                       2 * pairs < (int64_t{1} << 31);
    if (float_tables)
      small ? launch(float{}, uint32_t{}) : launch(float{}, int64_t{});
    else
      small ? launch(T{}, uint32_t{}) : launch(T{}, int64_t{});
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
    return launch_dependent(rope_qkv_decode_kernel<T>, blocks_for(n), kThreads, 0, stream, static_cast<const T*>(qkv),
                            row_stride, positions, inv_freq, static_cast<T*>(q_out), static_cast<T*>(k_cache),
                            static_cast<T*>(v_cache), slot, n, h, hkv, t, d);
  });
}

int swiglu_forward(ElemType type, const void* gate, const void* up, void* y, int64_t rows, int64_t cols,
                   int64_t in_stride, int64_t out_stride, void* stream) {
  if (rows * cols == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    // Packs need cols and both strides to be multiples of the pack: their gcd stands for all three.
    return with_pack<T>(std::gcd(cols, std::gcd(in_stride, out_stride)), {gate, up, y}, [&](auto pack) {
      constexpr int V = decltype(pack)::value;
      swiglu_kernel<T, V><<<blocks_for(rows * cols / V), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(gate), static_cast<const T*>(up), static_cast<T*>(y), rows, cols, in_stride,
          out_stride);
      return static_cast<int>(cudaGetLastError());
    });
  });
}

int swiglu_backward(ElemType type, const void* gate, const void* up, const void* dy, void* dgate, void* dup,
                    int64_t rows, int64_t cols, int64_t in_stride, int64_t dy_stride, int64_t out_stride,
                    void* stream) {
  if (rows * cols == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    const int64_t g = std::gcd(cols, std::gcd(in_stride, std::gcd(dy_stride, out_stride)));
    return with_pack<T>(g, {gate, up, dy, dgate, dup}, [&](auto pack) {
      constexpr int V = decltype(pack)::value;
      swiglu_backward_kernel<T, V><<<blocks_for(rows * cols / V), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(gate), static_cast<const T*>(up), static_cast<const T*>(dy), static_cast<T*>(dgate),
          static_cast<T*>(dup), rows, cols, in_stride, dy_stride, out_stride);
      return static_cast<int>(cudaGetLastError());
    });
  });
}

int low_rank_add_forward(ElemType type, const LowRankAddArgs& a, void* stream) {
  const bool swiglu = a.y_up != nullptr;
  if (a.paths < 0 || a.paths > kLowRankMaxPaths || (swiglu && (!a.h_up || a.gate_paths < 0 || a.gate_paths > a.paths)))
    return static_cast<int>(cudaErrorInvalidValue);
  if (a.m * a.n_out == 0) return 0;
  const dim3 grid(static_cast<unsigned>((a.n_out + kThreads - 1) / kThreads), static_cast<unsigned>(a.m));
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    // Factor rows in registers where every path has rank kRegisterRank and 16-byte aligned rows.
    constexpr int kRegisterRank = 16;
    bool registers = a.paths > 0;
    for (int p = 0; p < a.paths; ++p)
      registers = registers && a.path[p].r == kRegisterRank && (kRegisterRank * sizeof(T)) % 16 == 0 &&
                  aligned16({a.path[p].bs});
    const auto kernel = [&](auto carved, auto rank) {
      constexpr bool kCarved = decltype(carved)::value;
      constexpr int R = decltype(rank)::value;
      return swiglu ? with_decode_carveout<low_rank_add_kernel<T, true, kCarved, R>, kCarved>()
                    : with_decode_carveout<low_rank_add_kernel<T, false, kCarved, R>, kCarved>();
    };
    const auto pick = [&](auto carved) {
      return registers ? kernel(carved, std::integral_constant<int, kRegisterRank>{})
                       : kernel(carved, std::integral_constant<int, 0>{});
    };
    return launch_dependent(decode_carveout_for(a.m) ? pick(std::true_type{}) : pick(std::false_type{}), grid,
                            kThreads, 0, stream, a);
  });
}

int cast_scale(ElemType type, const CastScaleSegment* segments, int count, void* stream) {
  for (int first = 0; first < count; first += kCastScaleBatch) {
    CastScaleBatch batch{};
    int64_t largest = 0;
    const int n = count - first < kCastScaleBatch ? count - first : kCastScaleBatch;
    for (int k = 0; k < n; ++k) {
      batch.segments[k] = segments[first + k];
      largest = std::max(largest, segments[first + k].rows * segments[first + k].cols);
    }
    if (largest == 0) continue;
    const int err = dispatch(type, [&](auto tag) {
      using T = decltype(tag);
      const unsigned x = std::min<unsigned>(blocks_for(largest), 1024);
      cast_scale_kernel<T><<<dim3(x, static_cast<unsigned>(n)), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          batch);
      return static_cast<int>(cudaGetLastError());
    });
    if (err != 0) return err;
  }
  return 0;
}

int quick_gelu_forward(ElemType type, const void* x, void* y, int64_t n, void* stream) {
  if (n == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    return with_pack<T>(n, {x, y}, [&](auto pack) {
      constexpr int V = decltype(pack)::value;
      quick_gelu_kernel<T, V><<<blocks_for(n / V), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(x), static_cast<T*>(y), n);
      return static_cast<int>(cudaGetLastError());
    });
  });
}

int dropout(ElemType type, const void* src, void* dst, int64_t n, uint64_t seed, uint32_t threshold, float scale,
            bool add, void* stream) {
  if (n == 0) return 0;
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    return with_pack<T>(n, {src, dst}, [&](auto pack) {
      constexpr int V = decltype(pack)::value;
      const auto kernel = add ? dropout_kernel<T, V, true> : dropout_kernel<T, V, false>;
      kernel<<<blocks_for(n / V), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const T*>(src), static_cast<T*>(dst), n, seed, threshold, scale);
      return static_cast<int>(cudaGetLastError());
    });
  });
}

}  // namespace vlm::cuda
