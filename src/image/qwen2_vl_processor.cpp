// Qwen2-VL / Qwen2.5-VL (Qwen2VLImageProcessorPil): smart_resize to multiples of patch * merge, bicubic, rescale,
// normalize, then patchify into rows of C * T * P * P values. A single image has t = 1 and its one frame is
// repeated T times inside each row (transformers 5 broadcasts it), so a row is, for c in C, t in T, the P x P
// patch of channel c. Rows go merge window by merge window: (h/m, w/m, m, m).
#include <cmath>

#include "core/error.h"
#include "image/pixel_ops.h"
#include "image/processors.h"

namespace vlm::image::detail {

std::pair<int64_t, int64_t> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                         int64_t max_pixels, const std::string& origin) {
  const double ratio = static_cast<double>(std::max(height, width)) / std::min(height, width);
  if (ratio > 200)
    fail(origin, ": image of ", width, "x", height, " has an aspect ratio of ", ratio,
         "; Qwen2-VL needs it to be at most 200");
  int64_t h_bar = round_half_even(static_cast<double>(height) / factor) * factor;
  int64_t w_bar = round_half_even(static_cast<double>(width) / factor) * factor;
  if (h_bar * w_bar > max_pixels) {
    const double beta = std::sqrt(static_cast<double>(height * width) / max_pixels);
    h_bar = std::max<int64_t>(factor, static_cast<int64_t>(std::floor(height / beta / factor)) * factor);
    w_bar = std::max<int64_t>(factor, static_cast<int64_t>(std::floor(width / beta / factor)) * factor);
  } else if (h_bar * w_bar < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / static_cast<double>(height * width));
    h_bar = static_cast<int64_t>(std::ceil(height * beta / factor)) * factor;
    w_bar = static_cast<int64_t>(std::ceil(width * beta / factor)) * factor;
  }
  return {h_bar, w_bar};
}

namespace {

class Qwen2VLImageProcessor : public ImageProcessor {
 public:
  explicit Qwen2VLImageProcessor(const ImageProcessorConfig& c) : ImageProcessor(c) {}

  ProcessedImages process(const std::vector<Image>& images) const override {
    require_images(images, config_);
    const ImageProcessorConfig& c = config_;
    const int64_t P = c.patch_size, T = c.temporal_patch_size, M = c.merge_size, C = 3;
    const int64_t row_size = C * T * P * P;
    ProcessedImages out;
    out.pixel_values.data.clear();
    int64_t total_rows = 0;
    for (const Image& image : images) {
      Image rgb = as_rgb(image);
      if (c.do_resize) {
        const auto hw = smart_resize(rgb.height, rgb.width, P * M, c.min_pixels, c.max_pixels, c.origin);
        rgb = resize_to(rgb, hw, c.resample);
      }
      if (rgb.height % (P * M) != 0 || rgb.width % (P * M) != 0)
        fail(c.origin, ": image of ", rgb.width, "x", rgb.height, " is not a multiple of patch_size * merge_size = ",
             P * M, " (enable do_resize)");
      const ChwImage chw = rescale_normalize(rgb, c);
      const int64_t gh = rgb.height / P, gw = rgb.width / P;
      const size_t plane = static_cast<size_t>(chw.height) * chw.width;
      std::vector<float>& dst = out.pixel_values.data;
      dst.reserve(dst.size() + static_cast<size_t>(gh * gw * row_size));
      for (int64_t bh = 0; bh < gh / M; ++bh)
        for (int64_t bw = 0; bw < gw / M; ++bw)
          for (int64_t mh = 0; mh < M; ++mh)
            for (int64_t mw = 0; mw < M; ++mw) {
              const int64_t y0 = (bh * M + mh) * P, x0 = (bw * M + mw) * P;
              for (int64_t ch = 0; ch < C; ++ch)
                for (int64_t t = 0; t < T; ++t)
                  for (int64_t py = 0; py < P; ++py) {
                    const float* src = chw.data.data() + ch * plane + static_cast<size_t>(y0 + py) * chw.width + x0;
                    dst.insert(dst.end(), src, src + P);
                  }
            }
      ImagePlaceholder ph;
      ph.grid_thw = {1, gh, gw};
      ph.num_tokens = gh * gw / (M * M);
      ph.num_frames = gh * gw;
      out.images.push_back(ph);
      total_rows += gh * gw;
    }
    out.pixel_values.shape = {total_rows, row_size};
    return out;
  }
};

}  // namespace

std::unique_ptr<ImageProcessor> make_qwen2_vl_processor(const ImageProcessorConfig& config) {
  return std::make_unique<Qwen2VLImageProcessor>(config);
}

}  // namespace vlm::image::detail
