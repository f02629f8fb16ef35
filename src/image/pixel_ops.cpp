// The PilBackend steps, each with transformers' exact integer and floating-point behaviour (Python's int()
// truncation, // floor division, round() half to even).
#include "image/pixel_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "image/resample.h"

namespace vlm::image::detail {
namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

HeightWidth shortest_edge_size(int64_t height, int64_t width, int64_t shortest_edge) {
  const int64_t shorter = width <= height ? width : height;
  const int64_t longer = width <= height ? height : width;
  const int64_t new_short = shortest_edge;
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(shortest_edge) * longer / shorter);
  return width <= height ? HeightWidth{new_long, new_short} : HeightWidth{new_short, new_long};
}

HeightWidth size_with_aspect_ratio(int64_t height, int64_t width, int64_t size, int64_t max_size) {
  double raw_size = 0.0;
  bool have_raw = false;
  if (max_size > 0) {
    const double min_original = static_cast<double>(std::min(height, width));
    const double max_original = static_cast<double>(std::max(height, width));
    if (max_original / min_original * size > max_size) {
      raw_size = max_size * min_original / max_original;
      have_raw = true;
      size = round_half_even(raw_size);
    }
  }
  int64_t oh, ow;
  if ((height <= width && height == size) || (width <= height && width == size)) {
    oh = height, ow = width;
  } else if (width < height) {
    ow = size;
    oh = have_raw ? static_cast<int64_t>(raw_size * height / width)
                  : static_cast<int64_t>(static_cast<double>(size) * height / width);
  } else {
    oh = size;
    ow = have_raw ? static_cast<int64_t>(raw_size * width / height)
                  : static_cast<int64_t>(static_cast<double>(size) * width / height);
  }
  return {oh, ow};
}

HeightWidth size_for_max_height_width(int64_t height, int64_t width, int64_t max_height, int64_t max_width) {
  const double height_scale = static_cast<double>(max_height) / height;
  const double width_scale = static_cast<double>(max_width) / width;
  const double scale = std::min(height_scale, width_scale);
  return {static_cast<int64_t>(height * scale), static_cast<int64_t>(width * scale)};
}

HeightWidth pil_backend_output_size(int64_t height, int64_t width, const SizeSpec& size, const std::string& origin) {
  if (size.shortest_edge && size.longest_edge)
    return size_with_aspect_ratio(height, width, size.shortest_edge, size.longest_edge);
  if (size.shortest_edge) return shortest_edge_size(height, width, size.shortest_edge);
  if (size.max_height && size.max_width) return size_for_max_height_width(height, width, size.max_height, size.max_width);
  if (size.height && size.width) return {size.height, size.width};
  fail(origin, ": size must contain height and width, max_height and max_width, or shortest_edge");
}

Image as_rgb(const Image& image) { return to_rgb(image); }

Image resize_to(const Image& rgb, HeightWidth hw, Filter filter) {
  if (hw.first < 1 || hw.second < 1 || hw.first > INT32_MAX || hw.second > INT32_MAX)
    fail("cannot resize a ", rgb.width, "x", rgb.height, " image to ", hw.second, "x", hw.first,
         ": the target size must be positive");
  return resize(rgb, static_cast<int>(hw.second), static_cast<int>(hw.first), filter);
}

Image center_crop(const Image& rgb, int64_t crop_height, int64_t crop_width) {
  const int64_t h = rgb.height, w = rgb.width;
  int64_t top = floor_div(h - crop_height, 2), left = floor_div(w - crop_width, 2);
  int64_t bottom = top + crop_height, right = left + crop_width;
  if (top >= 0 && bottom <= h && left >= 0 && right <= w)
    return crop(rgb, static_cast<int>(left), static_cast<int>(top), static_cast<int>(crop_width),
                static_cast<int>(crop_height));
  // Too small: centre the image on zeros first (top_pad = ceil((new - orig) / 2)), then crop.
  const int64_t new_h = std::max(crop_height, h), new_w = std::max(crop_width, w);
  const int64_t top_pad = (new_h - h + 1) / 2, left_pad = (new_w - w + 1) / 2;
  Image padded = make_image(static_cast<int>(new_w), static_cast<int>(new_h), rgb.mode);
  const int bpp = bytes_per_pixel(rgb.mode);
  for (int64_t y = 0; y < h; ++y)
    std::memcpy(padded.row(static_cast<int>(y + top_pad)) + left_pad * bpp, rgb.row(static_cast<int>(y)),
                static_cast<size_t>(w) * bpp);
  top += top_pad, bottom += top_pad, left += left_pad, right += left_pad;
  const int64_t y0 = std::max<int64_t>(0, top), y1 = std::min(new_h, bottom);
  const int64_t x0 = std::max<int64_t>(0, left), x1 = std::min(new_w, right);
  return crop(padded, static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0), static_cast<int>(y1 - y0));
}

