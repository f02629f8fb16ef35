// Matrix-vector products for decoding: a few input rows against a weight matrix read once, at the memory bandwidth.
// cuBLAS's GEMM kernels for M = 1 leave a large share of the bandwidth unused on these shapes, and a decoding step
// is nothing but such products. One warp computes one output column (weight row) for every input row: the inputs
// sit in shared memory (normalised there first when the kernel also runs the norm before the projection), each
// lane streams 16-byte pieces of the weight row, and the fp32 partial sums meet by warp shuffles. A warp walks its
// rows in rounds of up to eight 16-byte loads a lane (sixteen for long rows; a SwiGLU round loads eight of the gate
// row and eight of the up row at the same offsets, so each input piece is read once for both), and the next round's
// loads are issued before the current round is used, so every warp keeps loads in flight from its first round to its
// last, across row ends. Where the caller vouches that no kernel still running writes the weights
// (GemvArgs::weights_settled: a decoding step), the first round is loaded before the kernel waits on the one before
// (launched as a dependent, cuda_types.cuh), else only asked for in L2 there; the inputs are staged with asynchronous
// copies, so the wait and the staging overlap the first weight loads; each warp releases the next kernel once its
// last loads are issued, so that kernel's first loads overlap this one's last rounds. The grid gives every warp the
// same number of rows (within one), at most what is resident at once. Bytes loaded before the wait pay most: larger
// first rounds sped decoding up where the product alone did not get faster, and asking L2 for more rows there slowed
// it (bench/NOTES.md).
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>

#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

constexpr int kUnroll = 8;       // 16-byte weight loads a lane per round
constexpr int kLongUnroll = 16;  // the same for long rows (see launch)
// One input row against rows of at most this many elements takes rounds of kUnroll loads, longer rows rounds of
// kLongUnroll (launch); the greedy head takes only the former, whose arithmetic its exact kernel repeats.
constexpr int64_t kShortRowMaxK = 8 * 2 * 32 * kUnroll;
static_assert(kShortRowMaxK == 4096, "kernels_cuda.h states the greedy head's limit");

// Eight elements of T as floats.
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& v, float (&out)[8]) {
  const auto* p = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = to_f(p[i]);
}

// The M input rows [M, k] in shared memory (as 16-byte pieces): x itself, or with a norm weight
// rms_norm(x + residual) * norm_weight with the numbers of add_rms_norm_forward (h = x + residual rounded, normalised
// in fp32, rounded, times the weight); block 0 writes h to sum_out. x, the residual and the norm weight (staged
// behind x) are copied asynchronously, all at once. Each block computes the norm itself: it is small next to the
// weight rows it streams.
template <typename T, int M>
__device__ __forceinline__ void load_inputs(const GemvArgs& a, uint4* xs) {
  const int64_t kv = a.k / 8, pieces = M * kv;
  uint4* rs = xs + pieces;
  uint4* ns = rs + (a.residual ? pieces : 0);
  for (int64_t i = threadIdx.x; i < pieces; i += blockDim.x) {
    copy16_async(xs + i, static_cast<const uint4*>(a.x) + i);
    if (a.residual) copy16_async(rs + i, static_cast<const uint4*>(a.residual) + i);
  }
  if (a.norm_weight)
    for (int64_t i = threadIdx.x; i < kv; i += blockDim.x)
      copy16_async(ns + i, static_cast<const uint4*>(a.norm_weight) + i);
  wait_copies_async();
  __syncthreads();
  if (!a.norm_weight) return;
  auto* h_out = blockIdx.x == 0 ? static_cast<uint4*>(a.sum_out) : nullptr;
  for (int m = 0; m < M; ++m) {
    float sum = 0.f;
    for (int64_t i = m * kv + threadIdx.x; i < (m + 1) * kv; i += blockDim.x) {
      uint4 hv = xs[i];
      if (a.residual) {
        const uint4 rv = rs[i];
        auto* h = reinterpret_cast<T*>(&hv);
        const auto* r = reinterpret_cast<const T*>(&rv);
#pragma unroll
        for (int j = 0; j < 8; ++j) h[j] = from_f<T>(to_f(h[j]) + to_f(r[j]));
        xs[i] = hv;
        if (h_out) h_out[i] = hv;
      }
      float h[8];
      unpack8<T>(hv, h);
#pragma unroll
      for (int j = 0; j < 8; ++j) sum += h[j] * h[j];
    }
    const float inv = rsqrtf(block_sum(sum) / static_cast<float>(a.k) + a.eps);
    for (int64_t i = m * kv + threadIdx.x; i < (m + 1) * kv; i += blockDim.x) {  // each thread rereads its own
      uint4 v = xs[i];
      const uint4 nv = ns[i - m * kv];
      auto* h = reinterpret_cast<T*>(&v);
      const auto* wn = reinterpret_cast<const T*>(&nv);
#pragma unroll
      for (int j = 0; j < 8; ++j) h[j] = from_f<T>(to_f(wn[j]) * to_f(from_f<T>(to_f(h[j]) * inv)));
      xs[i] = v;
    }
  }
  __syncthreads();
}

