// libFuzzer target: the EXIF orientation parser and the XMP orientation scan on arbitrary bytes. They never
// throw: any input yields -1, 0 or the tag's value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/exif.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int o = vlm::image::exif_orientation(data, size);
  if (o < -1) __builtin_trap();
  const int x = vlm::image::xmp_orientation(std::string_view(reinterpret_cast<const char*>(data), size));
  if (x < -1 || x > 9) __builtin_trap();
  return 0;
}
