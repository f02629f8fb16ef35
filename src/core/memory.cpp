#include "core/memory.h"

#include <sys/resource.h>

#include <cstdio>

#include <ATen/ATen.h>

#ifdef VLM_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace vlm {

int64_t peak_memory_bytes(const c10::Device& device) {
#ifdef VLM_WITH_CUDA
  if (device.is_cuda()) {
    // allocated_bytes[0] is the aggregate over pool types (its enum moved namespaces between libtorch versions).
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    return stats.allocated_bytes[0].peak;
  }
#endif
  if (device.is_cuda()) return 0;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

void reset_peak_memory(const c10::Device& device) {
#ifdef VLM_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
#else
  (void)device;
#endif
}

void release_cached_memory(const c10::Device& device) {
#ifdef VLM_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#else
  (void)device;
#endif
}

std::string format_bytes(int64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  return buf;
}

at::Tensor to_device_async(const at::Tensor& cpu, const c10::Device& device) {
  if (!device.is_cuda() || !cpu.is_cpu()) return cpu.to(device);
  return cpu.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace vlm