// Where a warp is in its work: the row and the round within it.
struct Cursor {
  int64_t row;
  int round;
};

// One round of a warp's products into g (and u): piece(0, j) is the lane's j-th 16-byte piece of the round of w,
// piece(1, j) of w_up, for j < loads; i0 is the lane's first piece in the row (later ones 32 apart).
template <typename T, int M, bool kSwiglu, int U, typename Piece>
__device__ __forceinline__ void accumulate(const uint4* xs, int64_t kv, int64_t i0, int loads, Piece&& piece,
                                           float (&g)[M], float (&u)[M]) {
#pragma unroll
  for (int k8 = 0; k8 < U; ++k8) {
    const int64_t i = i0 + 32 * k8;
    if (k8 >= loads || i >= kv) break;
    float wg[8], wu[8];
    unpack8<T>(piece(0, k8), wg);
    if constexpr (kSwiglu) unpack8<T>(piece(1, k8), wu);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      float x[8];
      unpack8<T>(xs[m * kv + i], x);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        g[m] = fmaf(wg[j], x[j], g[m]);
        if constexpr (kSwiglu) u[m] = fmaf(wu[j], x[j], u[m]);
      }
    }
  }
}

// A finished row: the partial sums meet over the warp, lane 0 writes y[:, row], and the sums restart at zero.
template <typename T, int M, bool kSwiglu>
__device__ __forceinline__ void finish_row(const GemvArgs& a, int lane, int64_t row, float (&g)[M], float (&u)[M]) {
#pragma unroll
  for (int m = 0; m < M; ++m)
    for (int off = 16; off > 0; off >>= 1) {
      g[m] += __shfl_xor_sync(0xffffffffu, g[m], off);
      if constexpr (kSwiglu) u[m] += __shfl_xor_sync(0xffffffffu, u[m], off);
    }
  if (lane == 0) {
    const auto* bias = row < a.n - a.n_tail ? static_cast<const T*>(a.bias) : nullptr;  // none on the tail
    auto* y = static_cast<T*>(a.y);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      if constexpr (kSwiglu) {
        if (a.raw_pairs) {
          y[2 * m * a.n + row] = from_f<T>(g[m]);
          y[(2 * m + 1) * a.n + row] = from_f<T>(u[m]);
          continue;
        }
        const float gm = to_f(from_f<T>(g[m])), um = to_f(from_f<T>(u[m]));
        y[m * a.n + row] = from_f<T>(gm / (1.f + __expf(-gm)) * um);
      } else {
        y[m * a.n + row] = from_f<T>(g[m] + (bias ? to_f(bias[row]) : 0.f));
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) g[m] = u[m] = 0.f;
}

// Plain: y[m, r] = x[m, :] . w[r, :] (+ bias[r]) in fp32, rounded once.
// kSwiglu: y[m, r] = silu(g) * u with g = x[m, :] . w[r, :] and u = x[m, :] . w_up[r, :], each rounded to T first
// (the numbers of two products followed by the SwiGLU kernel).
// The input rows are first prepared in shared memory (see load_inputs).
template <typename T, int M, bool kSwiglu, int W, int U>  // U: 16-byte loads a lane per round
__global__ void __launch_bounds__(W * 32) gemv_kernel(GemvArgs a) {
  extern __shared__ uint4 xs[];
  TimelineStamps tl;
  tl.begin();
  constexpr int kLoads = kSwiglu ? 2 * U : U;  // a round's loads a lane: [0, U) from w, [U, 2U) from w_up
  const int64_t n = a.n, kv = a.k / 8, warps = static_cast<int64_t>(gridDim.x) * W;
  const int lane = threadIdx.x % 32;
  const int rounds = static_cast<int>((kv + 32 * U - 1) / (32 * U));  // a row's
  const int64_t n_main = n - a.n_tail;
  // The start of weight row r: in w (w_up) or, from n_main on, in the tail.
  auto row_start = [&](const void* main, const void* tail, int64_t r) {
    return r < n_main ? static_cast<const uint4*>(main) + r * kv : static_cast<const uint4*>(tail) + (r - n_main) * kv;
  };
  // Issues the loads of the round at c into buf (the last round of a row is partial: its loads are predicated).
  auto load = [&](const Cursor& c, uint4 (&buf)[kLoads]) {
    const int64_t offset = static_cast<int64_t>(c.round) * 32 * U + lane;
    const int64_t left = kv - offset;
    const uint4* wr = row_start(a.w, a.w_tail, c.row) + offset;
    const uint4* ur = kSwiglu ? row_start(a.w_up, a.w_up_tail, c.row) + offset : nullptr;
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (32 * u < left) {
        buf[u] = __ldcs(wr + 32 * u);  // streamed: read once a step
        if constexpr (kSwiglu) buf[U + u] = __ldcs(ur + 32 * u);
      }
  };
  auto advance = [&](Cursor& c) {
    if (++c.round < rounds) return;
    c.round = 0;
    c.row += warps;
  };

  Cursor cur{blockIdx.x * W + static_cast<int64_t>(threadIdx.x / 32), 0};
  uint4 wv[kLoads];
  if (a.weights_settled) {
    if (cur.row < n) load(cur, wv);
    wait_for_producers();
    tl.after_wait();
  } else {  // the weights may still be in writing: only a hint before the wait (cuda_types.cuh)
    if (lane == 0 && cur.row < n) {
      const auto bytes = static_cast<uint32_t>(a.k * sizeof(T));
      prefetch_l2(row_start(a.w, a.w_tail, cur.row), bytes);
      if constexpr (kSwiglu) prefetch_l2(row_start(a.w_up, a.w_up_tail, cur.row), bytes);
    }
    wait_for_producers();
    tl.after_wait();
    if (cur.row < n) load(cur, wv);
  }
  load_inputs<T, M>(a, xs);
  float g[M], u[M];
#pragma unroll
  for (int m = 0; m < M; ++m) g[m] = u[m] = 0.f;
  while (cur.row < n) {
    Cursor next = cur;
    advance(next);
    uint4 nv[kLoads];
    if (next.row < n)
      load(next, nv);
    else
      allow_dependents();  // this warp's loads are all issued: the next kernel may start (its first loads overlap)
    accumulate<T, M, kSwiglu, U>(xs, kv, static_cast<int64_t>(cur.round) * 32 * U + lane, U,
                                 [&](int mat, int k8) { return wv[mat * U + k8]; }, g, u);
    if (next.row != cur.row) finish_row<T, M, kSwiglu>(a, lane, cur.row, g, u);  // the row is done
#pragma unroll
    for (int k8 = 0; k8 < kLoads; ++k8) wv[k8] = nv[k8];
    cur = next;
  }
  allow_dependents();  // (warps without rows)
  tl.finish(timeline_tag(kSwiglu ? kTlGemvSwiglu : kTlGemv, n, a.k));
}

// The shared memory of a launch: the input rows, and the residual and the norm weight staged behind them.
int64_t smem_bytes(int64_t m, int64_t k, bool residual, bool norm) {
  return m * k * 2 * (residual ? 2 : 1) + (norm ? k * 2 : 0);
}
int64_t smem_bytes(const GemvArgs& a, int64_t m) {
  return smem_bytes(m, a.k, a.residual != nullptr, a.norm_weight != nullptr);
}

// The most shared memory a launch stages: kGemvMaxInputBytes, or less where the device has less (host code; asked
// once). Leaves 1 KB for the kernel's static shared memory.
int64_t smem_limit() {
  static const int64_t limit = [] {
    int device = 0, n = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    return std::min<int64_t>(kGemvMaxInputBytes, static_cast<int64_t>(n) - 1024);
  }();
  return limit;
}

// A launch of the kernel with W warps a block: the fewest blocks that give every warp the rows it would have with all
// resident blocks (the occupancy calculator's count), and the rows the busiest SM computes with that grid.
struct Plan {
  int64_t blocks = 0, busiest = 0;
  int status = 0;
};

template <typename T, int M, bool kSwiglu, int W, int U>
Plan plan(const GemvArgs& a) {
  const auto kernel = gemv_kernel<T, M, kSwiglu, W, U>;
  const int64_t smem = smem_bytes(a, M);
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
      set_decode_carveout(kernel);
      if ((smem > 48 * 1024 && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(smem_limit())) != cudaSuccess) ||
          cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, W * 32, smem) != cudaSuccess) {
        p.status = static_cast<int>(cudaGetLastError());
        return p;
      }
      resident_by_smem.emplace(smem, resident);
    }
  }
  const int64_t sms = sm_count();
  const int64_t rows_per_warp =  // at least 1: a product of no rows still launches to write sum_out
      std::max<int64_t>(1, (a.n + std::max(resident, 1) * sms * W - 1) / (std::max(resident, 1) * sms * W));
  const int64_t warps = (a.n + rows_per_warp - 1) / rows_per_warp;
  p.blocks = std::max<int64_t>(1, (warps + W - 1) / W);
  p.busiest = (p.blocks + sms - 1) / sms * W * rows_per_warp;
  return p;
}

