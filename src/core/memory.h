// Peak memory, for statistics and benchmarks: on CUDA the caching allocator's peak of allocated bytes on that
// device; on the CPU the process's peak resident set size (which cannot be reset).
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/Device.h>

namespace vlm {

int64_t peak_memory_bytes(const c10::Device& device);
void reset_peak_memory(const c10::Device& device);
// "1.23 GiB", "456.0 MiB", "12.0 KiB"
std::string format_bytes(int64_t bytes);

}  // namespace vlm
