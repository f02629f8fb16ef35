// Attention of one query per (batch, head) over a KV cache, for decoding (flash-decoding): the keys are split into
// chunks of kChunk positions, one block per (batch, head, chunk); each warp loads the keys and values of its kPerWarp
// positions at once (so a block costs about one memory round trip), then runs an online softmax (running max m, sum
// l, weighted values acc) in fp32; the warps are merged in shared memory, and a second kernel merges the chunks.
// Masked positions are skipped.
//
// Fused into a decoding step, the chunk kernel also takes the step's q/k/v projection: every block rotates its query
// head (RoPE, as rope_qkv_decode_kernel rotates it), the block whose chunk holds the step's slot takes that
// position's key and value from the projection (rotating the key), and the first query head of each KV group writes
// them to the caches: two kernels a layer where RoPE and attention took three. That costs every block the rotation
// (its tables and a barrier), so it pays only while the blocks fit in one wave: decoding at batch 1 gained 2.5%,
// batch 16 (3,456 blocks) lost 7% against a separate RoPE kernel (bench/NOTES.md, session 9).
#include <cfloat>

#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kPerWarp = 4;                   // positions a warp loads together (one memory round trip)
constexpr int kChunk = kWarps * kPerWarp;     // positions per block
constexpr int kMaxD = 256;
constexpr int kPerLane = kMaxD / 32;
constexpr int64_t kMaxMergeBytes = 32 * 1024;  // the merge kernel's weights, one float a chunk
constexpr int kMergeBatch = 32;                // chunks whose values the merge kernel loads together

int64_t chunks_of(int64_t t) { return (t + kChunk - 1) / kChunk; }

// Rotates a head held as x[i] = element lane * per_lane + i (so element j + D/2 sits in lane ^ 16 at the same i) by
// the rounded tables c, s, and rounds the result to T: x_j cos_j + rotate_half(x)_j sin_j.
template <typename T>
__device__ __forceinline__ void rotate_head(float (&x)[kPerLane], const float (&c)[kPerLane],
                                            const float (&s)[kPerLane], int lane, int per_lane) {
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    if (i >= per_lane) break;
    const float other = __shfl_xor_sync(0xffffffffu, x[i], 16);
    const float rotated = lane < 16 ? -other : other;
    x[i] = to_f(from_f<T>(x[i] * c[i] + rotated * s[i]));
  }
}