// Blocks of 8 warps unless blocks of 4 leave the busiest SM fewer rows.
template <typename T, int M, bool kSwiglu, int U>
int launch_unrolled(const GemvArgs& a, void* stream) {
  const Plan wide = plan<T, M, kSwiglu, 8, U>(a), narrow = plan<T, M, kSwiglu, 4, U>(a);
  if (wide.status != 0) return wide.status;
  if (narrow.status != 0) return narrow.status;
  const int64_t smem = smem_bytes(a, M);
  if (narrow.busiest < wide.busiest)
    return launch_dependent(gemv_kernel<T, M, kSwiglu, 4, U>, static_cast<unsigned>(narrow.blocks), 128, smem, stream,
                            a);
  return launch_dependent(gemv_kernel<T, M, kSwiglu, 8, U>, static_cast<unsigned>(wide.blocks), 256, smem, stream, a);
}

// Rounds of kUnroll loads a lane, of kLongUnroll for one input row against long weight rows (more than two rounds of
// kUnroll: the down projection). The first round, loaded before the wait while the kernel before still runs, is then
// 46% of each row of 8960 instead of 23%: 577 -> 606 tok/s decoding Qwen2-VL-2B on an H100 (bench/NOTES.md, session
// 10), though the product alone is no faster. It takes 160 registers; measured for one input row only. (SwiGLU rounds
// hold as many at every row count, and paid there too: batch 2 689 -> 785 tok/s, batch 4 876 -> 1064.)
template <typename T, int M, bool kSwiglu>
int launch(const GemvArgs& a, void* stream) {
  if constexpr (!kSwiglu && M == 1)
    if (a.k > kShortRowMaxK) return launch_unrolled<T, M, kSwiglu, kLongUnroll>(a, stream);
  return launch_unrolled<T, M, kSwiglu, kUnroll>(a, stream);
}

