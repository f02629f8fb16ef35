// The timeline probe's host side (cuda_types.cuh): the setters of every translation unit's buffer pointer, and the
// buffer itself.
#include <cstdio>
#include <vector>

#include "kernels/cuda_types.cuh"

namespace vlm::cuda {
namespace {

std::vector<int (*)(void*)>& setters() {
  static std::vector<int (*)(void*)> s;
  return s;
}

unsigned long long* buffer = nullptr;  // device memory: [0] count, [1] capacity, then records of 4

}  // namespace

bool timeline_register(int (*set)(void* buffer)) {
  setters().push_back(set);
  return true;
}

bool timeline_begin(int64_t records) {
#ifdef VLM_TIMELINE
  if (buffer) {  // no kernel may write the old buffer once it is freed, even if the new one fails
    for (const auto set : setters()) set(nullptr);
    cudaFree(buffer);
  }
  buffer = nullptr;
  if (records <= 0 || cudaMalloc(&buffer, static_cast<size_t>(4 * (records + 1)) * sizeof(*buffer)) != cudaSuccess)
    return false;
  const unsigned long long header[2] = {0, static_cast<unsigned long long>(records)};
  if (cudaMemcpy(buffer, header, sizeof header, cudaMemcpyHostToDevice) != cudaSuccess) return false;
  for (const auto set : setters())
    if (set(buffer) != 0) return false;
  return true;
#else
  (void)records;
  return false;
#endif
}

int64_t timeline_dump(const char* path) {
  if (!buffer || cudaDeviceSynchronize() != cudaSuccess) return -1;
  unsigned long long header[2];
  if (cudaMemcpy(header, buffer, sizeof header, cudaMemcpyDeviceToHost) != cudaSuccess) return -1;
  const auto n = static_cast<int64_t>(header[0] < header[1] ? header[0] : header[1]);
  std::vector<unsigned long long> records(static_cast<size_t>(4 * n));
  if (n > 0 && cudaMemcpy(records.data(), buffer + 4, records.size() * sizeof(records[0]), cudaMemcpyDeviceToHost) !=
                   cudaSuccess)
    return -1;
  std::FILE* f = std::fopen(path, "wb");
  if (!f) return -1;
  const bool ok = std::fwrite(records.data(), sizeof(records[0]), records.size(), f) == records.size();
  return std::fclose(f) == 0 && ok ? n : -1;
}

}  // namespace vlm::cuda