// Workspace per (b, h, chunk): m, l, then acc[D].
template <typename T, bool kFused>
__global__ void __launch_bounds__(kWarps * 32) decode_chunk_kernel(DecodeAttentionArgs a) {
  const int bh = blockIdx.x, chunk = blockIdx.y, chunks = gridDim.y;
  const int h = static_cast<int>(a.h), hkv = static_cast<int>(a.hkv), d = static_cast<int>(a.d);
  const int64_t t = a.t;
  const int b = bh / h, head = bh % h, group = h / hkv, kv_head = head / group;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, per_lane = d / 32;
  T* k_cache = static_cast<T*>(a.k_cache);
  T* v_cache = static_cast<T*>(a.v_cache);
  const int64_t kv_base = (static_cast<int64_t>(b) * hkv + kv_head) * t * d;
  const bool early = kFused && a.cache_settled;
  TimelineStamps tl;
  tl.begin();
  // The merge kernel may launch now, and release the output projection at its own start, so that the projection's
  // weights are loaded while this kernel runs (each waits for its producer before reading what it wrote).
  allow_dependents();

  // This warp's positions: kPerWarp consecutive ones. Keys and values of all of them are loaded before use; the
  // step's own position (fused) comes from the projection below.
  if (!early) {
    wait_for_producers();
    tl.after_wait();
  }
  const int64_t slot = kFused ? *a.slot : -1;
  const int64_t first = static_cast<int64_t>(chunk) * kChunk + warp * kPerWarp;
  float kf[kPerWarp][kPerLane], vf[kPerWarp][kPerLane];
  bool live[kPerWarp];
#pragma unroll
  for (int p = 0; p < kPerWarp; ++p) {
    const int64_t pos = first + p;
    live[p] = pos < t && a.mask[static_cast<int64_t>(b) * t + pos];
    const bool cached = live[p] && pos != slot;
    const T* kr = k_cache + kv_base + pos * d + lane * per_lane;
    const T* vr = v_cache + kv_base + pos * d + lane * per_lane;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      kf[p][i] = cached && i < per_lane ? to_f(kr[i]) : 0.f;
      vf[p][i] = cached && i < per_lane ? to_f(vr[i]) : 0.f;
    }
  }
  // cos and sin in fp32, rounded to T as a table in T would be; element j uses frequency j % (D/2). One thread a
  // frequency computes them (sincosf is not cheap: a step of batch 16 has thousands of blocks).
  float c[kPerLane], s[kPerLane];
  if constexpr (kFused) {
    __shared__ float s_cos[kMaxD / 2], s_sin[kMaxD / 2];
    if (threadIdx.x < d / 2) {
      float sn, cs;
      sincosf(static_cast<float>(a.positions[b]) * a.inv_freq[threadIdx.x], &sn, &cs);
      s_cos[threadIdx.x] = to_f(from_f<T>(cs));
      s_sin[threadIdx.x] = to_f(from_f<T>(sn));
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      c[i] = i < per_lane ? s_cos[(lane % 16) * per_lane + i] : 0.f;
      s[i] = i < per_lane ? s_sin[(lane % 16) * per_lane + i] : 0.f;
    }
  }
  if (early) {
    wait_for_producers();
    tl.after_wait();
  }

  const T* qkv = static_cast<const T*>(a.q) + (kFused ? b * a.q_row : 0);
  const T* qr = kFused ? qkv + static_cast<int64_t>(head) * d : qkv + static_cast<int64_t>(bh) * d;
  float qv[kPerLane], acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    qv[i] = i < per_lane ? to_f(qr[lane * per_lane + i]) : 0.f;
    acc[i] = 0.f;
  }
  if constexpr (kFused) {
    rotate_head<T>(qv, c, s, lane, per_lane);
#pragma unroll
    for (int p = 0; p < kPerWarp; ++p) {
      if (first + p != slot || slot >= t) continue;  // the same for the whole warp
      const T* kx = qkv + static_cast<int64_t>(h + kv_head) * d + lane * per_lane;
      const T* vx = qkv + static_cast<int64_t>(h + hkv + kv_head) * d + lane * per_lane;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        kf[p][i] = i < per_lane ? to_f(kx[i]) : 0.f;
        vf[p][i] = i < per_lane ? to_f(vx[i]) : 0.f;
      }
      rotate_head<T>(kf[p], c, s, lane, per_lane);
      if (head % group == 0) {
        const int64_t at = kv_base + slot * d + lane * per_lane;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
          if (i >= per_lane) break;
          k_cache[at + i] = from_f<T>(kf[p][i]);
          v_cache[at + i] = from_f<T>(vf[p][i]);
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) qv[i] *= a.scale;

  float m = -FLT_MAX, l = 0.f;
#pragma unroll
  for (int p = 0; p < kPerWarp; ++p) {
    float sc = 0.f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) sc += qv[i] * kf[p][i];
    for (int off = 16; off > 0; off >>= 1) sc += __shfl_xor_sync(0xffffffffu, sc, off);
    if (!live[p]) continue;
    const float m_new = fmaxf(m, sc);
    const float correction = __expf(m - m_new), e = __expf(sc - m_new);
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) acc[i] = acc[i] * correction + e * vf[p][i];
    l = l * correction + e;
    m = m_new;
  }

  // Merge the warps into this chunk's partial result.
  __shared__ float s_m[kWarps], s_l[kWarps];
  __shared__ float s_acc[kWarps][kMaxD];
  if (lane == 0) {
    s_m[warp] = m;
    s_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i)
    if (i < per_lane) s_acc[warp][lane * per_lane + i] = acc[i];
  __syncthreads();
  float* work = a.workspace + static_cast<int64_t>(bh) * chunks * (d + 2);
  float* out = work + static_cast<int64_t>(chunk) * (d + 2);
  float big = -FLT_MAX;
  for (int w = 0; w < kWarps; ++w)
    if (s_l[w] > 0.f) big = fmaxf(big, s_m[w]);
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int w = 0; w < kWarps; ++w) total += s_l[w] > 0.f ? s_l[w] * __expf(s_m[w] - big) : 0.f;
    out[0] = big;
    out[1] = total;
  }
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float sum = 0.f;
    for (int w = 0; w < kWarps; ++w)
      if (s_l[w] > 0.f) sum += s_acc[w][i] * __expf(s_m[w] - big);
    out[2 + i] = sum;
  }
  tl.finish(timeline_tag(kTlAttentionChunk, a.h, a.t * 16));
}

