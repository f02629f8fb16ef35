// Integer rasterisation of synthetic scenes: no anti-aliasing, so every pixel is exactly the background or an
// object colour and the output is the same everywhere. Shape tests are in synth.h.
#include <cstdlib>

#include "train/synth.h"

namespace vlm::train {

namespace {

bool covers(const SynthObject& o, int x, int y) {
  const int dx = x - o.cx, dy = y - o.cy;
  switch (o.shape) {
    case SynthShape::kCircle:
      return dx * dx + dy * dy <= o.r * o.r;
    case SynthShape::kSquare: {
      const int half = o.r - o.r / 8;
      return std::abs(dx) <= half && std::abs(dy) <= half;
    }
    case SynthShape::kTriangle:
      return dy >= -o.r && dy <= o.r && 2 * std::abs(dx) <= dy + o.r;
  }
  return false;
}

void put(image::Image& img, int x, int y, const std::array<uint8_t, 3>& rgb) {
  uint8_t* p = img.row(y) + 3 * x;
  p[0] = rgb[0];
  p[1] = rgb[1];
  p[2] = rgb[2];
}

}  // namespace

image::Image render_synth_scene(const SynthScene& scene) {
  const int size = scene.image_size;
  image::Image img = image::make_image(size, size, image::Mode::kRGB);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const bool second = (scene.split == 1 && y >= size / 2) || (scene.split == 2 && x >= size / 2);
      put(img, x, y, second ? scene.background_b : scene.background_a);
    }
  for (const SynthObject& o : scene.objects) {
    const std::array<uint8_t, 3> rgb = synth_color_rgb(o.color);
    // Only the object's box, clipped to the image (scenes keep objects inside, but a hand-made one may not).
    for (int y = std::max(0, o.cy - o.r); y <= std::min(size - 1, o.cy + o.r); ++y)
      for (int x = std::max(0, o.cx - o.r); x <= std::min(size - 1, o.cx + o.r); ++x)
        if (covers(o, x, y)) put(img, x, y, rgb);
  }
  return img;
}

}  // namespace vlm::train
