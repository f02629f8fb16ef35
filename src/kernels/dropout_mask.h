// The dropout mask of ops::dropout and ops::add_dropout_, shared by the CPU reference and the CUDA kernels so that
// both draw the same mask: counter-based, so element i of a tensor under a seed is kept or dropped whatever order
// or device computes it, and a mask is drawn again (backward, a recomputed checkpoint) from its seed alone instead of
// being stored.
//
// Elements 2j and 2j + 1 take the low and high 32 bits of splitmix64's output for the state seed + (j + 1) * gamma
// (gamma its golden-ratio increment); an element is kept when its 32 bits are at least p * 2^32 (rounded up), and a
// kept element is scaled by 1 / (1 - p) in float32 (float64 for double tensors, which only the reference takes), as
// torch's dropout scales.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define VLM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VLM_HOST_DEVICE inline
#endif

namespace vlm::dropout {

// The 64 random bits of element pair j.
VLM_HOST_DEVICE uint64_t pair_bits(uint64_t seed, uint64_t j) {
  uint64_t z = seed + (j + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Elements whose 32 bits are below this are dropped: ceil(p * 2^32) for p in [0, 1), at most 2^32 - 1 (a p within
// 2^-32 of 1 drops all but the elements drawing the largest value).
inline uint32_t threshold(double p) {
  const double t = p * 4294967296.0;
  const auto u = static_cast<uint64_t>(t);
  const uint64_t up = static_cast<double>(u) < t ? u + 1 : u;
  return static_cast<uint32_t>(up < 0xFFFFFFFFull ? up : 0xFFFFFFFFull);
}

// Whether element i is kept.
VLM_HOST_DEVICE bool keep(uint64_t seed, uint64_t i, uint32_t threshold) {
  const uint64_t bits = pair_bits(seed, i >> 1);
  return static_cast<uint32_t>(i & 1 ? bits >> 32 : bits) >= threshold;
}

// a * b rounded once (no fused multiply-add on either side, so that the CPU and the GPU agree to the bit).
VLM_HOST_DEVICE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

}  // namespace vlm::dropout
