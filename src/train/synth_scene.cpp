// Synthetic scenes and their questions: deterministic sampling with our own PRNG (splitmix64), so the same
// seed gives the same dataset with any compiler and standard library. See synth.h for the scene and answer
// formats.
#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "train/synth.h"

namespace vlm::train {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): tiny, full-period, good enough for picking scenes.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) up to a bias of n / 2^64 (irrelevant here); n > 0.
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
  template <typename T>
  T pick(const std::vector<T>& items) {
    return items[static_cast<size_t>(below(static_cast<int>(items.size())))];
  }

 private:
  uint64_t state_;
};

struct PaletteEntry {
  const char* name;
  std::array<uint8_t, 3> rgb;
};
// Saturated or dark object colours; all stand out against every background below.
constexpr PaletteEntry kPalette[kSynthColorCount] = {
    {"red", {220, 30, 30}},     {"green", {30, 160, 50}},  {"blue", {30, 70, 220}}, {"yellow", {235, 190, 0}},
    {"purple", {140, 50, 170}}, {"orange", {245, 120, 0}}, {"black", {20, 20, 20}},
};
constexpr std::array<uint8_t, 3> kBackgrounds[] = {
    {250, 250, 250}, {228, 228, 228}, {245, 236, 214}, {212, 228, 246}, {216, 240, 216}, {246, 222, 228},
};
constexpr int kBackgroundCount = static_cast<int>(sizeof(kBackgrounds) / sizeof(kBackgrounds[0]));
constexpr int kMaxObjects = 6;
constexpr int kPlacementTries = 50;
constexpr int kSceneTries = 200;
// Object half-extent r in hundredths of the image side, for sizes small / medium / large.
constexpr int kSizePercent[3] = {7, 10, 13};

const char* const kPositionNames[3][3] = {
    {"top left", "top", "top right"}, {"left", "center", "right"}, {"bottom left", "bottom", "bottom right"}};

int grid_cell(int coordinate, int image_size) {
  return std::min(2, coordinate * 3 / image_size);
}

bool boxes_apart(const SynthObject& a, const SynthObject& b) {
  const int gap = a.r + b.r + 2;  // at least 2 background pixels between the boxes
  return std::abs(a.cx - b.cx) >= gap || std::abs(a.cy - b.cy) >= gap;
}

SynthScene random_scene(Rng& rng, int size, int min_objects) {
  SynthScene scene;
  scene.image_size = size;
  const int a = rng.below(kBackgroundCount);
  scene.split = rng.below(3);
  const int b = scene.split == 0 ? a : (a + 1 + rng.below(kBackgroundCount - 1)) % kBackgroundCount;
  scene.background_a = kBackgrounds[a];
  scene.background_b = kBackgrounds[b];
  const int wanted = min_objects + rng.below(kMaxObjects - min_objects + 1);
  for (int i = 0; i < wanted; ++i) {
    SynthObject o;
    o.shape = static_cast<SynthShape>(rng.below(kSynthShapeCount));
    o.color = rng.below(kSynthColorCount);
    o.size = rng.below(3);
    o.r = std::max(3, size * kSizePercent[o.size] / 100);
    const int span =
        size - 2 * o.r - 2;  // centres in [r + 1, size - r - 2]: a 1-pixel border stays background
    for (int t = 0; t < kPlacementTries; ++t) {
      o.cx = o.r + 1 + rng.below(span);
      o.cy = o.r + 1 + rng.below(span);
      if (std::all_of(scene.objects.begin(), scene.objects.end(),
                      [&](const SynthObject& other) { return boxes_apart(o, other); })) {
        scene.objects.push_back(o);
        break;
      }
    }
  }
  return scene;
}

std::string plural(SynthShape shape) {
  return std::string(synth_shape_name(shape)) + "s";
}

size_t count_if_shape(const SynthScene& s, SynthShape shape) {
  return static_cast<size_t>(std::count_if(s.objects.begin(), s.objects.end(),
                                           [&](const SynthObject& o) { return o.shape == shape; }));
}
size_t count_like(const SynthScene& s, const SynthObject& like) {
  return static_cast<size_t>(std::count_if(s.objects.begin(), s.objects.end(), [&](const SynthObject& o) {
    return o.shape == like.shape && o.color == like.color;
  }));
}

size_t count_if_color(const SynthScene& s, int color) {
  return static_cast<size_t>(std::count_if(s.objects.begin(), s.objects.end(),
                                           [&](const SynthObject& o) { return o.color == color; }));
}

// Objects a question can name without ambiguity: the only one of its shape (color task), of its colour (shape
// task) or of its colour and shape (position task).
std::vector<const SynthObject*> askable(const SynthScene& s, const std::string& task) {
  std::vector<const SynthObject*> out;
  for (const SynthObject& o : s.objects) {
    const size_t alike = task == "color"   ? count_if_shape(s, o.shape)
                         : task == "shape" ? count_if_color(s, o.color)
                                           : count_like(s, o);
    if (alike == 1) out.push_back(&o);
  }
  return out;
}