// Calls f(std::integral_constant<int, M>{}) for the run-time row count m in 1..kGemvMaxRows.
static_assert(kGemvMaxRows == 4, "with_rows takes 1..4 rows");
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

bool fits(ElemType type, int64_t m, int64_t k, bool residual, bool norm) {
  if (type == ElemType::kF32 || m < 1 || m > kGemvMaxRows || k <= 0 || k % 8 != 0) return false;
  const int64_t smem = smem_bytes(m, k, residual, norm);
  return smem <= smem_limit();
}

// The greedy LM head (kernels_cuda.h). Screening: each warp takes a few consecutive int8 rows at a time (the next
// rows' loads issued before these are used, the first before the wait, as in gemv_kernel). The exact pass mirrors
// gemv_kernel's arithmetic for one row (the same accumulate, butterfly and rounding), so its values are the logits
// gemv_forward would write.
constexpr int kHeadWarps = 8;

// Larger floats to larger unsigned integers (for atomicMax), and back.
__device__ __forceinline__ unsigned ordered(float f) {
  const unsigned b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}
__device__ __forceinline__ float unordered(unsigned u) {
  return __uint_as_float((u & 0x80000000u) ? u & 0x7fffffffu : ~u);
}

// torch's argmax order: NaN above all, then larger values, then the lower index.
__device__ __forceinline__ bool ahead_of(float v, int64_t i, float bv, int64_t bi) {
  const bool vn = isnan(v), bn = isnan(bv);
  if (vn != bn) return vn;
  if (!vn && v != bv) return v > bv;
  return i < bi;
}

