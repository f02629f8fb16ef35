// SigLIP (SiglipImageProcessorPil) and PaliGemma (the same image processor under PaliGemmaProcessor): a direct
// resize to size (224/448/896 squares on the hub, bicubic), rescale, normalize 0.5 / 0.5. PaliGemma expands each
// image to image_seq_length tokens, which its preprocessor_config.json states.
#include "image/pixel_ops.h"
#include "image/processors.h"

namespace vlm::image::detail {
namespace {

class SiglipImageProcessor : public ImageProcessor {
 public:
  explicit SiglipImageProcessor(const ImageProcessorConfig& c) : ImageProcessor(c) {}

  ProcessedImages process(const std::vector<Image>& images) const override {
    require_images(images, config_);
    std::vector<ChwImage> processed;
    for (const Image& image : images) processed.push_back(default_pipeline(as_rgb(image), config_));
    ProcessedImages out;
    out.pixel_values = stack_images(processed, config_);
    for (size_t i = 0; i < processed.size(); ++i) {
      ImagePlaceholder ph;
      ph.num_tokens = config_.image_seq_len;
      out.images.push_back(ph);
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<ImageProcessor> make_siglip_processor(const ImageProcessorConfig& config) {
  return std::make_unique<SiglipImageProcessor>(config);
}

}  // namespace vlm::image::detail
