// Internal: one function per format, called by decode_image() once the format is known. Each checks the
// declared size with check_dimensions() before allocating pixels and throws vlm::Error naming `origin`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "image/decode.h"
#include "image/image.h"

namespace vlm::image::detail {

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits);
Image decode_png(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits);
Image decode_webp(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits);
Image decode_gif(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits);
Image decode_bmp(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits);

// Throws unless 1 <= width <= max_width, 1 <= height <= max_height and width * height <= max_pixels.
void check_dimensions(int64_t width, int64_t height, const std::string& origin, const char* format,
                      const DecodeLimits& limits);

// Throws "<origin>: <what> (<format>)" as a user error.
[[noreturn]] void fail_decode(const std::string& origin, const char* format, const std::string& what);

}  // namespace vlm::image::detail
