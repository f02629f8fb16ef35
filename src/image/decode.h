// Decoding JPEG, PNG, WebP, GIF (first frame) and BMP from files, bytes or data URLs, with limits checked before
// any pixel memory is allocated. Every failure is a vlm::Error that starts with the origin (the path, or
// "<bytes>" / "<data URL>") and says what is wrong in our own words: library messages, pointers and addresses
// never reach the text. Truncated or corrupt data is an error, never a partial image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "image/image.h"

namespace vlm::image {

// Pillow's Image.MAX_IMAGE_PIXELS. Pillow refuses images above twice this (a decompression bomb).
constexpr int64_t kPillowMaxImagePixels = 89'478'485;

struct DecodeLimits {
  int64_t max_width = 65'535;
  int64_t max_height = 65'535;
  int64_t max_pixels = 2 * kPillowMaxImagePixels;  // width * height above this is an error
  size_t max_bytes = 256u << 20;                   // encoded size (a file or a decoded data URL)
  int max_jpeg_scans = 1000;                       // progressive JPEG scan bomb guard
};

enum class Format { kUnknown, kJpeg, kPng, kWebp, kGif, kBmp };
const char* format_name(Format format);
// Detected from the magic bytes (never from a file name).
Format detect_format(const uint8_t* data, size_t size);

// Decodes without changing the stored mode and without applying the EXIF orientation (it is recorded in
// Image::orientation). `origin` names the source in error messages.
Image decode_image(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits = {});
Image decode_image(std::string_view bytes, const std::string& origin, const DecodeLimits& limits = {});
Image decode_image_file(const std::string& path, const DecodeLimits& limits = {});

// Bytes of a "data:[<mime>][;base64],<payload>" URL (base64 or percent-encoded payload). Errors never echo the
// payload.
std::string decode_data_url(std::string_view url, size_t max_bytes);

// What transformers' load_image does: decode, apply the EXIF orientation (ImageOps.exif_transpose), then
// convert("RGB"). The result is always mode RGB.
Image load_image_file(const std::string& path, const DecodeLimits& limits = {});
Image load_image_bytes(std::string_view bytes, const std::string& origin, const DecodeLimits& limits = {});
// A data URL, or a bare base64 string as transformers also accepts.
Image load_image_data_url(std::string_view url, const DecodeLimits& limits = {});

}  // namespace vlm::image
