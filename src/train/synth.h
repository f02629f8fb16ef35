// Synthetic scene datasets: the project's demo data. Each sample is a small RGB image of 0-6 flat shapes on a
// light background and one question about it with a short canonical answer, so that exact-match accuracy
// measures what a fine-tune learned. Scenes, pixels and data.jsonl are the same on every platform for a
// given seed (our own PRNG, splitmix64, and integer rasterisation); PNG bytes too wherever zlib is the same.
//
// Scenes: shapes circle / square / triangle (upright); colours red, green, blue, yellow, purple, orange,
// black (all contrast with the light backgrounds); three sizes; objects never overlap (bounding boxes keep a
// gap) and lie wholly inside the image. Backgrounds are one light colour, or two split top/bottom or
// left/right.
//
// Tasks and their canonical answers:
//   count     "How many circles are there?" / "How many objects are there?" (and rephrasings) -> "3" (digits)
//   color     "What color is the square?" (asked only when exactly one square is present) -> "red"
//   shape     "What shape is the red object?" (asked only when exactly one red object is present) -> "a circle"
//   position  "Where is the red square?" (asked only when exactly one red square is present) -> one of
//             "top left", "top", "top right", "left", "center", "right", "bottom left", "bottom",
//             "bottom right": the cell of a 3x3 grid holding the object's centre pixel
//   describe  "Describe the image." -> the objects in reading order (grid row top to bottom, then centre x
//             left to right, then centre y), as "<a|an> <color> <shape>" joined by ", " with " and " before
//             the last, ending in ".": "a red circle.", "a red circle and a blue square.", "a red circle, an
//             orange square and a black triangle."; an empty scene is "nothing."
//   mixed     each sample draws one of describe / color / position (count and shape are held out: the bundled
//             model never sees them, and the demo teaches one with LoRA)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.h"

namespace vlm::train {

struct SynthOptions {
  std::string task = "mixed";  // "count" | "color" | "shape" | "position" | "describe" | "mixed"
  int64_t n = 100;             // samples, >= 1
  uint64_t seed = 0;
  std::string out_dir;       // created (with parents) if missing
  int64_t image_size = 112;  // square images of this side, 32..2048
};

// Writes OUT/data.jsonl, one line per sample in dataset.h's form 1 plus a "task" field:
//   {"images": ["images/000000.png"], "messages": [user: image + question, assistant: answer],
//    "task": "color"}
// and OUT/images/<6-digit index>.png (RGB8). Returns the number of samples. Errors name the path.
int64_t write_synth_dataset(const SynthOptions& options);

enum class SynthShape { kCircle, kSquare, kTriangle };
constexpr int kSynthShapeCount = 3;
constexpr int kSynthColorCount = 7;
const char* synth_shape_name(SynthShape shape);     // "circle", "square", "triangle"
const char* synth_color_name(int color);            // palette index -> "red", ...
std::array<uint8_t, 3> synth_color_rgb(int color);  // palette index -> RGB

// One object. Every shape fills pixels of its box [cx - r, cx + r] x [cy - r, cy + r] only, and always covers
// its centre pixel (cx, cy):
//   circle    (x - cx)^2 + (y - cy)^2 <= r^2
//   square    |x - cx| <= r - r / 8 and |y - cy| <= r - r / 8   (a little smaller, so areas look alike)
//   triangle  apex (cx, cy - r), base row cy + r from cx - r to cx + r: 2 |x - cx| <= y - (cy - r)
struct SynthObject {
  SynthShape shape = SynthShape::kCircle;
  int color = 0;  // palette index
  int size = 0;   // 0 small, 1 medium, 2 large
  int cx = 0, cy = 0, r = 0;
};

struct SynthScene {
  int image_size = 0;
  std::array<uint8_t, 3> background_a{}, background_b{};
  int split = 0;                     // 0 plain (a), 1 top a / bottom b (y < size / 2), 2 left a / right b
  std::vector<SynthObject> objects;  // in drawing order (they never overlap, so order does not matter)
};

struct SynthSample {
  SynthScene scene;
  std::string task;  // the concrete task ("mixed" already resolved)
  std::string question;
  std::string answer;
};

// Sample `index` of the dataset `options` describes: a function of (seed, index, task, image_size) only, so a
// larger n extends a smaller one.
SynthSample make_synth_sample(const SynthOptions& options, int64_t index);

// "top left" ... "bottom right" for the object's centre (3x3 grid of the image).
std::string synth_position_name(const SynthScene& scene, const SynthObject& object);
// The canonical describe answer (see above).
std::string synth_describe(const SynthScene& scene);
// The canonical answers a task can give ("count": "0".."6"; "describe" is open-ended and returns {}).
std::vector<std::string> synth_answer_set(const std::string& task);

// Rasterises the scene into an RGB image of image_size x image_size.
image::Image render_synth_scene(const SynthScene& scene);

// Writes an 8-bit RGB image as a PNG file (fixed settings: equal pixels, equal bytes); errors name the path.
void write_png_rgb(const std::string& path, const image::Image& rgb);

}  // namespace vlm::train
