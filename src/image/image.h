// A decoded image kept in the Pillow mode it was stored in, so that converting it to RGB gives exactly the bytes
// Pillow's Image.convert("RGB") gives (transformers calls it on every image it loads).
//
// Pixels are interleaved, row-major, top row first, no row padding:
//   L     1 byte  (gray)                       LA    2 bytes (gray, alpha)
//   RGB   3 bytes                              RGBA  4 bytes (straight, not premultiplied, alpha)
//   P     1 byte  (index into `palette`)       I16   2 bytes (one native-endian uint16 gray value)
//   CMYK  4 bytes (ink amounts, 0 = no ink: Adobe-inverted JPEG data is already un-inverted)
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vlm::image {

enum class Mode { kL, kLA, kRGB, kRGBA, kP, kI16, kCMYK };

// "L", "LA", "RGB", "RGBA", "P", "I;16", "CMYK": Pillow's names, for messages and fixtures.
const char* mode_name(Mode mode);
// Bytes per pixel in Image::pixels.
int bytes_per_pixel(Mode mode);

struct Image {
  int width = 0;
  int height = 0;
  Mode mode = Mode::kRGB;
  std::vector<uint8_t> pixels;  // width * height * bytes_per_pixel(mode)

  // Mode P only: RGBA entries (alpha from a PNG tRNS chunk, else 255). Every index in `pixels` is below
  // palette.size(): decoders reject images that use an index their palette does not have.
  std::vector<std::array<uint8_t, 4>> palette;
  // Modes L, RGB and I16: the PNG tRNS colour key (a pixel of this value is transparent), in the pixel's own
  // units (0..255, or 0..65535 for I16). Ignored by to_rgb(), as Pillow ignores it; used by to_rgba().
  std::optional<std::array<uint16_t, 3>> transparent_color;

  // EXIF orientation (1..8) found in the file (EXIF or XMP), 1 when none. apply_exif_orientation() uses it.
  int orientation = 1;
  std::string format;  // "JPEG", "PNG", "WEBP", "GIF", "BMP": the decoder that made this image

  size_t pixel_count() const { return static_cast<size_t>(width) * static_cast<size_t>(height); }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * bytes_per_pixel(mode); }
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * bytes_per_pixel(mode); }
};

// A zero-filled image of the given size and mode (no palette).
Image make_image(int width, int height, Mode mode);

// Pillow's convert("RGB"): L/P replicate or look up, LA/RGBA drop alpha (no compositing), I16 clips at 255,
// CMYK uses Pillow's cmyk2rgb. Transparency keys are ignored. An RGB image is returned unchanged.
Image to_rgb(const Image& image);

// Pillow's convert("RGBA"): palette alphas and tRNS colour keys become alpha; other modes get alpha 255.
Image to_rgba(const Image& image);

// RGB with alpha composited over white, as Pillow's Image.alpha_composite(white, image.convert("RGBA"))
// followed by convert("RGB") (the transformers 4.x Idefics3 / SmolVLM convert_to_rgb).
Image to_rgb_over_white(const Image& image);

// Rows [top, top+height) and columns [left, left+width), which must lie inside the image.
Image crop(const Image& image, int left, int top, int width, int height);

}  // namespace vlm::image