// The 16 signed bytes of v as exact floats, by placing each (offset by 128) in the mantissa of 2^23 and subtracting
// 2^23 + 128: integer and float adds at full rate, where a conversion instruction runs at an eighth of it.
__device__ __forceinline__ void int8x16_to_float(const uint4& v, float (&out)[16]) {
  const unsigned words[4] = {v.x ^ 0x80808080u, v.y ^ 0x80808080u, v.z ^ 0x80808080u, v.w ^ 0x80808080u};
#pragma unroll
  for (int i = 0; i < 16; ++i)
    out[i] = __uint_as_float(__byte_perm(words[i / 4], 0x4B000000u, 0x7540u | (i % 4))) - 8388736.f;
}

template <typename T, int L>  // L: 16-byte pieces a lane of each int8 row (k / 16 <= 32 L)
__global__ void __launch_bounds__(kHeadWarps * 32, 2) greedy_screen_kernel(GreedyHeadArgs a) {
  // A lane always takes pieces lane + 32 u of a row, so it keeps their x in registers (up to four pieces; beyond
  // that x is read from shared memory). R rows at once keep about six loads a lane in flight.
  constexpr bool kRegs = L <= 4;
  constexpr int R = kRegs ? (6 / L > 1 ? 6 / L : 1) : 1;
  extern __shared__ float xt[];  // x[16 p + e] at xt[e * pieces + p]
  TimelineStamps tl;
  tl.begin();
  const int64_t pieces = a.k / 16, groups = (a.v + R - 1) / R;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kHeadWarps;
  const int lane = threadIdx.x % 32;
  const auto* q = reinterpret_cast<const uint4*>(a.q);
  auto load = [&](int64_t g, uint4 (&buf)[R * L], float (&sc)[R]) {
#pragma unroll
    for (int j = 0; j < R; ++j) {
      const int64_t row = g * R + j;
      if (row >= a.v) break;
      sc[j] = __ldcs(a.scale + row);
#pragma unroll
      for (int u = 0; u < L; ++u)
        if (lane + 32 * u < pieces) buf[j * L + u] = __ldcs(q + row * pieces + lane + 32 * u);
    }
  };
  int64_t group = static_cast<int64_t>(blockIdx.x) * kHeadWarps + threadIdx.x / 32;
  uint4 cur[R * L];
  float sc[R];
  if (group < groups) load(group, cur, sc);  // the int8 head is written once, before any step uses it
  wait_for_producers();
  tl.after_wait();
  const auto* x = static_cast<const T*>(a.x);
  float norm1 = 0.f;
  for (int64_t i = threadIdx.x; i < a.k; i += blockDim.x) {
    const float xi = to_f(x[i]);
    if constexpr (!kRegs) xt[(i % 16) * pieces + i / 16] = xi;
    norm1 += fabsf(xi);
  }
  float xr[kRegs ? L : 1][16];
  if constexpr (kRegs) {
#pragma unroll
    for (int u = 0; u < L; ++u)
#pragma unroll
      for (int e = 0; e < 16; ++e) {
        const int64_t p = lane + 32 * u;
        xr[u][e] = p < pieces ? to_f(x[16 * p + e]) : 0.f;
      }
  }
  // |x|_1 rounded up; then per row |logit - scale * (q . x)| <= scale |x|_1 c1 (rounding to int8, the fp32 sums of
  // both products), and the logit's own rounding to T adds at most 2^-8 of its size.
  norm1 = block_sum(norm1) * (1.f + static_cast<float>(a.k + 2) * 0x1p-24f);
  const float c1 = 0.50001f + 254.f * static_cast<float>(a.k + 2) * 0x1p-24f;
  float lowest = -INFINITY;
  bool finite = true;
  while (group < groups) {
    const int64_t next = group + warps;
    uint4 nv[R * L];
    float nsc[R];
    if (next < groups)
      load(next, nv, nsc);
    else
      allow_dependents();
#pragma unroll
    for (int j = 0; j < R; ++j) {
      float acc = 0.f;
#pragma unroll
      for (int u = 0; u < L; ++u) {
        const int64_t p = lane + 32 * u;
        if (p < pieces) {
          float b[16];
          int8x16_to_float(cur[j * L + u], b);
#pragma unroll
          for (int e = 0; e < 16; ++e) {
            if constexpr (kRegs)
              acc = fmaf(b[e], xr[u][e], acc);
            else
              acc = fmaf(b[e], xt[e * pieces + p], acc);
          }
        }
      }
      for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
      const int64_t row = group * R + j;
      if (lane == 0 && row < a.v) {
        const float approx = acc * sc[j], e = sc[j] * norm1 * c1;
        const float d = e + 0x1.02p-8f * (fabsf(approx) + e) + 1e-30f;
        const float upper = approx + d, lower = approx - d;
        a.upper[row] = upper;
        finite = finite && isfinite(upper) && isfinite(lower);
        lowest = fmaxf(lowest, lower);
      }
    }
#pragma unroll
    for (int i = 0; i < R * L; ++i) cur[i] = nv[i];
#pragma unroll
    for (int j = 0; j < R; ++j) sc[j] = nsc[j];
    group = next;
  }
  allow_dependents();
  // One atomic a block: the block's largest lower bound (lane 0 of each warp holds its warp's), and whether any row
  // was not finite.
  lowest = block_max(lane == 0 ? lowest : -INFINITY);
  const bool all_finite = __syncthreads_and(lane != 0 || finite);
  if (threadIdx.x == 0) {
    if (lowest > -INFINITY) atomicMax(a.state, ordered(lowest));
    if (!all_finite) atomicOr(a.state + 1, 1u);
  }
  tl.finish(timeline_tag(kTlGreedyScreen, a.v, a.k));
}

