// libFuzzer target: the safetensors header parser on arbitrary bytes. Any input must either parse into a header
// whose tensors tile the buffer, or raise vlm::Error; crashes, hangs, leaks and sanitizer reports are findings.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto h = vlm::safetensors::parse(data, size, "fuzz");
    uint64_t pos = 0;
    for (const auto& t : h.tensors) {
      if (t.begin != pos || t.end < t.begin) __builtin_trap();
      pos = t.end;
    }
    if (h.data_offset + pos != size) __builtin_trap();
  } catch (const vlm::Error&) {
  }
  return 0;
}
