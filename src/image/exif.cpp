// EXIF orientation. The EXIF block is a small TIFF file: "II*\0" or "MM\0*", the offset of IFD0, then IFD0's
// entries (tag u16, type u16, count u32, value-or-offset 4 bytes). Only IFD0's Orientation is needed, and every
// read is bounds-checked: a hostile block can only yield "no orientation".
#include "image/exif.h"

#include <cstring>

namespace vlm::image {
namespace {

constexpr uint16_t kOrientationTag = 0x0112;

struct TiffReader {
  const uint8_t* data;
  size_t size;
  bool little;

  bool u16(size_t at, uint32_t* v) const {
    if (at > size || size - at < 2) return false;
    *v = little ? (data[at] | data[at + 1] << 8) : (data[at] << 8 | data[at + 1]);
    return true;
  }
  bool u32(size_t at, uint32_t* v) const {
    if (at > size || size - at < 4) return false;
    const uint32_t b0 = data[at], b1 = data[at + 1], b2 = data[at + 2], b3 = data[at + 3];
    *v = little ? (b0 | b1 << 8 | b2 << 16 | b3 << 24) : (b0 << 24 | b1 << 16 | b2 << 8 | b3);
    return true;
  }
};

// Value of a one-element integer entry whose 4-byte value field starts at `at`; false for other types.
bool entry_integer(const TiffReader& r, uint32_t type, size_t at, int* out) {
  uint32_t v = 0;
  switch (type) {
    case 1:  // BYTE
      *out = r.data[at];
      return true;
    case 6:  // SBYTE
      *out = static_cast<int8_t>(r.data[at]);
      return true;
    case 3:  // SHORT
      if (!r.u16(at, &v)) return false;
      *out = static_cast<int>(v);
      return true;
    case 8:  // SSHORT
      if (!r.u16(at, &v)) return false;
      *out = static_cast<int16_t>(v);
      return true;
    case 4:  // LONG
    case 9:  // SLONG
      if (!r.u32(at, &v)) return false;
      *out = static_cast<int>(v > 0x7fffffffu ? 0 : v);
      return true;
  }
  return false;
}

bool known_tiff_type(uint32_t type) { return (type >= 1 && type <= 13) || type == 16 || type == 17 || type == 18; }

}  // namespace

int exif_orientation(const uint8_t* data, size_t size) {
  while (size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0) {
    data += 6;
    size -= 6;
  }
  if (size < 8) return -1;
  TiffReader r{data, size, false};
  if (std::memcmp(data, "II", 2) == 0) {
    r.little = true;
  } else if (std::memcmp(data, "MM", 2) != 0) {
    return -1;
  }
  uint32_t ifd = 0, count = 0;
  if (!r.u32(4, &ifd) || !r.u16(ifd, &count)) return -1;
  int result = -1;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = static_cast<size_t>(ifd) + 2 + static_cast<size_t>(i) * 12;
    uint32_t tag = 0, type = 0, n = 0;
    if (!r.u16(at, &tag) || !r.u16(at + 2, &type) || !r.u32(at + 4, &n) || at + 12 > size) break;  // truncated
    if (tag != kOrientationTag || !known_tiff_type(type)) continue;
    int value = 0;
    // The last entry wins. Negative values (signed types) transpose nothing, like any value outside 2..8; they
    // map to 0 so that -1 keeps meaning "no tag".
    result = (n == 1 && entry_integer(r, type, at + 8, &value) && value > 0) ? value : 0;
  }
  return result;
}

int xmp_orientation(std::string_view xmp) {
  static constexpr std::string_view kKey = "tiff:Orientation";
  for (size_t pos = xmp.find(kKey); pos != std::string_view::npos; pos = xmp.find(kKey, pos + 1)) {
    size_t at = pos + kKey.size();
    if (at + 1 < xmp.size() && xmp[at] == '=' && xmp[at + 1] == '"') {
      at += 2;
    } else if (at < xmp.size() && xmp[at] == '>') {
      at += 1;
    } else {
      continue;
    }
    if (at < xmp.size() && xmp[at] >= '0' && xmp[at] <= '9') return xmp[at] - '0';
  }
  return -1;
}

int resolve_orientation(int exif_value, int xmp_value) {
  if (exif_value >= 0) return exif_value;
  if (xmp_value >= 0) return xmp_value;
  return 1;
}

Image apply_orientation(const Image& image, int orientation) {
  if (orientation < 2 || orientation > 8) {
    Image same = image;
    same.orientation = 1;
    return same;
  }
  const int w = image.width, h = image.height;
  const bool swaps = orientation >= 5;  // 5..8 exchange width and height
  Image out = image;
  out.orientation = 1;
  out.width = swaps ? h : w;
  out.height = swaps ? w : h;
  const size_t bpp = static_cast<size_t>(bytes_per_pixel(image.mode));
  // For each output pixel (x, y), the source pixel (sx, sy).
  for (int y = 0; y < out.height; ++y) {
    uint8_t* dst = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                    // FLIP_LEFT_RIGHT
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;    // ROTATE_180
        case 4: sy = h - 1 - y; break;                    // FLIP_TOP_BOTTOM
        case 5: sx = y; sy = x; break;                    // TRANSPOSE
        case 6: sx = y; sy = h - 1 - x; break;            // ROTATE_270 (90 clockwise)
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;    // TRANSVERSE
        case 8: sx = w - 1 - y; sy = x; break;            // ROTATE_90 (90 counter-clockwise)
      }
      std::memcpy(dst + x * bpp, image.row(sy) + sx * bpp, bpp);
    }
  }
  return out;
}

Image apply_exif_orientation(const Image& image) { return apply_orientation(image, image.orientation); }

}  // namespace vlm::image
