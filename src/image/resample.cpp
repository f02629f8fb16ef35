// Pillow's resampling, reproduced operation by operation (see resample.h for the rules). Coefficients are
// computed in double exactly as Resample.c computes them (including its float box edges and the float constants
// of the Hamming window) because a one-ulp difference in a weight can flip a rounded output byte.
#include "image/resample.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace vlm::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // 22

double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // float constants, as in Resample.c
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_filter(double x) {
  if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
  return 0.0;
}

struct FilterDef {
  double (*fn)(double);
  double support;
};

FilterDef filter_def(Filter f) {
  switch (f) {
    case Filter::kBox: return {box_filter, 0.5};
    case Filter::kBilinear: return {bilinear_filter, 1.0};
    case Filter::kHamming: return {hamming_filter, 1.0};
    case Filter::kBicubic: return {bicubic_filter, 2.0};
    case Filter::kLanczos: return {lanczos_filter, 3.0};
    case Filter::kNearest: break;
  }
  VLM_ASSERT(false);
  return {bilinear_filter, 1.0};
}

// Per output index: first source index, number of taps, and ksize fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // out_size * ksize
};

Coeffs precompute(int in_size, int out_size, const FilterDef& filter) {
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    int32_t* out = &c.weights[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = k[x] * (1 << kPrecisionBits);
      out[x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + v : 0.5 + v);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal pass over source rows [row0, row0 + rows): out is out_w x rows.
void pass_horizontal(const uint8_t* in, int in_w, int channels, int row0, int rows, const Coeffs& c, int out_w,
                     uint8_t* out) {
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = in + (static_cast<size_t>(row0) + y) * in_w * channels;
    uint8_t* dst = out + static_cast<size_t>(y) * out_w * channels;
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const uint8_t* s = src + static_cast<size_t>(c.first[xx]) * channels;
      for (int ch = 0; ch < channels; ++ch) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < c.count[xx]; ++x) acc += s[x * channels + ch] * k[x];
        dst[xx * channels + ch] = clip8(acc);
      }
    }
  }
}

// Vertical pass: out row yy reads input rows first[yy] - row_offset onwards.
void pass_vertical(const uint8_t* in, int width, int channels, int row_offset, const Coeffs& c, int out_h,
                   uint8_t* out) {
  const size_t row_bytes = static_cast<size_t>(width) * channels;
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    const uint8_t* src = in + static_cast<size_t>(c.first[yy] - row_offset) * row_bytes;
    uint8_t* dst = out + static_cast<size_t>(yy) * row_bytes;
    for (size_t i = 0; i < row_bytes; ++i) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < c.count[yy]; ++y) acc += src[static_cast<size_t>(y) * row_bytes + i] * k[y];
      dst[i] = clip8(acc);
    }
  }
}

// ImagingResampleInner with the default box: horizontal pass first over the rows the vertical pass needs.
std::vector<uint8_t> resample_inner(const uint8_t* in, int w, int h, int channels, int out_w, int out_h,
                                    const FilterDef& filter) {
  const bool need_h = out_w != w, need_v = out_h != h;
  const Coeffs vert = precompute(h, out_h, filter);
  std::vector<uint8_t> temp;
  const uint8_t* cur = in;
  int cur_w = w, row_offset = 0;
  if (need_h) {
    const int first = vert.first[0];
    const int last = vert.first[out_h - 1] + vert.count[out_h - 1];
    const Coeffs horiz = precompute(w, out_w, filter);
    temp.resize(static_cast<size_t>(out_w) * (last - first) * channels);
    pass_horizontal(in, w, channels, first, last - first, horiz, out_w, temp.data());
    cur = temp.data();
    cur_w = out_w;
    row_offset = first;
  }
  if (need_v) {
    std::vector<uint8_t> out(static_cast<size_t>(cur_w) * out_h * channels);
    pass_vertical(cur, cur_w, channels, row_offset, vert, out_h, out.data());
    return out;
  }
  if (need_h) return temp;  // out_h == h: temp holds all rows
  return std::vector<uint8_t>(in, in + static_cast<size_t>(w) * h * channels);
}

// Pillow's ImagingScaleAffine (NEAREST): positions accumulate in double from half a step.
std::vector<uint8_t> resample_nearest(const uint8_t* in, int w, int h, int bpp, int out_w, int out_h) {
  const double ax = static_cast<double>(static_cast<float>(w) - 0.0f) / out_w;
  const double ay = static_cast<double>(static_cast<float>(h) - 0.0f) / out_h;
  std::vector<int> xin(out_w, -1);
  double xo = ax * 0.5;
  for (int x = 0; x < out_w; ++x, xo += ax) {
    const int xi = xo < 0.0 ? -1 : static_cast<int>(xo);
    if (xi >= 0 && xi < w) xin[x] = xi;
  }
  std::vector<uint8_t> out(static_cast<size_t>(out_w) * out_h * bpp, 0);
  double yo = ay * 0.5;
  for (int y = 0; y < out_h; ++y, yo += ay) {
    const int yi = yo < 0.0 ? -1 : static_cast<int>(yo);
    if (yi < 0 || yi >= h) continue;
    const uint8_t* src = in + static_cast<size_t>(yi) * w * bpp;
    uint8_t* dst = out.data() + static_cast<size_t>(y) * out_w * bpp;
    for (int x = 0; x < out_w; ++x)
      if (xin[x] >= 0) std::memcpy(dst + static_cast<size_t>(x) * bpp, src + static_cast<size_t>(xin[x]) * bpp, bpp);
  }
  return out;
}

}  // namespace

