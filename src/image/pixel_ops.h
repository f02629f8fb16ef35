// Internal: the steps transformers' PilBackend chains (image_transforms.py and image_processing_backends.py),
// shared by the family processors. Images stay uint8 RGB (HWC) until rescale_normalize() makes float32 CHW.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "image/image.h"
#include "image/processor_config.h"
#include "image/processor.h"

namespace vlm::image::detail {

// A float32 image, channels first: data[c][y][x].
struct ChwImage {
  int channels = 3, height = 0, width = 0;
  std::vector<float> data;
};

// (height, width) pairs, as transformers returns them.
using HeightWidth = std::pair<int64_t, int64_t>;

// get_resize_output_image_size(size=shortest_edge, default_to_square=False): the short side becomes `size`,
// the long side int(size * long / short).
HeightWidth shortest_edge_size(int64_t height, int64_t width, int64_t shortest_edge);
// get_size_with_aspect_ratio((h, w), shortest_edge, longest_edge).
HeightWidth size_with_aspect_ratio(int64_t height, int64_t width, int64_t size, int64_t max_size);
// get_image_size_for_max_height_width.
HeightWidth size_for_max_height_width(int64_t height, int64_t width, int64_t max_height, int64_t max_width);
// PilBackend.resize's choice of output size for a SizeSpec; throws naming `origin` when the spec is unusable.
HeightWidth pil_backend_output_size(int64_t height, int64_t width, const SizeSpec& size, const std::string& origin);

// RGB conversion as the processor sees it (to_rgb; every family sets do_convert_rgb).
Image as_rgb(const Image& image);
// Pillow resize to (height, width); a no-op copy when the size is unchanged.
Image resize_to(const Image& rgb, HeightWidth hw, Filter filter);
// transformers' center_crop on an HWC uint8 image: crops, zero-padding first when the crop is larger.
Image center_crop(const Image& rgb, int64_t crop_height, int64_t crop_width);
// LLaVA's pad_to_square: centred on a square of the longest side filled with `fill` (per channel).
Image pad_to_square(const Image& rgb, const std::vector<uint8_t>& fill);

// rescale (float64 multiply, then float32) and normalize ((x - float32 mean) / float32 std in float32), as
// configured; returns CHW float32.
ChwImage rescale_normalize(const Image& rgb, const ImageProcessorConfig& config);

// PilBackend._preprocess for one image: resize (per `size`), centre crop, rescale, normalize.
ChwImage default_pipeline(const Image& rgb, const ImageProcessorConfig& config);

// Stacks equally sized CHW images into [N, C, H, W]; throws naming the family when sizes differ.
FloatTensor stack_images(const std::vector<ChwImage>& images, const ImageProcessorConfig& config);

// Throws when `images` is empty, naming the processor family.
void require_images(const std::vector<Image>& images, const ImageProcessorConfig& config);

// Python's round() on a double: half to even.
int64_t round_half_even(double x);

}  // namespace vlm::image::detail
