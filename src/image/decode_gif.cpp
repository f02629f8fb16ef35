// The first frame of a GIF through giflib, placed on the canvas as Pillow's GifImagePlugin places it: the canvas
// is the logical screen, enlarged to hold the frame; outside the frame it holds index 0, or the transparent index
// when the frame has one; mode P with the frame's (else the global) colour table, or L when there is no table or
// the table is the identity gray ramp. Only the records up to the first image are read; later frames never are.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include <gif_lib.h>

#include "core/error.h"
#include "image/decoders.h"

namespace vlm::image::detail {
namespace {

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

int read_bytes(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t want = n < 0 ? 0 : static_cast<size_t>(n);
  const size_t got = want < r->size - r->pos ? want : r->size - r->pos;
  std::memcpy(out, r->data + r->pos, got);
  r->pos += got;
  return static_cast<int>(got);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

bool is_gray_ramp(const ColorMapObject* map) {
  for (int i = 0; i < map->ColorCount; ++i) {
    const GifColorType& c = map->Colors[i];
    if (c.Red != i || c.Green != i || c.Blue != i) return false;
  }
  return true;
}

}  // namespace

Image decode_gif(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  Reader reader{data, size, 0};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_bytes, &error));
  if (!gif) fail_decode(origin, "GIF", "corrupt or truncated GIF header");
  check_dimensions(gif->SWidth, gif->SHeight, origin, "GIF", limits);

  int transparent = -1;  // from the Graphic Control Extension before the first image
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) fail_decode(origin, "GIF", "corrupt or truncated GIF data");
    if (type == TERMINATE_RECORD_TYPE) fail_decode(origin, "GIF", "GIF contains no image");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif.get(), &code, &ext) == GIF_ERROR) fail_decode(origin, "GIF", "corrupt GIF extension");
      if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) transparent = (ext[1] & 1) ? ext[4] : -1;
      while (ext) {
        if (DGifGetExtensionNext(gif.get(), &ext) == GIF_ERROR) fail_decode(origin, "GIF", "corrupt GIF extension");
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) fail_decode(origin, "GIF", "corrupt GIF image descriptor");
    break;
  }

  const GifImageDesc& desc = gif->Image;
  if (desc.Width <= 0 || desc.Height <= 0) fail_decode(origin, "GIF", "first frame has zero size");
  const int64_t canvas_w = std::max<int64_t>(gif->SWidth, int64_t{desc.Left} + desc.Width);
  const int64_t canvas_h = std::max<int64_t>(gif->SHeight, int64_t{desc.Top} + desc.Height);
  check_dimensions(canvas_w, canvas_h, origin, "GIF", limits);

  const ColorMapObject* map = desc.ColorMap ? desc.ColorMap : gif->SColorMap;
  const bool paletted = map && map->ColorCount > 0 && !is_gray_ramp(map);
  Image out = make_image(static_cast<int>(canvas_w), static_cast<int>(canvas_h), paletted ? Mode::kP : Mode::kL);
  out.format = "GIF";
  if (transparent >= 0) std::memset(out.pixels.data(), transparent, out.pixels.size());
  if (paletted) {
    out.palette.resize(static_cast<size_t>(map->ColorCount));
    for (int i = 0; i < map->ColorCount; ++i) {
      const GifColorType& c = map->Colors[i];
      out.palette[i] = {c.Red, c.Green, c.Blue, static_cast<uint8_t>(i == transparent ? 0 : 255)};
    }
  }

  // Rows in file order; interlaced frames store rows 0,8,16.. then 4,12.. then 2,6,.. then 1,3,..
  static const int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
  const int passes = desc.Interlace ? 4 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    const int start = desc.Interlace ? kStart[pass] : 0, step = desc.Interlace ? kStep[pass] : 1;
    for (int y = start; y < desc.Height; y += step) {
      uint8_t* dst = out.row(desc.Top + y) + desc.Left;
      if (DGifGetLine(gif.get(), dst, desc.Width) == GIF_ERROR)
        fail_decode(origin, "GIF", "corrupt or truncated image data");
    }
  }
  if (paletted) {
    const size_t n = out.palette.size();
    for (uint8_t index : out.pixels)
      if (index >= n)
        fail_decode(origin, "GIF", str("palette index ", int(index), " is out of range for a palette of ", n, " colors"));
  }
  return out;
}

}  // namespace vlm::image::detail
