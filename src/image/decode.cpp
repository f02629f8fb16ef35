// Format detection and the public entry points; the decoders themselves live in decode_<format>.cpp.
#include "image/decode.h"

#include <cstring>

#include "core/error.h"
#include "core/file.h"
#include "image/decoders.h"
#include "image/exif.h"

namespace vlm::image {

namespace detail {

void fail_decode(const std::string& origin, const char* format, const std::string& what) {
  throw Error(str(origin, ": ", what, " (", format, ")"));
}

void check_dimensions(int64_t width, int64_t height, const std::string& origin, const char* format,
                      const DecodeLimits& limits) {
  if (width <= 0 || height <= 0)
    fail_decode(origin, format, str("image has zero or negative size ", width, "x", height));
  if (width > limits.max_width || height > limits.max_height)
    fail_decode(origin, format,
                str("image size ", width, "x", height, " exceeds the limit of ", limits.max_width, "x",
                    limits.max_height));
  // Both sides are below 2^31 here, so the product fits in int64.
  if (width * height > limits.max_pixels)
    fail_decode(origin, format,
                str("image of ", width, "x", height, " = ", width * height, " pixels exceeds the limit of ",
                    limits.max_pixels, " pixels (possible decompression bomb)"));
}

}  // namespace detail

const char* format_name(Format format) {
  switch (format) {
    case Format::kJpeg: return "JPEG";
    case Format::kPng: return "PNG";
    case Format::kWebp: return "WEBP";
    case Format::kGif: return "GIF";
    case Format::kBmp: return "BMP";
    case Format::kUnknown: break;
  }
  return "unknown";
}

Format detect_format(const uint8_t* data, size_t size) {
  auto starts = [&](const char* magic, size_t n) { return size >= n && std::memcmp(data, magic, n) == 0; };
  if (starts("\xFF\xD8\xFF", 3)) return Format::kJpeg;
  if (starts("\x89PNG\r\n\x1A\n", 8)) return Format::kPng;
  if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0) return Format::kWebp;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return Format::kGif;
  if (starts("BM", 2)) return Format::kBmp;
  return Format::kUnknown;
}

Image decode_image(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  if (size > limits.max_bytes)
    throw Error(str(origin, ": encoded image of ", size, " bytes exceeds the limit of ", limits.max_bytes, " bytes"));
  if (size == 0) throw Error(str(origin, ": empty image data"));
  switch (detect_format(data, size)) {
    case Format::kJpeg: return detail::decode_jpeg(data, size, origin, limits);
    case Format::kPng: return detail::decode_png(data, size, origin, limits);
    case Format::kWebp: return detail::decode_webp(data, size, origin, limits);
    case Format::kGif: return detail::decode_gif(data, size, origin, limits);
    case Format::kBmp: return detail::decode_bmp(data, size, origin, limits);
    case Format::kUnknown: break;
  }
  throw Error(str(origin, ": unsupported image format (expected JPEG, PNG, WebP, GIF or BMP)"));
}

Image decode_image(std::string_view bytes, const std::string& origin, const DecodeLimits& limits) {
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), origin, limits);
}

Image decode_image_file(const std::string& path, const DecodeLimits& limits) {
  const std::string bytes = read_file(path, limits.max_bytes);
  return decode_image(bytes, path, limits);
}

Image load_image_bytes(std::string_view bytes, const std::string& origin, const DecodeLimits& limits) {
  return to_rgb(apply_exif_orientation(decode_image(bytes, origin, limits)));
}

Image load_image_file(const std::string& path, const DecodeLimits& limits) {
  return to_rgb(apply_exif_orientation(decode_image_file(path, limits)));
}

Image load_image_data_url(std::string_view url, const DecodeLimits& limits) {
  const std::string bytes = decode_data_url(url, limits.max_bytes);
  return load_image_bytes(bytes, "<data URL>", limits);
}

}  // namespace vlm::image
