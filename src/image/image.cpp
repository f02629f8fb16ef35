// Mode conversions with Pillow's exact integer formulas (libImaging/Convert.c, AlphaComposite.c).
#include "image/image.h"

#include <cstring>

#include "core/error.h"

namespace vlm::image {
namespace {

// Pillow's MULDIV255: a * b / 255 rounded, in integers.
inline uint8_t muldiv255(int a, int b) {
  const int t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

inline uint8_t clip8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

// Pillow's I16 -> 8 bit: values above 255 saturate (no scaling).
inline uint8_t i16_to_u8(uint16_t v) { return v > 255 ? 255 : static_cast<uint8_t>(v); }

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kL: return "L";
    case Mode::kLA: return "LA";
    case Mode::kRGB: return "RGB";
    case Mode::kRGBA: return "RGBA";
    case Mode::kP: return "P";
    case Mode::kI16: return "I;16";
    case Mode::kCMYK: return "CMYK";
  }
  return "?";
}

int bytes_per_pixel(Mode mode) {
  switch (mode) {
    case Mode::kL: case Mode::kP: return 1;
    case Mode::kLA: case Mode::kI16: return 2;
    case Mode::kRGB: return 3;
    case Mode::kRGBA: case Mode::kCMYK: return 4;
  }
  return 1;
}

Image make_image(int width, int height, Mode mode) {
  VLM_ASSERT(width >= 0 && height >= 0);
  Image out;
  out.width = width;
  out.height = height;
  out.mode = mode;
  out.pixels.assign(out.pixel_count() * bytes_per_pixel(mode), 0);
  return out;
}

static Image like(const Image& image, Mode mode) {
  Image out = make_image(image.width, image.height, mode);
  out.orientation = image.orientation;
  out.format = image.format;
  return out;
}

Image to_rgb(const Image& image) {
  if (image.mode == Mode::kRGB) return image;
  Image out = like(image, Mode::kRGB);
  const size_t n = image.pixel_count();
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  switch (image.mode) {
    case Mode::kL:
      for (size_t i = 0; i < n; ++i, o += 3) o[0] = o[1] = o[2] = in[i];
      break;
    case Mode::kLA:
      for (size_t i = 0; i < n; ++i, o += 3) o[0] = o[1] = o[2] = in[2 * i];
      break;
    case Mode::kRGBA:
      for (size_t i = 0; i < n; ++i, o += 3) std::memcpy(o, in + 4 * i, 3);
      break;
    case Mode::kP:
      for (size_t i = 0; i < n; ++i, o += 3) {
        VLM_ASSERT(in[i] < image.palette.size());
        std::memcpy(o, image.palette[in[i]].data(), 3);
      }
      break;
    case Mode::kI16:
      for (size_t i = 0; i < n; ++i, o += 3) o[0] = o[1] = o[2] = i16_to_u8(load_u16(in + 2 * i));
      break;
    case Mode::kCMYK:
      // cmyk2rgb: nk = 255 - K; channel = nk - C * nk / 255.
      for (size_t i = 0; i < n; ++i, o += 3) {
        const uint8_t* p = in + 4 * i;
        const int nk = 255 - p[3];
        for (int c = 0; c < 3; ++c) o[c] = clip8(nk - muldiv255(p[c], nk));
      }
      break;
    case Mode::kRGB:
      break;
  }
  return out;
}

Image to_rgba(const Image& image) {
  if (image.mode == Mode::kRGBA) return image;
  Image out = like(image, Mode::kRGBA);
  const size_t n = image.pixel_count();
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  const auto& key = image.transparent_color;
  switch (image.mode) {
    case Mode::kL:
      for (size_t i = 0; i < n; ++i, o += 4) {
        o[0] = o[1] = o[2] = in[i];
        o[3] = (key && in[i] == (*key)[0]) ? 0 : 255;
      }
      break;
    case Mode::kLA:
      for (size_t i = 0; i < n; ++i, o += 4) {
        o[0] = o[1] = o[2] = in[2 * i];
        o[3] = in[2 * i + 1];
      }
      break;
    case Mode::kRGB:
      for (size_t i = 0; i < n; ++i, o += 4) {
        const uint8_t* p = in + 3 * i;
        std::memcpy(o, p, 3);
        o[3] = (key && p[0] == (*key)[0] && p[1] == (*key)[1] && p[2] == (*key)[2]) ? 0 : 255;
      }
      break;
    case Mode::kP:
      for (size_t i = 0; i < n; ++i, o += 4) {
        VLM_ASSERT(in[i] < image.palette.size());
        std::memcpy(o, image.palette[in[i]].data(), 4);
      }
      break;
    case Mode::kI16:
      for (size_t i = 0; i < n; ++i, o += 4) {
        const uint16_t v = load_u16(in + 2 * i);
        o[0] = o[1] = o[2] = i16_to_u8(v);
        o[3] = (key && v == (*key)[0]) ? 0 : 255;
      }
      break;
    case Mode::kCMYK: {
      const Image rgb = to_rgb(image);
      for (size_t i = 0; i < n; ++i, o += 4) {
        std::memcpy(o, rgb.pixels.data() + 3 * i, 3);
        o[3] = 255;
      }
      break;
    }
    case Mode::kRGBA:
      break;
  }
  return out;
}

Image to_rgb_over_white(const Image& image) {
  const Image rgba = to_rgba(image);
  Image out = like(image, Mode::kRGB);
  const size_t n = image.pixel_count();
  constexpr int kBits = 7;  // AlphaComposite.c PRECISION_BITS
  auto shift_div255 = [](uint32_t a) { return ((a >> 8) + a) >> 8; };
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* s = rgba.pixels.data() + 4 * i;
    uint8_t* o = out.pixels.data() + 3 * i;
    const uint32_t a = s[3];
    if (a == 0) {
      o[0] = o[1] = o[2] = 255;
      continue;
    }
    // Destination is opaque white: blend = 255 * (255 - a).
    const uint32_t outa255 = a * 255 + 255 * (255 - a);
    const uint32_t coef1 = a * 255 * 255 * (1u << kBits) / outa255;
    const uint32_t coef2 = 255 * (1u << kBits) - coef1;
    for (int c = 0; c < 3; ++c) {
      const uint32_t t = s[c] * coef1 + 255 * coef2;
      o[c] = static_cast<uint8_t>(shift_div255(t + (0x80u << kBits)) >> kBits);
    }
  }
  return out;
}

Image crop(const Image& image, int left, int top, int width, int height) {
  VLM_ASSERT(left >= 0 && top >= 0 && width >= 0 && height >= 0 && left + width <= image.width &&
             top + height <= image.height);
  Image out = like(image, image.mode);
  out.width = width;
  out.height = height;
  out.palette = image.palette;
  out.transparent_color = image.transparent_color;
  const int bpp = bytes_per_pixel(image.mode);
  out.pixels.assign(static_cast<size_t>(width) * height * bpp, 0);
  for (int y = 0; y < height; ++y)
    std::memcpy(out.row(y), image.row(top + y) + static_cast<size_t>(left) * bpp, static_cast<size_t>(width) * bpp);
  return out;
}

}  // namespace vlm::image
