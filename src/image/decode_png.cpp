// PNG through libpng, giving the modes Pillow's PngImagePlugin gives: gray 1/2/4/8 bit -> L (scaled to 0..255),
// gray 16 bit -> I16, RGB(A) 8/16 bit -> RGB(A) keeping the high byte of 16-bit samples, gray+alpha -> LA,
// palette -> P with tRNS alphas. No gamma or colour-profile correction (Pillow applies none).
//
// libpng reports fatal errors through a callback that must not return: ours records a category and longjmps
// back into a C-style phase function holding no C++ objects. The wrapper then throws a vlm::Error with our own
// wording (libpng's message text is only classified, never shown).
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <string>

#include <png.h>

#include "core/error.h"
#include "image/decoders.h"
#include "image/exif.h"

namespace vlm::image::detail {
namespace {

enum Failure { kOk = 0, kCorrupt, kTruncated, kBadCrc, kBadHeader, kNoMemory };

struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::jmp_buf jump;
  int failure = kOk;
  const unsigned char* data = nullptr;
  size_t size = 0, pos = 0;
  unsigned char* pixels = nullptr;  // malloc'ed in png_phase_decode, owned by the wrapper
  png_bytep* rows = nullptr;
};

bool contains(const char* text, const char* what) { return text && std::strstr(text, what) != nullptr; }

void on_error(png_structp png, png_const_charp message) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  if (st->failure == kOk) {
    if (contains(message, "CRC")) st->failure = kBadCrc;
    else if (contains(message, "truncated") || contains(message, "Not enough image data") ||
             contains(message, "Read Error"))
      st->failure = kTruncated;
    else if (contains(message, "IHDR") || contains(message, "width") || contains(message, "height"))
      st->failure = kBadHeader;
    else if (contains(message, "memory")) st->failure = kNoMemory;
    else st->failure = kCorrupt;
  }
  std::longjmp(st->jump, 1);
}

void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep out, png_size_t n) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > st->size - st->pos) png_error(png, "truncated");
  std::memcpy(out, st->data + st->pos, n);
  st->pos += n;
}

int png_phase_header(PngState* st, png_uint_32 max_width, png_uint_32 max_height) {
  if (setjmp(st->jump)) return st->failure;
  st->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, on_error, on_warning);
  if (!st->png) return kNoMemory;
  st->info = png_create_info_struct(st->png);
  if (!st->info) return kNoMemory;
  png_set_read_fn(st->png, st, on_read);
  png_set_user_limits(st->png, max_width, max_height);
  png_set_chunk_malloc_max(st->png, 16u << 20);  // bounds decompressed ancillary chunks (zTXt, iCCP bombs)
  png_set_crc_action(st->png, PNG_CRC_DEFAULT, PNG_CRC_DEFAULT);
  png_read_info(st->png, st->info);
  return kOk;
}

// Selects the sample transforms and lets libpng validate them. Returns a Failure.
int png_phase_transforms(PngState* st, bool strip_16, bool expand_gray, bool unpack_indices) {
  if (setjmp(st->jump)) return st->failure;
  if (strip_16) png_set_strip_16(st->png);
  if (expand_gray) png_set_expand_gray_1_2_4_to_8(st->png);
  if (unpack_indices) png_set_packing(st->png);
  png_set_interlace_handling(st->png);
  png_read_update_info(st->png, st->info);
  return kOk;
}

// Reads every row into st->pixels (`row_bytes` per row). Returns a Failure.
int png_phase_decode(PngState* st, size_t row_bytes, png_uint_32 height) {
  if (setjmp(st->jump)) return st->failure;
  st->pixels = static_cast<unsigned char*>(std::malloc(row_bytes * height));
  st->rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * height));
  if (!st->pixels || !st->rows) return kNoMemory;
  for (png_uint_32 y = 0; y < height; ++y) st->rows[y] = st->pixels + row_bytes * y;
  png_read_image(st->png, st->rows);
  return kOk;
}