void ask(SynthSample& sample, Rng& rng) {
  const SynthScene& s = sample.scene;
  if (sample.task == "count") {
    if (rng.below(4) == 0) {
      sample.question =
          rng.pick<std::string>({"How many objects are there?", "How many shapes are in the image?",
                                 "Count the objects in the image."});
      sample.answer = std::to_string(s.objects.size());
    } else {
      const SynthShape shape = static_cast<SynthShape>(rng.below(kSynthShapeCount));
      const std::string p = plural(shape);
      sample.question = rng.pick<std::string>(
          {"How many " + p + " are there?", "How many " + p + " are in the image?", "Count the " + p + "."});
      sample.answer = std::to_string(count_if_shape(s, shape));
    }
  } else if (sample.task == "describe") {
    sample.question = rng.pick<std::string>(
        {"Describe the image.", "What is in the image?", "List the objects in the image."});
    sample.answer = synth_describe(s);
  } else {
    const std::vector<const SynthObject*> candidates = askable(s, sample.task);
    VLM_ASSERT(!candidates.empty());
    const SynthObject& o = *rng.pick(candidates);
    const std::string shape = synth_shape_name(o.shape);
    if (sample.task == "color") {
      sample.question =
          rng.pick<std::string>({"What color is the " + shape + "?", "Which color is the " + shape + "?",
                                 "What is the color of the " + shape + "?"});
      sample.answer = synth_color_name(o.color);
    } else if (sample.task == "shape") {
      const std::string color = synth_color_name(o.color);
      sample.question =
          rng.pick<std::string>({"What shape is the " + color + " object?", "Which shape is " + color + "?",
                                 "What is the shape of the " + color + " object?"});
      sample.answer = "a " + shape;  // the words the describe task uses, so no untrained token is needed
    } else {
      const std::string name = std::string(synth_color_name(o.color)) + " " + shape;
      sample.question =
          rng.pick<std::string>({"Where is the " + name + "?", "Where is the " + name + " located?",
                                 "In which part of the image is the " + name + "?"});
      sample.answer = synth_position_name(s, o);
    }
  }
}

}  // namespace

const char* synth_shape_name(SynthShape shape) {
  switch (shape) {
    case SynthShape::kCircle:
      return "circle";
    case SynthShape::kSquare:
      return "square";
    case SynthShape::kTriangle:
      return "triangle";
  }
  return "?";
}
const char* synth_color_name(int color) {
  VLM_ASSERT(color >= 0 && color < kSynthColorCount);
  return kPalette[color].name;
}
std::array<uint8_t, 3> synth_color_rgb(int color) {
  VLM_ASSERT(color >= 0 && color < kSynthColorCount);
  return kPalette[color].rgb;
}

std::string synth_position_name(const SynthScene& scene, const SynthObject& o) {
  return kPositionNames[grid_cell(o.cy, scene.image_size)][grid_cell(o.cx, scene.image_size)];
}

std::string synth_describe(const SynthScene& scene) {
  if (scene.objects.empty()) return "nothing.";
  std::vector<SynthObject> order = scene.objects;
  std::sort(order.begin(), order.end(), [&](const SynthObject& a, const SynthObject& b) {
    const int ra = grid_cell(a.cy, scene.image_size), rb = grid_cell(b.cy, scene.image_size);
    if (ra != rb) return ra < rb;
    if (a.cx != b.cx) return a.cx < b.cx;
    return a.cy < b.cy;
  });
  std::string out;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0) out += i + 1 == order.size() ? " and " : ", ";
    const std::string color = synth_color_name(order[i].color);
    out += (std::string("aeiou").find(color[0]) != std::string::npos ? "an " : "a ") + color + " " +
           synth_shape_name(order[i].shape);
  }
  return out + ".";
}

std::vector<std::string> synth_answer_set(const std::string& task) {
  if (task == "count") {
    std::vector<std::string> out;
    for (int i = 0; i <= kMaxObjects; ++i) out.push_back(std::to_string(i));
    return out;
  }
  if (task == "color") {
    std::vector<std::string> out;
    for (const PaletteEntry& p : kPalette) out.push_back(p.name);
    return out;
  }
  if (task == "shape") {
    std::vector<std::string> out;
    for (int i = 0; i < kSynthShapeCount; ++i) out.push_back(std::string("a ") + synth_shape_name(static_cast<SynthShape>(i)));
    return out;
  }
  if (task == "position") {
    std::vector<std::string> out;
    for (const auto& row : kPositionNames) out.insert(out.end(), std::begin(row), std::end(row));
    return out;
  }
  return {};
}

SynthSample make_synth_sample(const SynthOptions& options, int64_t index) {
  static const std::vector<std::string> kTasks = {"count", "color", "shape", "position", "describe", "mixed"};
  VLM_CHECK(std::find(kTasks.begin(), kTasks.end(), options.task) != kTasks.end(),
            "synthetic data: task: expected \"count\", \"color\", \"shape\", \"position\", \"describe\" or "
            "\"mixed\", got ",
            quote(options.task));
  VLM_CHECK(options.image_size >= 32 && options.image_size <= 2048,
            "synthetic data: image size: expected 32..2048 pixels, got ", options.image_size);
  VLM_CHECK(index >= 0, "synthetic data: sample index must be >= 0, got ", index);
  // One stream per sample, from (seed, index): sample i does not depend on how many came before it.
  Rng rng(Rng(options.seed).next() ^ (static_cast<uint64_t>(index) * 0xD1B54A32D192ED03ull));
  SynthSample sample;
  sample.task =
      options.task == "mixed" ? rng.pick<std::string>({"describe", "color", "position"}) : options.task;
  const bool needs_object = sample.task == "color" || sample.task == "shape" || sample.task == "position";
  const int size = static_cast<int>(options.image_size);
  for (int tries = 0;; ++tries) {
    VLM_ASSERT(tries < kSceneTries);
    sample.scene = random_scene(rng, size, needs_object ? 1 : 0);
    if (!needs_object || !askable(sample.scene, sample.task).empty()) break;
  }
  ask(sample, rng);
  return sample;
}

}  // namespace vlm::train