const char* filter_name(Filter filter) {
  switch (filter) {
    case Filter::kNearest: return "NEAREST";
    case Filter::kLanczos: return "LANCZOS";
    case Filter::kBilinear: return "BILINEAR";
    case Filter::kBicubic: return "BICUBIC";
    case Filter::kBox: return "BOX";
    case Filter::kHamming: return "HAMMING";
  }
  return "?";
}

Filter filter_from_code(int64_t code) {
  if (code < 0 || code > 5)
    fail("resample filter ", code, " is not a Pillow filter (expected 0 NEAREST, 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX or 5 HAMMING)");
  return static_cast<Filter>(code);
}

std::vector<uint8_t> resample_u8(const uint8_t* pixels, int width, int height, int channels, int out_w, int out_h,
                                 Filter filter, bool vertical_first) {
  VLM_ASSERT(width >= 1 && height >= 1 && out_w >= 1 && out_h >= 1 && channels >= 1 && channels <= 4);
  if (filter == Filter::kNearest) return resample_nearest(pixels, width, height, channels, out_w, out_h);
  const FilterDef def = filter_def(filter);
  if (!vertical_first) return resample_inner(pixels, width, height, channels, out_w, out_h, def);
  const std::vector<uint8_t> tall = resample_inner(pixels, width, height, channels, width, out_h, def);
  return resample_inner(tall.data(), width, out_h, channels, out_w, out_h, def);
}

Image resize(const Image& image, int width, int height, Filter filter) {
  if (width < 1 || height < 1) fail("cannot resize an image to ", width, "x", height, ": both sides must be >= 1");
  if (image.width < 1 || image.height < 1) fail("cannot resize an empty image");
  if (image.width == width && image.height == height) return image;
  if (image.mode == Mode::kP) filter = Filter::kNearest;
  const Mode mode = image.mode;
  if (mode != Mode::kL && mode != Mode::kLA && mode != Mode::kRGB && mode != Mode::kRGBA && mode != Mode::kP)
    fail("cannot resize an image of mode ", mode_name(mode), ": convert it to L, LA, RGB or RGBA first");

  const int channels = bytes_per_pixel(mode);
  const bool premultiply = (mode == Mode::kLA || mode == Mode::kRGBA) && filter != Filter::kNearest;
  const bool vertical_first = static_cast<int64_t>(image.height) > static_cast<int64_t>(image.width) * 100 &&
                              height < image.height;
  std::vector<uint8_t> src;
  const uint8_t* in = image.pixels.data();
  if (premultiply) {
    // RGBA -> RGBa / LA -> La: colour * alpha / 255, rounded (MULDIV255).
    src = image.pixels;
    for (size_t i = 0; i < src.size(); i += channels) {
      const int a = src[i + channels - 1];
      for (int c = 0; c < channels - 1; ++c) {
        const int t = src[i + c] * a + 128;
        src[i + c] = static_cast<uint8_t>(((t >> 8) + t) >> 8);
      }
    }
    in = src.data();
  }
  Image out = image;
  out.width = width;
  out.height = height;
  out.pixels = resample_u8(in, image.width, image.height, channels, width, height, filter, vertical_first);
  if (premultiply) {
    // RGBa -> RGBA: colour * 255 / alpha (integer division, clipped) unless alpha is 0 or 255.
    for (size_t i = 0; i < out.pixels.size(); i += channels) {
      const int a = out.pixels[i + channels - 1];
      if (a == 0 || a == 255) continue;
      for (int c = 0; c < channels - 1; ++c) {
        const int v = 255 * out.pixels[i + c] / a;
        out.pixels[i + c] = static_cast<uint8_t>(v > 255 ? 255 : v);
      }
    }
  }
  return out;
}

std::vector<float> resize_float01(const std::vector<float>& chw, int channels, int width, int height, int out_w,
                                  int out_h, Filter filter) {
  VLM_ASSERT(channels >= 1 && channels <= 4);
  const size_t plane = static_cast<size_t>(width) * height;
  VLM_ASSERT(chw.size() == plane * channels);
  Image im = make_image(width, height, channels == 1 ? Mode::kL : channels == 2 ? Mode::kLA : channels == 3 ? Mode::kRGB : Mode::kRGBA);
  for (int c = 0; c < channels; ++c)
    for (size_t i = 0; i < plane; ++i) {
      const float scaled = static_cast<float>(static_cast<double>(chw[c * plane + i]) * 255.0);
      im.pixels[i * channels + c] = static_cast<uint8_t>(scaled);  // numpy astype(uint8): truncation
    }
  const Image resized = resize(im, out_w, out_h, filter);
  const size_t out_plane = static_cast<size_t>(out_w) * out_h;
  std::vector<float> out(out_plane * channels);
  for (int c = 0; c < channels; ++c)
    for (size_t i = 0; i < out_plane; ++i)
      out[c * out_plane + i] = static_cast<float>(static_cast<double>(resized.pixels[i * channels + c]) * (1.0 / 255));
  return out;
}

}  // namespace vlm::image
