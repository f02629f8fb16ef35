// Attention of one query per (batch, head) over a KV cache, for decoding (flash-decoding): the keys are split into
// chunks of kChunk positions, and one block takes a chunk for the query heads of one KV head (up to
// kMaxGroupWarps of them, a warp each), so each key and value is read once for the group. Before its wait for the
// kernel ahead, the block copies the chunk's attended keys and values into shared memory (asynchronous copies: no
// registers held, nothing waits on them until the scores) and zeroes the masked rows. Each lane then holds d/32
// elements of its head's query and of every key; the 32 partial scores of a lane are summed over the warp by a
// transposing butterfly (31 shuffles, after which lane j holds the score of position j), the softmax runs over the
// lanes (masked positions weigh 0), and the weighted values are summed in fp32, all without branches. A second kernel
// merges the chunks' partial results (m, l, unnormalised values). Against one block a query head: batch 16 +68%,
// batch 1 +1.3% (bench/NOTES.md, session 11).
//
// Fused into a decoding step, the chunk kernel also takes the step's q/k/v projection: every warp rotates its query
// head (RoPE, as rope_qkv_decode_kernel rotates it), the block whose chunk holds the step's slot takes that
// position's key and value from the projection (rotating the key), and the blocks of the KV head's first query heads
// write them to the caches: two kernels a layer where RoPE and attention took three. It pays while the blocks fit in
// one wave (bench/NOTES.md, session 9).
#include <algorithm>
#include <cfloat>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kChunk = 32;         // positions per block: one a lane once the scores are summed
constexpr int kMaxGroupWarps = 8;  // query heads a block takes (a warp each)
constexpr int kMaxD = 256;
constexpr int64_t kMaxChunks = 8192;  // of a merge (t up to 262,144)
constexpr int kMergeWarps = 4;
constexpr int kMergeBatch = 8;  // chunks a merge warp loads together

int64_t chunks_of(int64_t t) { return (t + kChunk - 1) / kChunk; }

// Query heads a block takes: the largest divisor of the group size that is at most kMaxGroupWarps.
int heads_per_block(int64_t group) {
  int n = static_cast<int>(std::min<int64_t>(group, kMaxGroupWarps));
  while (group % n != 0) --n;
  return n;
}

// Shared memory of a block: the chunk's keys and values, then the RoPE tables (cos, sin: d/2 floats each).
int64_t chunk_smem_bytes(int64_t d, int64_t elem_bytes) { return 2 * kChunk * d * elem_bytes + d * 4; }

// Rotates a head held as x[i] = element lane * PL + i (so element j + D/2 sits in lane ^ 16 at the same i) by the
// tables (element j uses frequency j % (D/2)), and rounds the result to T: x_j cos_j + rotate_half(x)_j sin_j.
template <typename T, int PL>
__device__ __forceinline__ void rotate_head(float (&x)[PL], const float* s_cos, const float* s_sin, int lane) {
#pragma unroll
  for (int i = 0; i < PL; ++i) {
    const int f = (lane % 16) * PL + i;
    const float other = __shfl_xor_sync(0xffffffffu, x[i], 16);
    const float rotated = lane < 16 ? -other : other;
    x[i] = to_f(from_f<T>(x[i] * s_cos[f] + rotated * s_sin[f]));
  }
}

// A lane's PL elements of a row in shared memory, as floats (one load).
template <typename T, int PL>
__device__ __forceinline__ void load_lane(const T* p, float (&out)[PL]) {
  const Pack<T, PL> v = load_pack<PL>(p);
#pragma unroll
  for (int i = 0; i < PL; ++i) out[i] = to_f(v.v[i]);
}

// One step of the transposing sum: of the 2W partial scores v[0, 2W) a lane holds, it keeps the half its lane bit W
// selects (in v[0, W)) and adds its partner's share of them.
template <int W>
__device__ __forceinline__ void halve(float (&v)[kChunk], int lane) {
  const bool upper = (lane & W) != 0;
#pragma unroll
  for (int j = 0; j < W; ++j) {
    const float send = upper ? v[j] : v[j + W];
    const float keep = upper ? v[j + W] : v[j];
    v[j] = keep + __shfl_xor_sync(0xffffffffu, send, W);
  }
}

