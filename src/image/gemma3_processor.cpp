// Gemma 3 (Gemma3ImageProcessorPil): direct bilinear resize to size (896 x 896 on the hub), rescale, normalize
// 0.5 / 0.5. With do_pan_and_scan, an image whose aspect ratio reaches pan_and_scan_min_ratio_to_activate also
// yields 2..max_num_crops crops along its long side (cut from the original image, the last one clipped at the
// border as numpy slicing clips), each processed like the image and placed right after it. Each image and each
// crop expands to image_seq_length tokens (mm_tokens_per_image, 256).
#include <algorithm>
#include <cmath>

#include "image/pixel_ops.h"
#include "image/processors.h"

namespace vlm::image::detail {
namespace {

struct CropBox {
  int64_t x, y, w, h;
};

std::vector<CropBox> pan_and_scan(int64_t height, int64_t width, const ImageProcessorConfig& c) {
  int64_t num_w = 1, num_h = 1;
  const double min_crop = static_cast<double>(c.pan_and_scan_min_crop_size);
  if (width >= height) {
    if (static_cast<double>(width) / height < c.pan_and_scan_min_ratio_to_activate) return {};
    num_w = static_cast<int64_t>(std::floor(static_cast<double>(width) / height + 0.5));
    num_w = std::min(static_cast<int64_t>(std::floor(width / min_crop)), num_w);
    num_w = std::max<int64_t>(2, num_w);
    num_w = std::min(c.pan_and_scan_max_num_crops, num_w);
  } else {
    if (static_cast<double>(height) / width < c.pan_and_scan_min_ratio_to_activate) return {};
    num_h = static_cast<int64_t>(std::floor(static_cast<double>(height) / width + 0.5));
    num_h = std::min(static_cast<int64_t>(std::floor(height / min_crop)), num_h);
    num_h = std::max<int64_t>(2, num_h);
    num_h = std::min(c.pan_and_scan_max_num_crops, num_h);
  }
  const int64_t crop_w = static_cast<int64_t>(std::ceil(static_cast<double>(width) / num_w));
  const int64_t crop_h = static_cast<int64_t>(std::ceil(static_cast<double>(height) / num_h));
  if (std::min(crop_w, crop_h) < c.pan_and_scan_min_crop_size) return {};
  std::vector<CropBox> boxes;
  for (int64_t i = 0; i < num_h; ++i)
    for (int64_t j = 0; j < num_w; ++j) {
      const int64_t y = crop_h * i, x = crop_w * j;
      const int64_t h = std::min(crop_h, height - y), w = std::min(crop_w, width - x);
      if (h > 0 && w > 0) boxes.push_back({x, y, w, h});
    }
  return boxes;
}

class Gemma3ImageProcessor : public ImageProcessor {
 public:
  explicit Gemma3ImageProcessor(const ImageProcessorConfig& c) : ImageProcessor(c) {}

  ProcessedImages process(const std::vector<Image>& images) const override {
    require_images(images, config_);
    const ImageProcessorConfig& c = config_;
    std::vector<ChwImage> processed;
    ProcessedImages out;
    for (const Image& image : images) {
      const Image rgb = as_rgb(image);
      std::vector<Image> parts{rgb};
      if (c.do_pan_and_scan)
        for (const CropBox& b : pan_and_scan(rgb.height, rgb.width, c))
          parts.push_back(crop(rgb, static_cast<int>(b.x), static_cast<int>(b.y), static_cast<int>(b.w), static_cast<int>(b.h)));
      for (const Image& part : parts) processed.push_back(default_pipeline(part, c));
      ImagePlaceholder ph;
      ph.num_crops = static_cast<int64_t>(parts.size()) - 1;
      ph.num_frames = static_cast<int64_t>(parts.size());
      ph.num_tokens = c.image_seq_len * ph.num_frames;
      out.images.push_back(ph);
    }
    out.pixel_values = stack_images(processed, c);
    return out;
  }
};

}  // namespace

std::unique_ptr<ImageProcessor> make_gemma3_processor(const ImageProcessorConfig& config) {
  return std::make_unique<Gemma3ImageProcessor>(config);
}

}  // namespace vlm::image::detail
