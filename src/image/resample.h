// Resizing identical to Pillow's Image.resize for 8-bit images (libImaging/Resample.c and Geometry.c), which is
// what transformers' PIL image processors call (reducing_gap=None, no box).
//
//   - same size: a copy, no filtering; mode P always uses NEAREST (as do Pillow's "1" and "P").
//   - NEAREST: source index int((i + 0.5) * in / out) per axis (Pillow's affine "scale" path).
//   - other filters: two separable passes with coefficients precomputed per output index, normalised to sum 1,
//     turned into 22-bit fixed point (round half away from zero), accumulated from 2^21, shifted by 22 and
//     clipped to 0..255. The horizontal pass runs first and keeps a uint8 intermediate holding only the rows the
//     vertical pass reads. Images more than 100 times taller than wide that shrink vertically are resized
//     vertically first (Pillow >= 12).
//   - LA and RGBA are premultiplied by alpha (Pillow's "La"/"RGBa" modes) before, and un-premultiplied after.
#pragma once

#include <cstdint>
#include <vector>

#include "image/image.h"

namespace vlm::image {

// Pillow's Resampling enum values, as they appear in preprocessor_config.json "resample".
enum class Filter { kNearest = 0, kLanczos = 1, kBilinear = 2, kBicubic = 3, kBox = 4, kHamming = 5 };

// "NEAREST", "LANCZOS", ... for messages and fixtures.
const char* filter_name(Filter filter);
// From the integer code; throws naming the value when it is not 0..5.
Filter filter_from_code(int64_t code);

// Pillow's Image.resize(size=(width, height), resample=filter). Modes L, LA, RGB, RGBA and P are supported; other
// modes are an error (convert them first). width and height must be >= 1.
Image resize(const Image& image, int width, int height, Filter filter);

// The raw separable 8-bit resampler on interleaved pixels with `channels` (1..4) channels and no
// premultiplication: Pillow's ImagingResample for one image. `vertical_first` selects Pillow 12's order for very
// tall images. Returns out_w * out_h * channels bytes.
std::vector<uint8_t> resample_u8(const uint8_t* pixels, int width, int height, int channels, int out_w, int out_h,
                                 Filter filter, bool vertical_first = false);

// transformers' resize of a float image already scaled to [0, 1] (image_transforms.resize with do_rescale):
// x * 255 in float64, cast to float32 then truncated to uint8, Pillow resize, then * (1/255) in float64 and cast
// to float32. `chw` holds channels planes of height x width floats; returns channels planes of out_h x out_w.
std::vector<float> resize_float01(const std::vector<float>& chw, int channels, int width, int height, int out_w,
                                  int out_h, Filter filter);

}  // namespace vlm::image