// Block (batch row, KV head, group part) x chunk; warp w takes query head kv_head * group + part * warps + w. A lane
// holds PL = d / 32 elements of each row. Workspace per (b, h, chunk): m, l, then acc[D]. kCarved: on the decoding
// carve-out (see chunk_kernel).
template <typename T, bool kFused, int PL, bool kCarved>
__global__ void __launch_bounds__(kMaxGroupWarps * 32) decode_chunk_kernel(DecodeAttentionArgs a) {
  extern __shared__ float4 smem_f4[];
  constexpr int d = 32 * PL;
  const int h = static_cast<int>(a.h), hkv = static_cast<int>(a.hkv);
  const int warps = static_cast<int>(blockDim.x / 32), group = h / hkv, parts = group / warps;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int b = blockIdx.x / (hkv * parts), kv_head = blockIdx.x / parts % hkv, part = blockIdx.x % parts;
  const int head = kv_head * group + part * warps + warp, chunk = blockIdx.y, chunks = gridDim.y;
  const int64_t t = a.t, first = static_cast<int64_t>(chunk) * kChunk;
  T* ks = reinterpret_cast<T*>(smem_f4);
  T* vs = ks + kChunk * d;
  float* s_cos = reinterpret_cast<float*>(vs + kChunk * d);
  float* s_sin = s_cos + d / 2;
  T* k_cache = static_cast<T*>(a.k_cache);
  T* v_cache = static_cast<T*>(a.v_cache);
  const int64_t kv_base = (static_cast<int64_t>(b) * hkv + kv_head) * t * d;
  const bool early = kFused && a.cache_settled;
  TimelineStamps tl;
  tl.begin();
  // The merge kernel may launch now, and release the output projection at its own start, so that the projection's
  // weights are loaded while this kernel runs (each waits for its producer before reading what it wrote).
  allow_dependents();
  if (!early) {
    wait_for_producers();
    tl.after_wait();
  }

  // Lane j's position: first + j. The attended ones' keys and values are copied to shared memory, except the step's
  // own (fused), which comes from the projection below.
  const int64_t slot = kFused ? *a.slot : -1;
  const bool attended = first + lane < t && a.mask[static_cast<int64_t>(b) * t + first + lane];
  const unsigned live = __ballot_sync(0xffffffffu, attended);
  const bool slot_here = slot >= first && slot < first + kChunk && slot < t;
  constexpr int kRowPieces = d * static_cast<int>(sizeof(T)) / 16, kPieceElems = 16 / static_cast<int>(sizeof(T));
  for (int i = threadIdx.x; i < kChunk * kRowPieces; i += blockDim.x) {
    const int j = i / kRowPieces, at = i % kRowPieces * kPieceElems;
    if (slot_here && first + j == slot) continue;
    if (live >> j & 1u) {
      copy16_async(ks + j * d + at, k_cache + kv_base + (first + j) * d + at);
      copy16_async(vs + j * d + at, v_cache + kv_base + (first + j) * d + at);
    } else {  // zeros, so that the sums below may run over every position
      *reinterpret_cast<uint4*>(ks + j * d + at) = uint4{0, 0, 0, 0};
      *reinterpret_cast<uint4*>(vs + j * d + at) = uint4{0, 0, 0, 0};
    }
  }
  // cos and sin in fp32, rounded to T as a table in T would be. One thread a frequency (sincosf is not cheap; a block
  // of fewer than d/2 threads takes several).
  if constexpr (kFused)
    for (int f = threadIdx.x; f < d / 2; f += blockDim.x) {
      float sn, cs;
      sincosf(static_cast<float>(a.positions[b]) * a.inv_freq[f], &sn, &cs);
      s_cos[f] = to_f(from_f<T>(cs));
      s_sin[f] = to_f(from_f<T>(sn));
    }
  if (early) {
    wait_for_producers();
    tl.after_wait();
  }
  __syncthreads();  // the tables

  const T* qkv = static_cast<const T*>(a.q) + (kFused ? b * a.q_row : 0);
  const T* qr = qkv + static_cast<int64_t>(kFused ? head : b * h + head) * d + lane * PL;
  float q[PL];
#pragma unroll
  for (int i = 0; i < PL; ++i) q[i] = to_f(qr[i]);
  if constexpr (kFused) {
    rotate_head<T, PL>(q, s_cos, s_sin, lane);
    if (slot_here && warp == 0) {  // the step's key and value
      const T* kx = qkv + static_cast<int64_t>(h + kv_head) * d + lane * PL;
      const T* vx = qkv + static_cast<int64_t>(h + hkv + kv_head) * d + lane * PL;
      float kf[PL];
#pragma unroll
      for (int i = 0; i < PL; ++i) kf[i] = to_f(kx[i]);
      rotate_head<T, PL>(kf, s_cos, s_sin, lane);
      const int64_t row = (slot - first) * d + lane * PL;
#pragma unroll
      for (int i = 0; i < PL; ++i) {
        const T kv = from_f<T>(kf[i]), vv = vx[i];
        ks[row + i] = kv;
        vs[row + i] = vv;
        if (part == 0) {
          k_cache[kv_base + slot * d + lane * PL + i] = kv;
          v_cache[kv_base + slot * d + lane * PL + i] = vv;
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < PL; ++i) q[i] *= a.scale;
  wait_copies_async();
  __syncthreads();  // the keys and values

  // The lane's share of every position's score, summed over the warp so that lane j ends with position j's.
  float part_score[kChunk];
#pragma unroll
  for (int j = 0; j < kChunk; ++j) {
    float kf[PL];
    load_lane<T, PL>(ks + j * d + lane * PL, kf);
    float sc = 0.f;
#pragma unroll
    for (int i = 0; i < PL; ++i) sc = fmaf(q[i], kf[i], sc);
    part_score[j] = sc;
  }
  halve<16>(part_score, lane);
  halve<8>(part_score, lane);
  halve<4>(part_score, lane);
  halve<2>(part_score, lane);
  halve<1>(part_score, lane);
  const bool mine = (live >> lane & 1u) != 0;
  float m = mine ? part_score[0] : -FLT_MAX;
  for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  const float e = mine ? __expf(part_score[0] - m) : 0.f;
  float l = e;
  for (int off = 16; off > 0; off >>= 1) l += __shfl_xor_sync(0xffffffffu, l, off);
  float acc[PL];
#pragma unroll
  for (int i = 0; i < PL; ++i) acc[i] = 0.f;
#pragma unroll
  for (int j = 0; j < kChunk; ++j) {  // masked positions: p = 0 and zero values
    const float p = __shfl_sync(0xffffffffu, e, j);
    float vf[PL];
    load_lane<T, PL>(vs + j * d + lane * PL, vf);
#pragma unroll
    for (int i = 0; i < PL; ++i) acc[i] = fmaf(p, vf[i], acc[i]);
  }
  float* out = a.workspace + ((static_cast<int64_t>(b) * h + head) * chunks + chunk) * (d + 2);
  if (lane == 0) {
    out[0] = live ? m : -FLT_MAX;
    out[1] = l;
  }
#pragma unroll
  for (int i = 0; i < PL; ++i) out[2 + lane * PL + i] = acc[i];
  tl.finish(timeline_tag(kTlAttentionChunk, a.h, a.t * 16));
}

// One block per (batch, head), kMergeWarps warps; warp w merges chunks w, w + kMergeWarps, ... kMergeBatch at a
// time (each lane loads their m and l and its PL values at once: one memory round trip for a batch), keeping a
// running max, sum and weighted values; the warps then meet in shared memory. The partials are read from L2 (other
// SMs wrote them). kCarved as for decode_chunk_kernel.
template <typename T, int PL, bool kCarved>
__global__ void __launch_bounds__(kMergeWarps * 32) decode_merge_kernel(const float* __restrict__ work,
                                                                        T* __restrict__ y, int chunks) {
  constexpr int d = 32 * PL;
  __shared__ float s_m[kMergeWarps], s_l[kMergeWarps], s_acc[kMergeWarps][d];
  TimelineStamps tl;
  tl.begin();
  allow_dependents();  // (see decode_chunk_kernel)
  wait_for_producers();
  tl.after_wait();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float* w = work + static_cast<int64_t>(blockIdx.x) * chunks * (d + 2);
  float big = -FLT_MAX, total = 0.f, acc[PL];
#pragma unroll
  for (int i = 0; i < PL; ++i) acc[i] = 0.f;
  for (int c0 = warp; c0 < chunks; c0 += kMergeWarps * kMergeBatch) {
    float m[kMergeBatch], l[kMergeBatch], v[kMergeBatch][PL];
#pragma unroll
    for (int j = 0; j < kMergeBatch; ++j) {
      const int c = c0 + j * kMergeWarps;
      const float* p = w + static_cast<int64_t>(c) * (d + 2);
      m[j] = c < chunks ? __ldcg(p) : -FLT_MAX;
      l[j] = c < chunks ? __ldcg(p + 1) : 0.f;
#pragma unroll
      for (int i = 0; i < PL; ++i) v[j][i] = c < chunks ? __ldcg(p + 2 + lane * PL + i) : 0.f;
    }
    float batch_big = big;
#pragma unroll
    for (int j = 0; j < kMergeBatch; ++j)
      if (l[j] > 0.f) batch_big = fmaxf(batch_big, m[j]);
    const float rescale = total > 0.f ? __expf(big - batch_big) : 0.f;
    total *= rescale;
#pragma unroll
    for (int i = 0; i < PL; ++i) acc[i] *= rescale;
#pragma unroll
    for (int j = 0; j < kMergeBatch; ++j) {
      const float weight = l[j] > 0.f ? __expf(m[j] - batch_big) : 0.f;
      total += weight * l[j];
#pragma unroll
      for (int i = 0; i < PL; ++i) acc[i] += weight * v[j][i];
    }
    big = batch_big;
  }
  if (lane == 0) {
    s_m[warp] = big;
    s_l[warp] = total;
  }
#pragma unroll
  for (int i = 0; i < PL; ++i) s_acc[warp][lane * PL + i] = acc[i];
  __syncthreads();
  float all_big = -FLT_MAX;
#pragma unroll
  for (int k = 0; k < kMergeWarps; ++k)
    if (s_l[k] > 0.f) all_big = fmaxf(all_big, s_m[k]);
  float weight[kMergeWarps], sum_l = 0.f;
#pragma unroll
  for (int k = 0; k < kMergeWarps; ++k) {
    weight[k] = s_l[k] > 0.f ? __expf(s_m[k] - all_big) : 0.f;
    sum_l += weight[k] * s_l[k];
  }
  const float inv = sum_l > 0.f ? 1.f / sum_l : 0.f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float sum = 0.f;
#pragma unroll
    for (int k = 0; k < kMergeWarps; ++k) sum += weight[k] * s_acc[k][i];
    y[static_cast<int64_t>(blockIdx.x) * d + i] = from_f<T>(sum * inv);
  }
  tl.finish(timeline_tag(kTlAttentionMerge, gridDim.x, chunks * 16));
}

}  // namespace

bool decode_attention_supported(int64_t h, int64_t hkv, int64_t t, int64_t d) {
  return (d == 32 || d == 64 || d == 128 || d == 256) && hkv > 0 && h % hkv == 0 && t > 0 &&
         chunks_of(t) <= kMaxChunks;
}

namespace {

// The chunk kernel for T, fused or not, and d (32, 64, 128 or 256), on the decoding carve-out where kCarved (batches
// decode_carveout_for takes; cuda_types.cuh), with its shared memory limit raised on the current device where the
// keys and values of a chunk need more than the default 48 KB (fp32, d 256; the limit is a device's, so it is set at
// every call that needs it).
template <typename T, bool kFused, bool kCarved>
auto chunk_kernel(int64_t d) {
  switch (d) {
    case 32: return with_decode_carveout<decode_chunk_kernel<T, kFused, 1, kCarved>, kCarved>();
    case 64: return with_decode_carveout<decode_chunk_kernel<T, kFused, 2, kCarved>, kCarved>();
    case 128: return with_decode_carveout<decode_chunk_kernel<T, kFused, 4, kCarved>, kCarved>();
  }
  const auto kernel = with_decode_carveout<decode_chunk_kernel<T, kFused, 8, kCarved>, kCarved>();
  const auto bytes = static_cast<int>(chunk_smem_bytes(kMaxD, sizeof(T)));
  if (bytes > 48 * 1024) cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  return kernel;
}

// The merge kernel for T and d, on the decoding carve-out where kCarved (as chunk_kernel).
template <typename T, bool kCarved>
auto merge_kernel(int64_t d) {
  switch (d) {
    case 32: return with_decode_carveout<decode_merge_kernel<T, 1, kCarved>, kCarved>();
    case 64: return with_decode_carveout<decode_merge_kernel<T, 2, kCarved>, kCarved>();
    case 128: return with_decode_carveout<decode_merge_kernel<T, 4, kCarved>, kCarved>();
  }
  return with_decode_carveout<decode_merge_kernel<T, 8, kCarved>, kCarved>();
}

}  // namespace

bool decode_attention_fuses_rope(ElemType type, int64_t b, int64_t h, int64_t hkv, int64_t t, int64_t d) {
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    const int warps = heads_per_block(h / hkv);
    const bool carved = decode_carveout_for(b);
    // Asked once per head size, block width and carve-out (eager decoding asks every layer of every step).
    static std::mutex mutex;
    static std::map<std::tuple<int64_t, int, bool>, int> known;
    int resident = 0;
    {
      const std::lock_guard<std::mutex> lock(mutex);
      const auto key = std::make_tuple(d, warps, carved);
      if (const auto it = known.find(key); it != known.end()) {
        resident = it->second;
      } else {
        const auto kernel = carved ? chunk_kernel<T, true, true>(d) : chunk_kernel<T, true, false>(d);
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, warps * 32,
                                                          chunk_smem_bytes(d, sizeof(T))) != cudaSuccess)
          return 0;
        known.emplace(key, resident);
      }
    }
    const int64_t blocks = b * h / warps * chunks_of(t);
    return static_cast<int>(blocks <= static_cast<int64_t>(resident) * sm_count());
  }) != 0;
}