Image pad_to_square(const Image& rgb, const std::vector<uint8_t>& fill) {
  if (rgb.width == rgb.height) return rgb;
  const int side = std::max(rgb.width, rgb.height);
  const int bpp = bytes_per_pixel(rgb.mode);
  VLM_ASSERT(static_cast<int>(fill.size()) == bpp);
  Image out = make_image(side, side, rgb.mode);
  for (size_t i = 0; i < out.pixels.size(); i += bpp) std::memcpy(&out.pixels[i], fill.data(), bpp);
  const int top = rgb.width > rgb.height ? (side - rgb.height) / 2 : 0;
  const int left = rgb.width > rgb.height ? 0 : (side - rgb.width) / 2;
  for (int y = 0; y < rgb.height; ++y)
    std::memcpy(out.row(top + y) + static_cast<size_t>(left) * bpp, rgb.row(y), static_cast<size_t>(rgb.width) * bpp);
  return out;
}

ChwImage rescale_normalize(const Image& rgb, const ImageProcessorConfig& config) {
  VLM_ASSERT(rgb.mode == Mode::kRGB);
  ChwImage out;
  out.channels = 3;
  out.height = rgb.height;
  out.width = rgb.width;
  const size_t plane = rgb.pixel_count();
  out.data.resize(plane * 3);
  for (int c = 0; c < 3; ++c) {
    // Per-channel lookup table: the value depends only on the byte.
    float table[256];
    const float mean = static_cast<float>(config.image_mean[c]);
    const float std = static_cast<float>(config.image_std[c]);
    for (int v = 0; v < 256; ++v) {
      float x = config.do_rescale ? static_cast<float>(static_cast<double>(v) * config.rescale_factor)
                                  : static_cast<float>(v);
      if (config.do_normalize) {
        const float centred = x - mean;  // two float32 operations, each rounded, as numpy does
        x = centred / std;
      }
      table[v] = x;
    }
    float* dst = out.data.data() + c * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = table[rgb.pixels[3 * i + c]];
  }
  return out;
}

ChwImage default_pipeline(const Image& rgb_in, const ImageProcessorConfig& config) {
  Image rgb = rgb_in;
  if (config.do_resize)
    rgb = resize_to(rgb, pil_backend_output_size(rgb.height, rgb.width, config.size, config.origin), config.resample);
  if (config.do_center_crop) {
    if (!config.crop_size.height || !config.crop_size.width)
      fail(config.origin, ": crop_size must give height and width");
    rgb = center_crop(rgb, config.crop_size.height, config.crop_size.width);
  }
  return rescale_normalize(rgb, config);
}

FloatTensor stack_images(const std::vector<ChwImage>& images, const ImageProcessorConfig& config) {
  VLM_ASSERT(!images.empty());
  const ChwImage& first = images.front();
  FloatTensor out;
  out.shape = {static_cast<int64_t>(images.size()), first.channels, first.height, first.width};
  out.data.reserve(images.size() * first.data.size());
  for (const ChwImage& im : images) {
    if (im.height != first.height || im.width != first.width)
      fail(config.origin, ": ", family_name(config.family), " images have different sizes after preprocessing (",
           first.width, "x", first.height, " and ", im.width, "x", im.height,
           "); they cannot form one tensor (enable do_center_crop or a fixed size)");
    out.data.insert(out.data.end(), im.data.begin(), im.data.end());
  }
  return out;
}

void require_images(const std::vector<Image>& images, const ImageProcessorConfig& config) {
  if (images.empty()) fail(config.origin, ": ", family_name(config.family), " image processor: no images given");
  for (const Image& im : images)
    if (im.width < 1 || im.height < 1) fail(config.origin, ": cannot process an empty image");
}

}  // namespace vlm::image::detail
