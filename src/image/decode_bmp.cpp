// A small, careful BMP reader (no Debian library serves BMP), matching Pillow's BmpImagePlugin: header sizes 12,
// 40, 52, 56, 64, 108 and 124; uncompressed 1/4/8-bit palette images (L when the palette is the gray ramp),
// 16-bit 5-5-5, 24-bit BGR and 32-bit BGRX (alpha ignored, as Pillow ignores it), and BI_BITFIELDS with the mask
// layouts Pillow knows. RLE and embedded JPEG/PNG are refused. Every offset and size is checked against the
// buffer before it is read.
#include <array>
#include <cstring>
#include <string>

#include "core/error.h"
#include "image/decoders.h"

namespace vlm::image::detail {
namespace {

constexpr const char* kFmt = "BMP";

uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// Byte positions of R, G, B and A (-1: none) inside a 4-byte pixel, for each 32-bit mask layout Pillow accepts.
struct Layout32 {
  uint32_t r, g, b, a;
  int ri, gi, bi, ai;
};
constexpr Layout32 kLayouts32[] = {
    {0xFF0000, 0xFF00, 0xFF, 0x0, 2, 1, 0, -1},                 // BGRX
    {0xFF000000, 0xFF0000, 0xFF00, 0x0, 3, 2, 1, -1},           // XBGR
    {0xFF000000, 0xFF00, 0xFF, 0x0, 3, 1, 0, -1},               // BGXR
    {0xFF000000, 0xFF0000, 0xFF00, 0xFF, 3, 2, 1, 0},           // ABGR
    {0xFF, 0xFF00, 0xFF0000, 0xFF000000, 0, 1, 2, 3},           // RGBA
    {0xFF0000, 0xFF00, 0xFF, 0xFF000000, 2, 1, 0, 3},           // BGRA
    {0xFF000000, 0xFF00, 0xFF, 0xFF0000, 3, 1, 0, 2},           // BGAR
    {0x0, 0x0, 0x0, 0x0, 2, 1, 0, 3},                           // all-zero masks read as BGRA
};

enum class Pixels { kPalette, kRgb555, kRgb565, kBgr24, kBgrx32, kMasked32 };

}  // namespace

Image decode_bmp(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  if (size < 18) fail_decode(origin, kFmt, "truncated file header");
  uint32_t offset = le32(data + 10);
  const uint32_t header_size = le32(data + 14);
  if (header_size != 12 && header_size != 40 && header_size != 52 && header_size != 56 && header_size != 64 &&
      header_size != 108 && header_size != 124)
    fail_decode(origin, kFmt, str("unsupported BMP header size ", header_size));
  if (size - 14 < header_size) fail_decode(origin, kFmt, "truncated BMP header");
  const uint8_t* h = data + 18;  // header fields after the size word
  size_t pos = 14 + header_size;

  int64_t width = 0, height = 0;
  int bits = 0;
  uint32_t compression = 0, colors = 0;
  bool top_down = false;
  int palette_entry = 4;
  uint32_t masks[4] = {0, 0, 0, 0};
  if (header_size == 12) {
    width = le16(h);
    height = le16(h + 2);
    bits = le16(h + 6);
    palette_entry = 3;
  } else {
    width = le32(h);
    top_down = h[7] == 0xFF;  // Pillow's test for a negative height
    height = top_down ? (int64_t{1} << 32) - le32(h + 4) : int64_t{le32(h + 4)};
    bits = le16(h + 10);
    compression = le32(h + 12);
    colors = le32(h + 28);
    if (compression == 3) {  // BI_BITFIELDS
      if (header_size >= 52) {
        for (int i = 0; i < 3; ++i) masks[i] = le32(h + 36 + 4 * i);
        if (header_size >= 56) masks[3] = le32(h + 48);
      } else {
        if (size - pos < 12) fail_decode(origin, kFmt, "truncated BMP bitfield masks");
        for (int i = 0; i < 3; ++i) masks[i] = le32(data + pos + 4 * i);
        pos += 12;
      }
    }
  }
  check_dimensions(width, height, origin, kFmt, limits);
  if (colors == 0 && bits < 32) colors = 1u << bits;

  Pixels kind;
  const Layout32* layout = nullptr;
  if (compression == 0) {
    switch (bits) {
      case 1: case 4: case 8: kind = Pixels::kPalette; break;
      case 16: kind = Pixels::kRgb555; break;
      case 24: kind = Pixels::kBgr24; break;
      case 32: kind = Pixels::kBgrx32; break;
      default: fail_decode(origin, kFmt, str("unsupported BMP pixel depth ", bits));
    }
  } else if (compression == 3) {
    if (bits == 32) {
      for (const Layout32& l : kLayouts32)
        if (l.r == masks[0] && l.g == masks[1] && l.b == masks[2] && l.a == masks[3]) layout = &l;
      if (!layout) fail_decode(origin, kFmt, "unsupported BMP bitfields layout");
      kind = Pixels::kMasked32;
    } else if (bits == 24 && masks[0] == 0xFF0000 && masks[1] == 0xFF00 && masks[2] == 0xFF) {
      kind = Pixels::kBgr24;
    } else if (bits == 16 && masks[0] == 0xF800 && masks[1] == 0x7E0 && masks[2] == 0x1F) {
      kind = Pixels::kRgb565;
    } else if (bits == 16 && masks[0] == 0x7C00 && masks[1] == 0x3E0 && masks[2] == 0x1F) {
      kind = Pixels::kRgb555;
    } else {
      fail_decode(origin, kFmt, "unsupported BMP bitfields layout");
    }
  } else {
    fail_decode(origin, kFmt, str("unsupported BMP compression ", compression, " (RLE and embedded JPEG/PNG are not read)"));
  }

  Image out;
  out.format = kFmt;
  if (kind == Pixels::kPalette) {
    if (colors == 0 || colors > 65536) fail_decode(origin, kFmt, str("unsupported BMP palette size ", colors));
    if ((size - pos) / palette_entry < colors) fail_decode(origin, kFmt, "truncated BMP palette");
    const uint8_t* pal = data + pos;
    if (offset == 14 + header_size) offset += palette_entry * colors;  // offset pointed at the palette
    pos += static_cast<size_t>(palette_entry) * colors;
    const uint32_t used = colors < 256 ? colors : 256;
    bool gray = true;
    for (uint32_t i = 0; i < colors; ++i) {
      const uint32_t want = colors == 2 ? (i == 0 ? 0 : 255) : i;
      const uint8_t* e = pal + static_cast<size_t>(i) * palette_entry;
      if (e[0] != want || e[1] != want || e[2] != want) gray = false;
    }
    // Pillow reads a gray-ramp palette as mode "1" (2 colors) or "L"; pixel values are then the gray levels.
    out.mode = gray && (colors == 2 || bits == 8) ? Mode::kL : Mode::kP;
    if (out.mode == Mode::kP) {
      out.palette.resize(used);
      for (uint32_t i = 0; i < used; ++i) {
        const uint8_t* e = pal + static_cast<size_t>(i) * palette_entry;
        out.palette[i] = {e[2], e[1], e[0], 255};  // stored as B, G, R
      }
    }
  } else {
    out.mode = (kind == Pixels::kMasked32 && layout->ai >= 0) ? Mode::kRGBA : Mode::kRGB;
  }
  if (offset == 0) offset = static_cast<uint32_t>(pos);

  const size_t stride = ((static_cast<size_t>(width) * bits + 31) >> 3) & ~size_t{3};
  if (offset > size || (size - offset) / stride < static_cast<size_t>(height))
    fail_decode(origin, kFmt, "truncated image data");
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  const int bpp = bytes_per_pixel(out.mode);
  out.pixels.resize(out.pixel_count() * bpp);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = data + offset + stride * static_cast<size_t>(top_down ? y : out.height - 1 - y);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      uint8_t* o = dst + static_cast<size_t>(x) * bpp;
      switch (kind) {
        case Pixels::kPalette: {
          const int per_byte = 8 / bits;
          const int shift = 8 - bits * (x % per_byte + 1);
          uint8_t v = static_cast<uint8_t>((src[x / per_byte] >> shift) & ((1 << bits) - 1));
          if (out.mode == Mode::kL && colors == 2) v = v ? 255 : 0;
          if (out.mode == Mode::kP && v >= out.palette.size())
            fail_decode(origin, kFmt, str("palette index ", int(v), " is out of range for a palette of ", out.palette.size(), " colors"));
          o[0] = v;
          break;
        }
        case Pixels::kRgb555: case Pixels::kRgb565: {
          const int p = src[2 * x] | src[2 * x + 1] << 8;
          if (kind == Pixels::kRgb555) {
            o[0] = static_cast<uint8_t>(((p >> 10) & 31) * 255 / 31);
            o[1] = static_cast<uint8_t>(((p >> 5) & 31) * 255 / 31);
          } else {
            o[0] = static_cast<uint8_t>(((p >> 11) & 31) * 255 / 31);
            o[1] = static_cast<uint8_t>(((p >> 5) & 63) * 255 / 63);
          }
          o[2] = static_cast<uint8_t>((p & 31) * 255 / 31);
          break;
        }
        case Pixels::kBgr24:
          o[0] = src[3 * x + 2], o[1] = src[3 * x + 1], o[2] = src[3 * x];
          break;
        case Pixels::kBgrx32:
          o[0] = src[4 * x + 2], o[1] = src[4 * x + 1], o[2] = src[4 * x];
          break;
        case Pixels::kMasked32: {
          const uint8_t* p = src + 4 * x;
          o[0] = p[layout->ri], o[1] = p[layout->gi], o[2] = p[layout->bi];
          if (layout->ai >= 0) o[3] = p[layout->ai];
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace vlm::image::detail