// Chunks after the image data (eXIf may come there). Pillow ignores problems past the pixels; so do we.
int png_phase_end(PngState* st) {
  if (setjmp(st->jump)) return st->failure;
  png_read_end(st->png, st->info);
  return kOk;
}

struct StateGuard {
  PngState* st;
  ~StateGuard() {
    if (st->png) png_destroy_read_struct(&st->png, st->info ? &st->info : nullptr, nullptr);
    std::free(st->pixels);
    std::free(st->rows);
  }
};

[[noreturn]] void fail_png(const std::string& origin, int failure) {
  switch (failure) {
    case kTruncated: fail_decode(origin, "PNG", "truncated image data");
    case kBadCrc: fail_decode(origin, "PNG", "checksum (CRC) mismatch in a chunk");
    case kBadHeader: fail_decode(origin, "PNG", "invalid or oversized image header (IHDR)");
    case kNoMemory: fail_decode(origin, "PNG", "out of memory while decoding");
    default: fail_decode(origin, "PNG", "corrupt PNG data");
  }
}

// "Raw profile type exif" text: "\nexif\n    <length>\n<hex lines>"; Pillow joins the lines from the fourth on.
std::string raw_profile_bytes(const char* text, size_t length) {
  const std::string s(text, length);
  size_t at = 0;
  for (int i = 0; i < 3 && at != std::string::npos; ++i) {
    at = s.find('\n', at);
    if (at != std::string::npos) ++at;
  }
  std::string out;
  if (at == std::string::npos) return out;
  int hi = -1;
  for (size_t i = at; i < s.size(); ++i) {
    const char c = s[i];
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (c == '\n') continue;
    if (v < 0) return {};  // Pillow's bytes.fromhex would fail: treat as no EXIF
    if (hi < 0) hi = v;
    else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

int png_orientation(png_structp png, png_infop info) {
  int from_exif = -1, from_xmp = -1;
  png_uint_32 exif_size = 0;
  png_bytep exif = nullptr;
  if (png_get_eXIf_1(png, info, &exif_size, &exif) && exif) from_exif = exif_orientation(exif, exif_size);
  png_textp text = nullptr;
  int num_text = 0;
  png_get_text(png, info, &text, &num_text);
  for (int i = 0; i < num_text; ++i) {
    const size_t length = text[i].compression == PNG_ITXT_COMPRESSION_NONE ||
                                  text[i].compression == PNG_ITXT_COMPRESSION_zTXt
                              ? text[i].itxt_length
                              : text[i].text_length;
    if (!text[i].key || !text[i].text) continue;
    if (from_exif < 0 && !exif && std::strcmp(text[i].key, "Raw profile type exif") == 0) {
      const std::string bytes = raw_profile_bytes(text[i].text, length);
      if (!bytes.empty()) from_exif = exif_orientation(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } else if (std::strcmp(text[i].key, "XML:com.adobe.xmp") == 0) {
      from_xmp = xmp_orientation(std::string_view(text[i].text, length));
    }
  }
  return resolve_orientation(from_exif, from_xmp);
}

}  // namespace

Image decode_png(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  // The declared size, read before libpng sees the file, so that an oversized one gets our limit message.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    auto be32 = [&](size_t at) {
      return static_cast<int64_t>(uint32_t{data[at]} << 24 | uint32_t{data[at + 1]} << 16 | uint32_t{data[at + 2]} << 8 | data[at + 3]);
    };
    check_dimensions(be32(16), be32(20), origin, "PNG", limits);
  }
  PngState st;
  StateGuard guard{&st};
  st.data = data;
  st.size = size;
  const auto clamp_limit = [](int64_t v) { return static_cast<png_uint_32>(v < 1 ? 1 : (v > 0x7fffffff ? 0x7fffffff : v)); };
  if (int f = png_phase_header(&st, clamp_limit(limits.max_width), clamp_limit(limits.max_height))) fail_png(origin, f);
  png_structp png = st.png;
  png_infop info = st.info;
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  check_dimensions(width, height, origin, "PNG", limits);
  const int depth = png_get_bit_depth(png, info);
  const int color = png_get_color_type(png, info);

  Image out;
  out.format = "PNG";
  switch (color) {
    case PNG_COLOR_TYPE_GRAY: out.mode = depth == 16 ? Mode::kI16 : Mode::kL; break;
    case PNG_COLOR_TYPE_RGB: out.mode = Mode::kRGB; break;
    case PNG_COLOR_TYPE_PALETTE: out.mode = Mode::kP; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: out.mode = Mode::kLA; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: out.mode = Mode::kRGBA; break;
    default: fail_decode(origin, "PNG", "unsupported color type");
  }

  // Transparency, before the transforms change anything. Pillow keeps the raw tRNS sample values, except for
  // 1-bit gray (mode "1") where the key becomes 0 or 255.
  png_bytep trans_alpha = nullptr;
  int num_trans = 0;
  png_color_16p trans_color = nullptr;
  const bool has_trns = png_get_tRNS(png, info, &trans_alpha, &num_trans, &trans_color) != 0;
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_colorp plte = nullptr;
    int num_plte = 0;
    if (!png_get_PLTE(png, info, &plte, &num_plte) || num_plte <= 0) fail_decode(origin, "PNG", "palette image without a palette");
    out.palette.resize(static_cast<size_t>(num_plte));
    for (int i = 0; i < num_plte; ++i) {
      const uint8_t a = (has_trns && trans_alpha && i < num_trans) ? trans_alpha[i] : 255;
      out.palette[i] = {plte[i].red, plte[i].green, plte[i].blue, a};
    }
  } else if (has_trns && trans_color) {
    if (color == PNG_COLOR_TYPE_GRAY) {
      const uint16_t g = trans_color->gray;
      out.transparent_color = std::array<uint16_t, 3>{static_cast<uint16_t>(depth == 1 ? (g ? 255 : 0) : g), 0, 0};
    } else if (color == PNG_COLOR_TYPE_RGB) {
      out.transparent_color = std::array<uint16_t, 3>{trans_color->red, trans_color->green, trans_color->blue};
    }
  }

  const bool strip_16 = depth == 16 && out.mode != Mode::kI16;  // keep the high byte, like "RGB;16B"
  const bool expand_gray = color == PNG_COLOR_TYPE_GRAY && depth < 8;
  const bool unpack_indices = color == PNG_COLOR_TYPE_PALETTE && depth < 8;
  if (int f = png_phase_transforms(&st, strip_16, expand_gray, unpack_indices)) fail_png(origin, f);

  const size_t bpp = static_cast<size_t>(bytes_per_pixel(out.mode));
  const size_t row_bytes = png_get_rowbytes(png, info);
  if (row_bytes != bpp * width) fail_decode(origin, "PNG", "decoder produced an unexpected layout");
  if (int f = png_phase_decode(&st, row_bytes, height)) fail_png(origin, f);
  png_phase_end(&st);  // failures past the pixels are ignored, as Pillow ignores them

  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.pixels.assign(st.pixels, st.pixels + row_bytes * height);
  if (out.mode == Mode::kI16) {
    // PNG samples are big-endian; Image stores native uint16.
    for (size_t i = 0; i < out.pixels.size(); i += 2) {
      const uint16_t v = static_cast<uint16_t>(out.pixels[i] << 8 | out.pixels[i + 1]);
      std::memcpy(&out.pixels[i], &v, 2);
    }
  }
  if (out.mode == Mode::kP) {
    const size_t n = out.palette.size();
    for (uint8_t index : out.pixels)
      if (index >= n)
        fail_decode(origin, "PNG", str("palette index ", int(index), " is out of range for a palette of ", n, " colors"));
  }
  out.orientation = png_orientation(png, info);
  return out;
}

}  // namespace vlm::image::detail