int64_t decode_attention_workspace(int64_t b, int64_t h, int64_t t, int64_t d) {
  return b * h * chunks_of(t) * (d + 2);
}

int decode_attention_forward(ElemType type, const DecodeAttentionArgs& a, void* stream) {
  if (!decode_attention_supported(a.h, a.hkv, a.t, a.d) ||
      !aligned16({a.k_cache, a.v_cache}))
    return static_cast<int>(cudaErrorInvalidValue);
  if (a.b * a.h == 0) return 0;
  const int64_t chunks = chunks_of(a.t);
  const int warps = heads_per_block(a.h / a.hkv);
  const dim3 grid(static_cast<unsigned>(a.b * a.h / warps), static_cast<unsigned>(chunks));
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    const auto smem = static_cast<size_t>(chunk_smem_bytes(a.d, sizeof(T)));
    const auto launch = [&](auto carved) {
      constexpr bool kCarved = decltype(carved)::value;
      const int status =
          a.positions ? launch_dependent(chunk_kernel<T, true, kCarved>(a.d), grid, warps * 32, smem, stream, a)
                      : launch_dependent(chunk_kernel<T, false, kCarved>(a.d), grid, warps * 32, smem, stream, a);
      if (status != 0) return status;
      return launch_dependent(merge_kernel<T, kCarved>(a.d), static_cast<unsigned>(a.b * a.h), kMergeWarps * 32, 0,
                              stream, a.workspace, static_cast<T*>(a.y), static_cast<int>(chunks));
    };
    return decode_carveout_for(a.b) ? launch(std::true_type{}) : launch(std::false_type{});
  });
}

}  // namespace vlm::cuda