template <typename T>
__global__ void __launch_bounds__(kHeadWarps * 32) greedy_exact_kernel(GreedyHeadArgs a) {
  constexpr int U = kUnroll;  // gemv_kernel's rounds for one row of k <= kShortRowMaxK (launch)
  extern __shared__ uint4 xs[];
  TimelineStamps tl;
  tl.begin();
  wait_for_producers();
  tl.after_wait();
  GemvArgs in;
  in.x = a.x;
  in.m = 1;
  in.k = a.k;
  load_inputs<T, 1>(in, xs);
  const float lower = unordered(__ldcg(a.state));
  const bool all = __ldcg(a.state + 1) != 0;
  const int64_t kv = a.k / 8, chunks = (a.v + 31) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kHeadWarps;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int rounds = static_cast<int>((kv + 32 * U - 1) / (32 * U));
  const auto* w = static_cast<const uint4*>(a.w);
  float best = -INFINITY;
  int64_t best_row = INT64_MAX;
  constexpr int kChunksAtOnce = 4;  // a warp's chunks of 32 rows whose bounds it loads together
  for (int64_t c0 = static_cast<int64_t>(blockIdx.x) * kHeadWarps + warp; c0 < chunks; c0 += kChunksAtOnce * warps) {
    float up[kChunksAtOnce];
#pragma unroll
    for (int j = 0; j < kChunksAtOnce; ++j) {
      const int64_t r = (c0 + j * warps) * 32 + lane;
      up[j] = r < a.v ? __ldcg(a.upper + r) : -INFINITY;
    }
#pragma unroll 1
    for (int j = 0; j < kChunksAtOnce; ++j) {
      const int64_t c = c0 + j * warps;
      const int64_t r = c * 32 + lane;
      unsigned rows = __ballot_sync(0xffffffffu, r < a.v && (all || up[j] >= lower));
      while (rows != 0) {
        const int64_t row = c * 32 + __ffs(rows) - 1;
        rows &= rows - 1;
        float g[1] = {0.f}, u[1];
        for (int round = 0; round < rounds; ++round) {
          const int64_t i0 = static_cast<int64_t>(round) * 32 * U + lane;
          accumulate<T, 1, false, U>(
              xs, kv, i0, U, [&](int, int k8) { return __ldcs(w + row * kv + i0 + 32 * k8); }, g, u);
        }
        for (int off = 16; off > 0; off >>= 1) g[0] += __shfl_xor_sync(0xffffffffu, g[0], off);
        const float value = to_f(from_f<T>(g[0] + 0.f));  // as finish_row writes it
        if (ahead_of(value, row, best, best_row)) {
          best = value;
          best_row = row;
        }
      }
    }
  }
  __shared__ float warp_best[kHeadWarps];
  __shared__ int64_t warp_row[kHeadWarps];
  __shared__ bool last;
  if (lane == 0) {
    warp_best[warp] = best;
    warp_row[warp] = best_row;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 1; i < kHeadWarps; ++i)
      if (ahead_of(warp_best[i], warp_row[i], best, best_row)) {
        best = warp_best[i];
        best_row = warp_row[i];
      }
    a.partial_value[blockIdx.x] = best;
    a.partial_index[blockIdx.x] = best_row;
    __threadfence();
    last = atomicAdd(a.state + 2, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  tl.finish(timeline_tag(kTlGreedyExact, a.v, a.k));
  if (!last) return;
  // The last block to finish: every thread takes some blocks' results, then the warps and the block reduce them.
  __threadfence();
  best = -INFINITY;
  best_row = INT64_MAX;
  for (unsigned b = threadIdx.x; b < gridDim.x; b += blockDim.x) {
    const float v = __ldcg(a.partial_value + b);
    const int64_t i = __ldcg(a.partial_index + b);
    if (ahead_of(v, i, best, best_row)) {
      best = v;
      best_row = i;
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float v = __shfl_xor_sync(0xffffffffu, best, off);
    const auto i = static_cast<int64_t>(__shfl_xor_sync(0xffffffffu, static_cast<long long>(best_row), off));
    if (ahead_of(v, i, best, best_row)) {
      best = v;
      best_row = i;
    }
  }
  __syncthreads();  // the warp results above are read
  if (lane == 0) {
    warp_best[warp] = best;
    warp_row[warp] = best_row;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int i = 1; i < kHeadWarps; ++i)
    if (ahead_of(warp_best[i], warp_row[i], best, best_row)) {
      best = warp_best[i];
      best_row = warp_row[i];
    }
  *a.out = best_row;
  a.state[0] = a.state[1] = a.state[2] = 0;  // for the next call, which the stream orders after this one
}

}  // namespace

bool gemv_supported(ElemType type, int64_t m, int64_t k, bool residual, bool norm) {
  return fits(type, m, k, residual, norm);
}

int gemv_forward(ElemType type, const GemvArgs& a, void* stream) {
  if (!fits(type, a.m, a.k, a.residual != nullptr, a.norm_weight != nullptr) || (a.residual && !a.norm_weight) ||
      a.n_tail < 0 || a.n_tail > a.n || (a.n_tail > 0 && (!a.w_tail || (a.w_up && !a.w_up_tail))) ||
      (a.raw_pairs && !a.w_up))
    return static_cast<int>(cudaErrorInvalidValue);
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

namespace {

// One warp a row: its largest magnitude, then the row rounded against it (8 elements a lane at a time).
template <typename T>
__global__ void __launch_bounds__(kHeadWarps * 32) greedy_quantize_kernel(const uint4* w, uint2* q, float* scale,
                                                                          int64_t v, int64_t k) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kHeadWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= v) return;
  const int64_t packs = k / 8;
  float amax = 0.f;
  for (int64_t i = lane; i < packs; i += 32) {
    float f[8];
    unpack8<T>(w[row * packs + i], f);
#pragma unroll
    for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(f[j]));
  }
  for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
  const float s = amax / 127.f;
  if (lane == 0) scale[row] = s;
  for (int64_t i = lane; i < packs; i += 32) {
    float f[8];
    unpack8<T>(w[row * packs + i], f);
    uint2 out;
    auto* b = reinterpret_cast<int8_t*>(&out);
#pragma unroll
    for (int j = 0; j < 8; ++j)
      b[j] = static_cast<int8_t>(s > 0.f ? fminf(fmaxf(rintf(f[j] / s), -127.f), 127.f) : 0.f);
    q[row * packs + i] = out;
  }
}

}  // namespace

