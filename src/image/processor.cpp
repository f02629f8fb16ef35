// The family registry: one place maps a Family to its processor.
#include "image/processor.h"

#include "image/processors.h"

namespace vlm::image {

std::unique_ptr<ImageProcessor> make_image_processor(const ImageProcessorConfig& config) {
  switch (config.family) {
    case Family::kQwen2VL: return detail::make_qwen2_vl_processor(config);
    case Family::kClip:
    case Family::kLlava: return detail::make_clip_processor(config);
    case Family::kSiglip: return detail::make_siglip_processor(config);
    case Family::kIdefics3:
    case Family::kSmolVLM: return detail::make_idefics3_processor(config);
    case Family::kGemma3: return detail::make_gemma3_processor(config);
  }
  return nullptr;
}

std::unique_ptr<ImageProcessor> load_image_processor(const std::string& model_dir) {
  return make_image_processor(load_image_processor_config(model_dir));
}

}  // namespace vlm::image
