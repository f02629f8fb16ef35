// EXIF orientation: reading it from EXIF (TIFF-structured) bytes or from XMP text, and applying it the way
// transformers' load_image does (PIL.ImageOps.exif_transpose).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/image.h"

namespace vlm::image {

// The Orientation tag (0x0112) of IFD0 in EXIF data ("Exif\0\0" prefixes are skipped, as Pillow does):
//   -1 when the data is malformed or has no such tag (then Pillow looks at XMP),
//    0 when the tag is there but is not one positive integer (Pillow then transposes nothing),
//    else its value (only 2..8 transpose). Never throws: bad EXIF means "no orientation".
int exif_orientation(const uint8_t* data, size_t size);

// The first `tiff:Orientation="N"` or `<tiff:Orientation>N` digit in XMP text, or -1 when there is none.
int xmp_orientation(std::string_view xmp);

// Pillow's rule: the EXIF value when the tag is present, else the XMP value, else 1.
int resolve_orientation(int exif_value, int xmp_value);

// Pillow's transposes, selected by EXIF orientation: 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom,
// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise. Other values return the
// image unchanged. Works on every mode (pixels are moved, never changed); the result has orientation 1.
Image apply_orientation(const Image& image, int orientation);

// apply_orientation(image, image.orientation).
Image apply_exif_orientation(const Image& image);

}  // namespace vlm::image