int greedy_head_quantize(ElemType type, const void* w, int8_t* q, float* scale, int64_t v, int64_t k, void* stream) {
  if (type == ElemType::kF32 || k % 8 != 0 || v < 1) return static_cast<int>(cudaErrorInvalidValue);
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) {
      return static_cast<int>(cudaErrorInvalidValue);
    } else {
      const auto blocks = static_cast<unsigned>((v + kHeadWarps - 1) / kHeadWarps);
      greedy_quantize_kernel<T><<<blocks, kHeadWarps * 32, 0, static_cast<cudaStream_t>(stream)>>>(
          static_cast<const uint4*>(w), reinterpret_cast<uint2*>(q), scale, v, k);
      return static_cast<int>(cudaGetLastError());
    }
  });
}

bool greedy_head_supported(ElemType type, int64_t k) {
  return type != ElemType::kF32 && k > 0 && k % 16 == 0 && k <= kShortRowMaxK;
}

int greedy_head_blocks() { return sm_count(); }

int greedy_head_argmax(ElemType type, const GreedyHeadArgs& a, void* stream) {
  if (!greedy_head_supported(type, a.k) || a.v < 1) return static_cast<int>(cudaErrorInvalidValue);
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) {
      return static_cast<int>(cudaErrorInvalidValue);
    } else {
      const auto screen = [&](auto kernel) {
        [[maybe_unused]] static const bool set = set_decode_carveout(kernel);
        return launch_dependent(kernel, static_cast<unsigned>(2 * sm_count()), kHeadWarps * 32,
                                static_cast<size_t>(a.k) * sizeof(float), stream, a);
      };
      int status = 0;
      switch ((a.k / 16 + 31) / 32) {
        case 1: status = screen(greedy_screen_kernel<T, 1>); break;
        case 2: status = screen(greedy_screen_kernel<T, 2>); break;
        case 3: status = screen(greedy_screen_kernel<T, 3>); break;
        case 4: status = screen(greedy_screen_kernel<T, 4>); break;
        case 5: status = screen(greedy_screen_kernel<T, 5>); break;
        case 6: status = screen(greedy_screen_kernel<T, 6>); break;
        case 7: status = screen(greedy_screen_kernel<T, 7>); break;
        default: status = screen(greedy_screen_kernel<T, 8>); break;
      }
      if (status != 0) return status;
      const auto exact = with_decode_carveout<greedy_exact_kernel<T>>();
      return launch_dependent(exact, static_cast<unsigned>(greedy_head_blocks()), kHeadWarps * 32,
                              static_cast<size_t>(a.k) * sizeof(T), stream, a);
    }
  });
}

}  // namespace vlm::cuda
