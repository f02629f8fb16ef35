// The image-processor settings of a checkpoint, read from preprocessor_config.json (flat, as published on the
// hub) and/or processor_config.json (transformers 5 nests them under "image_processor"; its top level carries
// the processor's own settings such as image_seq_len). Missing keys take the defaults of the family's
// transformers class, so a config means here exactly what it means to transformers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "image/resample.h"

namespace vlm::image {

// transformers' SizeDict: which fields are set decides how an image is resized (0 = unset).
struct SizeSpec {
  int64_t height = 0, width = 0;
  int64_t shortest_edge = 0, longest_edge = 0;
  int64_t max_height = 0, max_width = 0;
  int64_t min_pixels = 0, max_pixels = 0;
  bool empty() const {
    return !height && !width && !shortest_edge && !longest_edge && !max_height && !max_width && !min_pixels &&
           !max_pixels;
  }
};

enum class Family { kQwen2VL, kClip, kLlava, kSiglip, kIdefics3, kSmolVLM, kGemma3 };
const char* family_name(Family family);  // "qwen2_vl", "clip", "llava", "siglip", "idefics3", "smolvlm", "gemma3"

struct ImageProcessorConfig {
  Family family = Family::kClip;
  std::string image_processor_type;  // as written in the file ("Qwen2VLImageProcessor", ...)
  std::string processor_class;       // "LlavaProcessor", "PaliGemmaProcessor", ... when given

  bool do_convert_rgb = true;
  bool do_resize = true;
  SizeSpec size;
  bool default_to_square = true;
  Filter resample = Filter::kBilinear;
  bool do_center_crop = false;
  SizeSpec crop_size;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::vector<double> image_mean, image_std;  // 3 values each (a scalar in the file is repeated)
  bool do_pad = false;                        // LLaVA: pad to square first; Idefics3: pad the batch

  // Qwen2-VL / Qwen2.5-VL.
  int64_t patch_size = 14, temporal_patch_size = 2, merge_size = 2;
  int64_t min_pixels = 0, max_pixels = 0;  // resolved from size / min_pixels / max_pixels

  // Idefics3 / SmolVLM.
  bool do_image_splitting = true;
  int64_t max_image_size = 364;  // max_image_size.longest_edge: the tile side

  // Gemma 3 pan and scan.
  bool do_pan_and_scan = false;
  int64_t pan_and_scan_min_crop_size = 0, pan_and_scan_max_num_crops = 0;
  double pan_and_scan_min_ratio_to_activate = 0.0;

  // Text-side counts (0 = not given): image tokens per tile (Idefics3/SmolVLM image_seq_len), per image
  // (PaliGemma / Gemma 3 image_seq_length), and LLaVA's formula inputs.
  int64_t image_seq_len = 0;
  int64_t llava_patch_size = 0;
  int64_t num_additional_image_tokens = 0;
  std::string vision_feature_select_strategy;

  std::string origin;  // the file(s) read, for messages
};

// Parses the image-processor settings. `image_processor` is the flat object (preprocessor_config.json, or the
// "image_processor" member of processor_config.json); `processor` is processor_config.json's top level (or an
// empty object). `origin` names the file(s) in messages. The family comes from image_processor_type (a "Fast" or
// "Pil" suffix is ignored) or, failing that, from processor_class.
ImageProcessorConfig parse_image_processor_config(const Json& image_processor, const Json& processor,
                                                  const std::string& origin);

// Reads <dir>/preprocessor_config.json and/or <dir>/processor_config.json (at least one must exist); values in
// processor_config.json's "image_processor" override the flat file's.
ImageProcessorConfig load_image_processor_config(const std::string& model_dir);

}  // namespace vlm::image
