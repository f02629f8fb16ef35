// libFuzzer target: the image decoders (JPEG, PNG, WebP, GIF, BMP, chosen by magic bytes) on arbitrary bytes,
// then the EXIF transpose and RGB conversion that load_image applies. Any input must decode to a consistent
// image or raise vlm::Error; crashes, hangs, leaks and sanitizer reports are findings. Limits are kept small so
// that a declared size never turns into a slow, huge allocation.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "image/decode.h"
#include "image/exif.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vlm::image::DecodeLimits limits;
  limits.max_width = 4096;
  limits.max_height = 4096;
  limits.max_pixels = 1 << 22;
  limits.max_jpeg_scans = 64;
  try {
    const vlm::image::Image im = vlm::image::decode_image(data, size, "<fuzz>", limits);
    if (im.width < 1 || im.height < 1 || im.pixels.size() != im.pixel_count() * vlm::image::bytes_per_pixel(im.mode))
      __builtin_trap();
    const vlm::image::Image rgb = vlm::image::to_rgb(vlm::image::apply_exif_orientation(im));
    if (rgb.pixels.size() != rgb.pixel_count() * 3) __builtin_trap();
  } catch (const vlm::Error&) {
  }
  return 0;
}
