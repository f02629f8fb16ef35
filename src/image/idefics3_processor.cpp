// Idefics3 and SmolVLM (Idefics3ImageProcessorPil / SmolVLMImageProcessorPil, identical): resize the longest
// edge to size.longest_edge (the other side int()-scaled and bumped to even, everything capped at 4096), then
// either split - resize both sides up to multiples of the tile side M, cut M x M tiles row by row, and append the
// whole image resized to M x M as the global image - or (splitting off) resize to M x M. Images that already fit
// one tile are not split (rows = cols = 0). After rescale and normalize, frames are zero-padded to the largest
// frame and pixel_attention_mask marks the real pixels.
//
// transformers 5.17's PIL processor converts with Pillow's convert("RGB") (alpha dropped); the 4.x
// processor composited alpha over white (to_rgb_over_white() in image.h does that).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "image/pixel_ops.h"
#include "image/processors.h"

namespace vlm::image::detail {
namespace {

constexpr int64_t kMaxImageSize = 4096;  // MAX_IMAGE_SIZE in the transformers file

// _resize_output_size_rescale_to_max_len then _resize_output_size_scale_below_upper_bound.
HeightWidth longest_edge_size(int64_t height, int64_t width, int64_t max_len) {
  double aspect = static_cast<double>(width) / height;
  if (width >= height) {
    width = max_len;
    height = static_cast<int64_t>(width / aspect);
    if (height % 2 != 0) height += 1;
  } else {
    height = max_len;
    width = static_cast<int64_t>(height * aspect);
    if (width % 2 != 0) width += 1;
  }
  height = std::max<int64_t>(height, 1), width = std::max<int64_t>(width, 1);
  aspect = static_cast<double>(width) / height;
  if (width >= height && width > kMaxImageSize) {
    width = kMaxImageSize;
    height = static_cast<int64_t>(width / aspect);
  } else if (height > width && height > kMaxImageSize) {
    height = kMaxImageSize;
    width = static_cast<int64_t>(height * aspect);
  }
  return {std::max<int64_t>(height, 1), std::max<int64_t>(width, 1)};
}

// resize_for_vision_encoder: both sides up to multiples of the tile side.
HeightWidth tile_multiple_size(int64_t height, int64_t width, int64_t tile) {
  const double aspect = static_cast<double>(width) / height;
  if (width >= height) {
    width = static_cast<int64_t>(std::ceil(static_cast<double>(width) / tile)) * tile;
    height = static_cast<int64_t>(width / aspect);
    height = static_cast<int64_t>(std::ceil(static_cast<double>(height) / tile)) * tile;
  } else {
    height = static_cast<int64_t>(std::ceil(static_cast<double>(height) / tile)) * tile;
    width = static_cast<int64_t>(height * aspect);
    width = static_cast<int64_t>(std::ceil(static_cast<double>(width) / tile)) * tile;
  }
  return {height, width};
}

class Idefics3ImageProcessor : public ImageProcessor {
 public:
  explicit Idefics3ImageProcessor(const ImageProcessorConfig& c) : ImageProcessor(c) {}

  ProcessedImages process(const std::vector<Image>& images) const override {
    require_images(images, config_);
    const ImageProcessorConfig& c = config_;
    const int64_t M = c.max_image_size;
    std::vector<ChwImage> frames;
    ProcessedImages out;
    for (const Image& image : images) {
      Image rgb = as_rgb(image);
      if (c.do_resize) {
        const HeightWidth hw = c.size.longest_edge ? longest_edge_size(rgb.height, rgb.width, c.size.longest_edge)
                                                   : pil_backend_output_size(rgb.height, rgb.width, c.size, c.origin);
        rgb = resize_to(rgb, hw, c.resample);
      }
      ImagePlaceholder ph;
      std::vector<Image> parts;
      if (c.do_image_splitting) {
        rgb = resize_to(rgb, tile_multiple_size(rgb.height, rgb.width, M), c.resample);
        if (rgb.height > M || rgb.width > M) {
          ph.rows = (rgb.height - M) / M + 1;
          ph.cols = (rgb.width - M) / M + 1;
          for (int64_t r = 0; r < ph.rows; ++r)
            for (int64_t col = 0; col < ph.cols; ++col) {
              // numpy slicing clips at the border; after tile_multiple_size every tile is whole.
              const int64_t y0 = r * M, x0 = col * M;
              const int64_t th = std::min<int64_t>(M, rgb.height - y0), tw = std::min<int64_t>(M, rgb.width - x0);
              parts.push_back(crop(rgb, static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(tw), static_cast<int>(th)));
            }
          parts.push_back(resize_to(rgb, {M, M}, c.resample));
        } else {
          parts.push_back(rgb);
        }
      } else {
        parts.push_back(resize_to(rgb, {M, M}, c.resample));
      }
      for (const Image& part : parts) frames.push_back(rescale_normalize(part, c));
      ph.num_frames = static_cast<int64_t>(parts.size());
      ph.num_tokens = c.image_seq_len * (ph.rows == 0 ? 1 : ph.rows * ph.cols + 1);
      out.images.push_back(ph);
    }
    pad_frames(frames, out);
    return out;
  }

 private:
  // do_pad: every frame goes into the top-left corner of a zero frame of the largest height and width.
  void pad_frames(const std::vector<ChwImage>& frames, ProcessedImages& out) const {
    int64_t max_h = 0, max_w = 0;
    for (const ChwImage& f : frames) max_h = std::max<int64_t>(max_h, f.height), max_w = std::max<int64_t>(max_w, f.width);
    if (!config_.do_pad) {
      for (const ChwImage& f : frames)
        if (f.height != max_h || f.width != max_w)
          fail(config_.origin, ": frames of different sizes need do_pad to form one tensor");
    }
    const int64_t n = static_cast<int64_t>(frames.size());
    out.pixel_values.shape = {n, 3, max_h, max_w};
    out.pixel_values.data.assign(static_cast<size_t>(n * 3 * max_h * max_w), 0.0f);
    out.pixel_attention_mask.shape = {n, max_h, max_w};
    out.pixel_attention_mask.data.assign(static_cast<size_t>(n * max_h * max_w), 0);
    for (int64_t i = 0; i < n; ++i) {
      const ChwImage& f = frames[i];
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t y = 0; y < f.height; ++y) {
          const float* src = f.data.data() + (ch * f.height + y) * f.width;
          float* dst = out.pixel_values.data.data() + ((i * 3 + ch) * max_h + y) * max_w;
          std::copy(src, src + f.width, dst);
        }
      for (int64_t y = 0; y < f.height; ++y) {
        int64_t* m = out.pixel_attention_mask.data.data() + (i * max_h + y) * max_w;
        std::fill(m, m + f.width, 1);
      }
    }
  }
};

}  // namespace

std::unique_ptr<ImageProcessor> make_idefics3_processor(const ImageProcessorConfig& config) {
  return std::make_unique<Idefics3ImageProcessor>(config);
}

}  // namespace vlm::image::detail
