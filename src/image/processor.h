// Image processors: what transformers' PIL-based image processors do, per family, turning RGB images into the
// float32 pixel values a vision tower takes plus what the text side needs to expand image placeholders.
//
// Numerics follow transformers exactly: Pillow-identical uint8 resizing, then rescale in float64 cast to
// float32, then normalize as (x - float32(mean)) / float32(std) in float32.
//
// pixel_values layout per family (all images passed to one process() call form one text sample):
//   qwen2_vl          [sum of t*h*w over images, C*T*P*P]  (rows of 3*2*14*14 = 1176)
//   clip, llava,      [num_images, 3, H, W]
//   siglip
//   gemma3            [num_images + pan-and-scan crops, 3, H, W]  (each image, then its crops)
//   idefics3,         [num_frames, 3, H, W]: per image its tiles row by row then the global image, padded with
//   smolvlm            zeros to the largest frame; pixel_attention_mask [num_frames, H, W] marks real pixels.
//                      transformers adds a leading batch dimension and pads across samples; batching does that.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "image/image.h"
#include "image/processor_config.h"

namespace vlm::image {

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major
};

struct Int64Tensor {
  std::vector<int64_t> shape;
  std::vector<int64_t> data;
};

// What one input image became, for prompt expansion.
struct ImagePlaceholder {
  std::array<int64_t, 3> grid_thw{0, 0, 0};  // qwen2_vl: patches along time, height, width
  int64_t num_tokens = 0;  // image tokens this image expands to; 0 when the config does not determine it
  int64_t rows = 0, cols = 0;  // idefics3 / smolvlm tile grid; 0 x 0 when the image was not split
  int64_t num_crops = 0;   // gemma3 pan-and-scan crops
  int64_t num_frames = 1;  // pixel_values entries (qwen2_vl: rows) produced by this image
};

struct ProcessedImages {
  FloatTensor pixel_values;
  Int64Tensor pixel_attention_mask;  // idefics3 / smolvlm only; empty shape otherwise
  std::vector<ImagePlaceholder> images;
};

class ImageProcessor {
 public:
  virtual ~ImageProcessor() = default;
  // `images` are decoded images in any mode; they are converted to RGB first (transformers' load_image and
  // do_convert_rgb both do). The EXIF orientation is not applied here, as transformers' processors do not apply
  // it: pass images from load_image_*(), which has applied it. An empty list is an error.
  virtual ProcessedImages process(const std::vector<Image>& images) const = 0;
  const ImageProcessorConfig& config() const { return config_; }

 protected:
  explicit ImageProcessor(ImageProcessorConfig config) : config_(std::move(config)) {}
  ImageProcessorConfig config_;
};

// The processor of the config's family.
std::unique_ptr<ImageProcessor> make_image_processor(const ImageProcessorConfig& config);
// load_image_processor_config(model_dir) then make_image_processor.
std::unique_ptr<ImageProcessor> load_image_processor(const std::string& model_dir);

}  // namespace vlm::image
