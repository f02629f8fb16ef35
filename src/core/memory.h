// Peak memory, for statistics and benchmarks: on CUDA the caching allocator's peak of allocated bytes on that
// device; on the CPU the process's peak resident set size (which cannot be reset).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace vlm {

int64_t peak_memory_bytes(const c10::Device& device);
void reset_peak_memory(const c10::Device& device);
// Hands the CUDA caching allocator's unused blocks back to the driver (after an out-of-memory error, say); nothing
// on the CPU.
void release_cached_memory(const c10::Device& device);
// A CPU tensor's copy on `device`, queued on the current stream without waiting for the work already queued there
// (staged through pinned memory; a plain copy from pageable memory would wait). The tensor itself on the CPU.
at::Tensor to_device_async(const at::Tensor& cpu, const c10::Device& device);
// "1.23 GiB", "456.0 MiB", "12.0 KiB"
std::string format_bytes(int64_t bytes);

}  // namespace vlm
