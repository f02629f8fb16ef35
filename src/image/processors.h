// Internal: one factory per family processor file; make_image_processor() picks by Family.
#pragma once

#include <memory>

#include "image/processor.h"

namespace vlm::image::detail {

std::unique_ptr<ImageProcessor> make_qwen2_vl_processor(const ImageProcessorConfig& config);
std::unique_ptr<ImageProcessor> make_clip_processor(const ImageProcessorConfig& config);     // CLIP and LLaVA
std::unique_ptr<ImageProcessor> make_siglip_processor(const ImageProcessorConfig& config);   // SigLIP, PaliGemma
std::unique_ptr<ImageProcessor> make_idefics3_processor(const ImageProcessorConfig& config); // Idefics3, SmolVLM
std::unique_ptr<ImageProcessor> make_gemma3_processor(const ImageProcessorConfig& config);

// Qwen2-VL's smart_resize: (height, width) multiples of `factor` with min_pixels <= h * w <= max_pixels,
// keeping the aspect ratio; throws when the aspect ratio exceeds 200.
std::pair<int64_t, int64_t> smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels,
                                         int64_t max_pixels, const std::string& origin);

}  // namespace vlm::image::detail
