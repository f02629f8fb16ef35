// CLIP (CLIPImageProcessorPil) and LLaVA-1.5 (LlavaImageProcessorPil, or CLIPImageProcessor under
// LlavaProcessor): optionally pad to a square filled with the mean colour (LLaVA do_pad), resize the shortest edge,
// centre crop, rescale, normalize. LLaVA's token count is (H / patch) * (W / patch) + num_additional_image_tokens,
// minus one for the "default" feature-select strategy (the CLS token is dropped).
#include "core/error.h"
#include "image/pixel_ops.h"
#include "image/processors.h"

namespace vlm::image::detail {
namespace {

class ClipImageProcessor : public ImageProcessor {
 public:
  explicit ClipImageProcessor(const ImageProcessorConfig& c) : ImageProcessor(c) {}

  ProcessedImages process(const std::vector<Image>& images) const override {
    require_images(images, config_);
    const ImageProcessorConfig& c = config_;
    const bool llava = c.family == Family::kLlava;
    std::vector<ChwImage> processed;
    for (const Image& image : images) {
      Image rgb = as_rgb(image);
      if (llava && c.do_pad) {
        std::vector<uint8_t> fill;
        for (double m : c.image_mean) fill.push_back(static_cast<uint8_t>(static_cast<int64_t>(m * 255)));
        rgb = pad_to_square(rgb, fill);
      }
      processed.push_back(default_pipeline(rgb, c));
    }
    ProcessedImages out;
    out.pixel_values = stack_images(processed, c);
    for (const ChwImage& im : processed) {
      ImagePlaceholder ph;
      if (llava && c.llava_patch_size > 0) {
        ph.num_tokens = (im.height / c.llava_patch_size) * (im.width / c.llava_patch_size) +
                        c.num_additional_image_tokens - (c.vision_feature_select_strategy == "default" ? 1 : 0);
      }
      out.images.push_back(ph);
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<ImageProcessor> make_clip_processor(const ImageProcessorConfig& config) {
  return std::make_unique<ClipImageProcessor>(config);
}

}  // namespace vlm::image::detail
