// Element types of the kernels: float loads/stores of fp32 / fp16 / bf16 and the dispatch from ElemType.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#include "kernels/kernels_cuda.h"

namespace vlm::cuda {

template <typename T>
__device__ __forceinline__ float to_f(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float to_f(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_f(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T from_f(float v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_f(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f(float v) {
  return __float2bfloat16_rn(v);
}

// Calls f(T{}) for the element type T (host code; f reads the type as decltype of its argument).
template <typename F>
int dispatch(ElemType type, F&& f) {
  switch (type) {
    case ElemType::kF32: return f(float{});
    case ElemType::kF16: return f(__half{});
    case ElemType::kBF16: return f(__nv_bfloat16{});
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

// op(v over the whole block) for a commutative op; every thread gets it. blockDim.x is a multiple of 32, at most
// 1024. Safe to call several times in a row.
template <typename Op>
__device__ __forceinline__ float block_reduce(float v, Op op) {
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  __shared__ float partial[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = (blockDim.x + 31) / 32;
  __syncthreads();  // the readers of an earlier call are done with `partial`
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = partial[0];
  for (int i = 1; i < warps; ++i) v = op(v, partial[i]);
  return v;
}

__device__ __forceinline__ float block_sum(float v) {
  return block_reduce(v, [](float a, float b) { return a + b; });
}

__device__ __forceinline__ float block_max(float v) {
  return block_reduce(v, [](float a, float b) { return fmaxf(a, b); });
}


// Programmatic dependent launch (Hopper and later). A kernel started by launch_dependent() may begin while the
// kernel before it in the stream is still running, so it must call wait_for_producers() (every thread, on every
// path) before it reads what an earlier kernel wrote or writes anything. Before the wait it may read only data that
// no kernel still running writes: the kernel just before it, and any before that one which released its dependents
// ahead of its own wait. Most of ours release after their wait (so when they let the next one start, those further
// back have finished and flushed); the decoding attention's chunk and merge kernels release at their start, so the
// output projection after them may start while they, and the q/k/v projection (or RoPE kernel) before them, still
// run: it reads only weights before its wait. Others launch without overlap. Data a kernel cannot vouch for it may
// only ask for in L2 before the wait (a hint: the loads after the wait read the current values). A kernel lets the
// next one start by calling allow_dependents() after its main loads (or, without the call, as it exits). Releasing
// early pays where the next kernel has loads to issue before its wait (the projection after the attention: +1.9%);
// GEMVs that released at their start and asked L2 for their weights piled up and evicted each other (bench/NOTES.md).
// On older cards, or with VLM_PDL=0 in the environment, these launches are plain ones and the calls do nothing.
__device__ __forceinline__ void wait_for_producers() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Timeline probe, compiled in only with -DVLM_TIMELINE (CMake VLM_TIMELINE=ON): thread 0 of each block of the
// decoding kernels stamps the global nanosecond timer when the block starts, when its wait for the kernel before
// returns and when its first warp is done, and appends the three with the kernel's tag, block and SM to a buffer that
// timeline_begin() (kernels_cuda.h) set up; scripts/bench/timeline.py lays a graphed step out from them. Appending
// costs an atomic round trip at the block's end. Each translation unit holds its own pointer to the buffer (no
// relocatable device code): it registers a setter at load time.
enum TimelineKind : uint32_t {
  kTlGemv = 1,
  kTlGemvSwiglu,
  kTlAttentionChunk,
  kTlAttentionMerge,
  kTlBeginStep,
  kTlGreedyScreen,
  kTlGreedyExact
};

// A kernel's tag: its kind and two of its sizes (rows and row length of a GEMV), so launches can be told apart.
__host__ __device__ constexpr uint32_t timeline_tag(TimelineKind kind, int64_t n = 0, int64_t k = 0) {
  return static_cast<uint32_t>(kind) << 28 | static_cast<uint32_t>(n & 0x3ffff) << 10 |
         static_cast<uint32_t>((k / 16) & 0x3ff);
}

bool timeline_register(int (*set)(void* buffer));  // timeline.cu

#ifdef VLM_TIMELINE
namespace {
__device__ unsigned long long* g_timeline;  // [0] records written, [1] capacity; records of 4 from [4]
int timeline_set(void* buffer) { return static_cast<int>(cudaMemcpyToSymbol(g_timeline, &buffer, sizeof buffer)); }
[[maybe_unused]] const bool timeline_registered = timeline_register(timeline_set);

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
}  // namespace

struct TimelineStamps {
  unsigned long long start = 0, waited = 0;
  __device__ __forceinline__ void begin() {
    if (threadIdx.x == 0) start = global_ns();
  }
  __device__ __forceinline__ void after_wait() {
    if (threadIdx.x == 0) waited = global_ns();
  }
  __device__ __forceinline__ void finish(uint32_t tag) {
    if (threadIdx.x != 0 || g_timeline == nullptr) return;
    const unsigned long long end = global_ns();
    unsigned sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    const unsigned long long i = atomicAdd(g_timeline, 1ull);
    if (i >= g_timeline[1]) return;
    unsigned long long* r = g_timeline + 4 * (i + 1);
    r[0] = start;
    r[1] = waited;
    r[2] = end;
    r[3] = tag | static_cast<unsigned long long>((blockIdx.x + blockIdx.y * gridDim.x) & 0xffffffu) << 32 |
           static_cast<unsigned long long>(sm) << 56;
  }
};
#else
struct TimelineStamps {
  __device__ __forceinline__ void begin() {}
  __device__ __forceinline__ void after_wait() {}
  __device__ __forceinline__ void finish(uint32_t) {}
};
#endif

// 16 bytes from global to shared memory (both 16-byte aligned) without holding a register (cp.async on Ampere and
// later); wait_copies_async() waits for this thread's copies.
__device__ __forceinline__ void copy16_async(void* smem, const void* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const auto s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
#else
  *static_cast<uint4*>(smem) = *static_cast<const uint4*>(gmem);
#endif
}

__device__ __forceinline__ void wait_copies_async() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// Asks for bytes (a multiple of 16) from p (16-byte aligned) to be brought into L2.
__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#endif
}

inline bool dependent_launch_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("VLM_PDL");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return enabled;
}

// The shared memory carve-out every decoding kernel asks for, in percent of the most an SM has: 22%, 50 KB of
// Hopper's 228, which the driver rounds up to its 64 KB configuration, room for the fullest occupancy of each (the
// down projection's three blocks of 18 KB). An SM changes its carve-out only when no block runs on it (as we
// understand the hardware; the measurement fits it), so kernels that ask for different ones (the driver's default
// gives each the least it needs) cannot start beside one another: a dependent launch waits for the SM to drain. One
// carve-out for all: 641.7 -> 659.7 tok/s decoding at batch 1 on an H100; more shared memory leaves L1 less room for
// the loads in flight (44%: 653.7, 64%: 635.0; bench/NOTES.md, session 12). Set on the current device (other devices
// keep the driver's choice: slower, not wrong).
// Only for batches whose projections run on the GEMV kernel (at most kGemvMaxRows rows): larger ones run them on
// cuBLAS, which keeps its own carve-out, and their attention launches more blocks than one wave of the 64 KB
// configuration holds (at batch 16, 576 chunk blocks of 17 KB, 3 an SM against the driver's 7): there the carve-out
// cost 3.6% (batch 16 on an H100: 7056 tok/s with it, 7317 without; session 13).
constexpr int kDecodeCarveoutPercent = 22;
inline bool decode_carveout_for(int64_t batch) { return batch <= kGemvMaxRows; }

template <typename K>
bool set_decode_carveout(K kernel) {
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, kDecodeCarveoutPercent) !=
      cudaSuccess)
    cudaGetLastError();  // a preference only: the kernel runs either way
  return true;
}

// kKernel with the decoding carve-out set (once) where kCarved, as the driver chooses otherwise. A kernel that takes
// both is instantiated twice (a template flag it does not read), as the carve-out is a function's.
template <auto kKernel, bool kCarved = true>
auto with_decode_carveout() {
  if constexpr (kCarved) {
    [[maybe_unused]] static const bool set = set_decode_carveout(kKernel);
  }
  return kKernel;
}

// Streaming multiprocessors of the first device asked about (host code; the kernels run on one device type).
inline int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device);
    return n > 0 ? n : 1;
  }();
  return count;
}

template <typename... Params, typename... Args>
int launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, void* stream, Args... args) {
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = dependent_launch_enabled() ? 1 : 0;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = static_cast<cudaStream_t>(stream);
  config.attrs = &attr;
  config.numAttrs = 1;
  return static_cast<int>(cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...));
}

// V consecutive elements moved as one load or store (16 bytes when V = 16 / sizeof(T)).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <int V, typename T>
__device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}

template <int V, typename T>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, V>& v) {
  *reinterpret_cast<Pack<T, V>*>(p) = v;
}

// Elements of T in a 16-byte pack.
template <typename T>
constexpr int kPack16 = 16 / static_cast<int>(sizeof(T));

// Whether every pointer is 16-byte aligned (host code).
inline bool aligned16(std::initializer_list<const void*> ps) {
  for (const void* p : ps)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// Calls f(std::integral_constant<int, kPack16<T>>) when n is a multiple of the 16-byte pack and every pointer is
// aligned to it, else f(std::integral_constant<int, 1>): kernels templated on their pack width V.
template <typename T, typename F>
int with_pack(int64_t n, std::initializer_list<const void*> ps, F&& f) {
  if (n % kPack16<T> == 0 && aligned16(ps)) return f(std::integral_constant<int, kPack16<T>>{});
  return f(std::integral_constant<int, 1>{});
}

}  // namespace vlm::cuda