// One block per (batch, head): the chunks' weights exp(m_c - max) go to shared memory first (a thread per chunk),
// so the sums over chunks below are independent loads rather than a chain.
template <typename T>
__global__ void decode_merge_kernel(const float* __restrict__ work, T* __restrict__ y, int chunks, int d) {
  extern __shared__ float weight[];  // [chunks]
  __shared__ float s_inv;
  TimelineStamps tl;
  tl.begin();
  allow_dependents();  // (see decode_chunk_kernel)
  wait_for_producers();
  tl.after_wait();
  const int bh = blockIdx.x;
  const float* w = work + static_cast<int64_t>(bh) * chunks * (d + 2);
  float big = -FLT_MAX;
  for (int c = threadIdx.x; c < chunks; c += blockDim.x)
    if (w[c * (d + 2) + 1] > 0.f) big = fmaxf(big, w[c * (d + 2)]);
  big = block_max(big);
  float total = 0.f;
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    const float l = w[c * (d + 2) + 1];
    weight[c] = l > 0.f ? __expf(w[c * (d + 2)] - big) : 0.f;
    total += l > 0.f ? l * weight[c] : 0.f;
  }
  total = block_sum(total);
  if (threadIdx.x == 0) s_inv = total > 0.f ? 1.f / total : 0.f;
  __syncthreads();
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float sum = 0.f;
    for (int c0 = 0; c0 < chunks; c0 += kMergeBatch) {  // loads in flight together, then summed in chunk order
      float v[kMergeBatch];
#pragma unroll
      for (int j = 0; j < kMergeBatch; ++j) v[j] = c0 + j < chunks ? w[(c0 + j) * (d + 2) + 2 + i] : 0.f;
#pragma unroll
      for (int j = 0; j < kMergeBatch; ++j)
        if (c0 + j < chunks) sum += v[j] * weight[c0 + j];
    }
    y[static_cast<int64_t>(bh) * d + i] = from_f<T>(sum * s_inv);
  }
  tl.finish(timeline_tag(kTlAttentionMerge, gridDim.x, chunks * 16));
}

}  // namespace

bool decode_attention_supported(int64_t h, int64_t hkv, int64_t t, int64_t d) {
  return d > 0 && d % 32 == 0 && d <= kMaxD && hkv > 0 && h % hkv == 0 && t > 0 &&
         chunks_of(t) * static_cast<int64_t>(sizeof(float)) <= kMaxMergeBytes;
}

bool decode_attention_fuses_rope(ElemType type, int64_t b, int64_t h, int64_t t) {
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    static const int resident = [] {
      int n = 0;
      return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, decode_chunk_kernel<T, true>, kWarps * 32, 0) ==
                     cudaSuccess
                 ? n
                 : 0;
    }();
    return static_cast<int>(b * h * chunks_of(t) <= static_cast<int64_t>(resident) * sm_count());
  }) != 0;
}

int64_t decode_attention_workspace(int64_t b, int64_t h, int64_t t, int64_t d) {
  return b * h * chunks_of(t) * (d + 2);
}

int decode_attention_forward(ElemType type, const DecodeAttentionArgs& a, void* stream) {
  if (!decode_attention_supported(a.h, a.hkv, a.t, a.d)) return static_cast<int>(cudaErrorInvalidValue);
  if (a.b * a.h == 0) return 0;
  const int64_t chunks = chunks_of(a.t);
  const dim3 grid(static_cast<unsigned>(a.b * a.h), static_cast<unsigned>(chunks));
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    const int status = a.positions ? launch_dependent(decode_chunk_kernel<T, true>, grid, kWarps * 32, 0, stream, a)
                                   : launch_dependent(decode_chunk_kernel<T, false>, grid, kWarps * 32, 0, stream, a);
    if (status != 0) return status;
    return launch_dependent(decode_merge_kernel<T>, static_cast<unsigned>(a.b * a.h), 128, chunks * sizeof(float),
                            stream, a.workspace, static_cast<T*>(a.y), static_cast<int>(chunks), static_cast<int>(a.d));
  });
}

}  // namespace vlm::cuda
