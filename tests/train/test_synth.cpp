// Synthetic scene datasets: determinism, canonical answers that agree with the scene, rendering decoded back
// through our own PNG decoder, and the written dataset loading through load_dataset.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <string>

#include "core/error.h"
#include "core/file.h"
#include "image/decode.h"
#include "train/dataset.h"
#include "train/synth.h"
#include "util/test_util.h"

namespace vlm::train {
namespace {

SynthOptions options(const std::string& task, int64_t n, uint64_t seed, const std::string& out_dir = "") {
  SynthOptions o;
  o.task = task;
  o.n = n;
  o.seed = seed;
  o.out_dir = out_dir;
  return o;
}

std::array<uint8_t, 3> pixel(const image::Image& img, int x, int y) {
  const uint8_t* p = img.row(y) + 3 * x;
  return {p[0], p[1], p[2]};
}

// Independent of the library's own helpers: the 3x3 cell of a centre.
std::string expected_position(const SynthScene& s, const SynthObject& o) {
  static const char* names[3][3] = {{"top left", "top", "top right"},
                                    {"left", "center", "right"},
                                    {"bottom left", "bottom", "bottom right"}};
  return names[std::min(2, o.cy * 3 / s.image_size)][std::min(2, o.cx * 3 / s.image_size)];
}

// The shape named in a question, and the colour named before it (or -1).
const SynthObject* named_object(const SynthScene& s, const std::string& question, bool with_color) {
  const SynthObject* found = nullptr;
  int matches = 0;
  for (const SynthObject& o : s.objects) {
    std::string name = synth_shape_name(o.shape);
    if (with_color) name = std::string(synth_color_name(o.color)) + " " + name;
    if (question.find(" " + name) != std::string::npos) {
      found = &o;
      ++matches;
    }
  }
  EXPECT_EQ(matches, 1) << question;
  return found;
}

TEST(Synth, ScenesAreValidAndAnswersAgreeWithThem) {
  for (const char* task : {"count", "color", "shape", "position", "describe"}) {
    const std::vector<std::string> canonical = synth_answer_set(task);
    std::set<std::string> seen;
    for (int64_t i = 0; i < 300; ++i) {
      const SynthSample s = make_synth_sample(options(task, 300, 11), i);
      ASSERT_EQ(s.task, task);
      const SynthScene& sc = s.scene;
      ASSERT_LE(sc.objects.size(), 6u);
      for (size_t a = 0; a < sc.objects.size(); ++a) {
        const SynthObject& o = sc.objects[a];
        EXPECT_TRUE(o.cx - o.r >= 1 && o.cy - o.r >= 1 && o.cx + o.r < sc.image_size - 1 &&
                    o.cy + o.r < sc.image_size - 1);
        for (size_t b = 0; b < a; ++b) {
          const SynthObject& p = sc.objects[b];
          EXPECT_TRUE(std::abs(o.cx - p.cx) > o.r + p.r || std::abs(o.cy - p.cy) > o.r + p.r)
              << "overlap in " << i;
        }
      }
      if (!canonical.empty()) {
        EXPECT_NE(std::find(canonical.begin(), canonical.end(), s.answer), canonical.end()) << s.answer;
      }
      seen.insert(s.answer);
      const std::string t = task;
      if (t == "count") {
        size_t want = sc.objects.size();
        for (SynthShape shape : {SynthShape::kCircle, SynthShape::kSquare, SynthShape::kTriangle})
          if (s.question.find(std::string(synth_shape_name(shape)) + "s") != std::string::npos)
            want = static_cast<size_t>(std::count_if(sc.objects.begin(), sc.objects.end(),
                                                     [&](const SynthObject& o) { return o.shape == shape; }));
        EXPECT_EQ(s.answer, std::to_string(want)) << s.question;
      } else if (t == "color") {
        const SynthObject* o = named_object(sc, s.question, false);
        if (o) {
          EXPECT_EQ(s.answer, synth_color_name(o->color)) << s.question;
        }
      } else if (t == "shape") {
        // The question names a colour that exactly one object has; the answer is that object's shape.
        int matches = 0;
        for (const SynthObject& o : sc.objects)
          if (std::regex_search(s.question, std::regex(std::string("\\b") + synth_color_name(o.color) + "\\b"))) {
            ++matches;
            EXPECT_EQ(s.answer, std::string("a ") + synth_shape_name(o.shape)) << s.question;
          }
        EXPECT_EQ(matches, 1) << s.question;
      } else if (t == "position") {
        const SynthObject* o = named_object(sc, s.question, true);
        if (o) {
          EXPECT_EQ(s.answer, expected_position(sc, *o)) << s.question;
        }
      } else {
        const std::string item = "an? (red|green|blue|yellow|purple|orange|black) (circle|square|triangle)";
        EXPECT_TRUE(std::regex_match(
            s.answer, std::regex("nothing\\.|" + item + "((, " + item + ")* and " + item + ")?\\.")))
            << s.answer;
        if (sc.objects.empty()) {
          EXPECT_EQ(s.answer, "nothing.");
        }
        const size_t words = static_cast<size_t>(std::count(s.answer.begin(), s.answer.end(), ' ') + 1) / 3;
        if (!sc.objects.empty()) {
          EXPECT_EQ(words, sc.objects.size()) << s.answer;
        }
      }
    }
    if (!canonical.empty()) {
      EXPECT_GE(seen.size(), canonical.size() / 2) << task << ": answers barely vary";
    }
  }
}

TEST(Synth, MixedNeverAsksToCountOrForShapes) {
  std::set<std::string> tasks;
  for (int64_t i = 0; i < 200; ++i) tasks.insert(make_synth_sample(options("mixed", 200, 5), i).task);
  EXPECT_EQ(tasks, (std::set<std::string>{"color", "describe", "position"}));
}

TEST(Synth, DescribeListsObjectsInReadingOrder) {
  SynthScene s;
  s.image_size = 90;                                       // grid rows: y < 30, 30..59, >= 60
  s.objects = {{SynthShape::kSquare, 5, 0, 70, 40, 5},     // middle row, right
               {SynthShape::kCircle, 0, 0, 50, 10, 5},     // top row, centre
               {SynthShape::kTriangle, 6, 0, 10, 45, 5}};  // middle row, left
  EXPECT_EQ(synth_describe(s), "a red circle, a black triangle and an orange square.");
  s.objects.resize(1);
  EXPECT_EQ(synth_describe(s), "an orange square.");
  s.objects.clear();
  EXPECT_EQ(synth_describe(s), "nothing.");
}

TEST(Synth, RenderDecodesBackWithObjectColours) {
  const std::string dir = vlm::test::temp_dir("synth-render");
  for (int64_t i = 0; i < 20; ++i) {
    const SynthSample s = make_synth_sample(options("describe", 20, 3), i);
    const image::Image rendered = render_synth_scene(s.scene);
    const std::string path = dir + "/" + std::to_string(i) + ".png";
    write_png_rgb(path, rendered);
    const image::Image decoded = image::load_image_file(path);
    ASSERT_EQ(decoded.width, 112);
    ASSERT_EQ(decoded.height, 112);
    EXPECT_EQ(decoded.format, "PNG");
    EXPECT_EQ(decoded.pixels, rendered.pixels) << path;
    EXPECT_EQ(pixel(decoded, 0, 0), s.scene.background_a);
    for (const SynthObject& o : s.scene.objects)
      EXPECT_EQ(pixel(decoded, o.cx, o.cy), synth_color_rgb(o.color))
          << path << " object at " << o.cx << "," << o.cy;
  }
  vlm::test::remove_tree(dir);
}

TEST(Synth, ShapesCoverTheirDefinedPixels) {
  SynthScene s;
  s.image_size = 64;
  s.background_a = s.background_b = {250, 250, 250};
  s.objects = {{SynthShape::kCircle, 0, 2, 12, 12, 8},
               {SynthShape::kSquare, 1, 2, 40, 12, 8},
               {SynthShape::kTriangle, 2, 2, 20, 44, 8}};
  const image::Image img = render_synth_scene(s);
  const auto red = synth_color_rgb(0), green = synth_color_rgb(1), blue = synth_color_rgb(2);
  const std::array<uint8_t, 3> bg = {250, 250, 250};
  EXPECT_EQ(pixel(img, 20, 12), red);    // circle: rightmost point (dx = r)
  EXPECT_EQ(pixel(img, 20, 13), bg);     // 64 + 1 > 64
  EXPECT_EQ(pixel(img, 4, 4), bg);       // box corner
  EXPECT_EQ(pixel(img, 47, 19), green);  // square: half side 8 - 1 = 7
  EXPECT_EQ(pixel(img, 48, 12), bg);
  EXPECT_EQ(pixel(img, 20, 36), blue);  // triangle apex
  EXPECT_EQ(pixel(img, 19, 36), bg);
  EXPECT_EQ(pixel(img, 12, 52), blue);  // base corners
  EXPECT_EQ(pixel(img, 28, 52), blue);
  EXPECT_EQ(pixel(img, 12, 51), bg);
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherData) {
  const std::string a = vlm::test::temp_dir("synth-a"), b = vlm::test::temp_dir("synth-b"),
                    c = vlm::test::temp_dir("synth-c");
  EXPECT_EQ(write_synth_dataset(options("mixed", 12, 42, a + "/out")), 12);
  write_synth_dataset(options("mixed", 12, 42, b + "/out"));
  write_synth_dataset(options("mixed", 12, 43, c + "/out"));
  const auto files_a = vlm::test::list_dir(a + "/out/images");
  ASSERT_EQ(files_a.size(), 12u);
  EXPECT_EQ(path_filename(files_a[0]), "000000.png");
  for (const std::string& f : files_a)
    EXPECT_EQ(read_file(f, 1 << 20), read_file(b + "/out/images/" + path_filename(f), 1 << 20)) << f;
  EXPECT_EQ(read_file(a + "/out/data.jsonl", 1 << 20), read_file(b + "/out/data.jsonl", 1 << 20));
  EXPECT_NE(read_file(a + "/out/data.jsonl", 1 << 20), read_file(c + "/out/data.jsonl", 1 << 20));
  EXPECT_NE(read_file(a + "/out/images/000000.png", 1 << 20),
            read_file(c + "/out/images/000000.png", 1 << 20));
  // A smaller n is a prefix of a larger one.
  EXPECT_EQ(make_synth_sample(options("mixed", 5, 42), 3).answer,
            make_synth_sample(options("mixed", 500, 42), 3).answer);
  for (const auto& d : {a, b, c}) vlm::test::remove_tree(d);
}

TEST(Synth, WrittenDatasetLoadsThroughLoadDataset) {
  const std::string dir = vlm::test::temp_dir("synth-load");
  SynthOptions o = options("count", 15, 9, dir + "/count");
  o.image_size = 64;
  ASSERT_EQ(write_synth_dataset(o), 15);
  const Dataset d = load_dataset(dir + "/count/data.jsonl");
  ASSERT_EQ(d.samples.size(), 15u);
  for (size_t i = 0; i < d.samples.size(); ++i) {
    const SynthSample want = make_synth_sample(o, static_cast<int64_t>(i));
    const DatasetSample& got = d.samples[i];
    ASSERT_EQ(got.images.size(), 1u);
    EXPECT_EQ(image::load_image_file(got.images[0]).width, 64);
    EXPECT_EQ(got.messages[0]["content"][0], Json({{"type", "image"}}));
    EXPECT_EQ(got.messages[0]["content"][1]["text"], want.question);
    EXPECT_EQ(got.messages[1]["role"], "assistant");
    EXPECT_EQ(got.messages[1]["content"][0]["text"], want.answer);
  }
  vlm::test::remove_tree(dir);
}

TEST(Synth, ErrorsNameTheProblem) {
  auto error_of = [](const SynthOptions& o) -> std::string {
    try {
      write_synth_dataset(o);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "accepted";
    return "";
  };
  const std::string dir = vlm::test::temp_dir("synth-errors");
  EXPECT_NE(error_of(options("counting", 3, 0, dir + "/x")).find("task: expected \"count\""),
            std::string::npos);
  EXPECT_NE(error_of(options("count", 0, 0, dir + "/x")).find("number of samples"), std::string::npos);
  SynthOptions tiny = options("count", 3, 0, dir + "/x");
  tiny.image_size = 8;
  EXPECT_NE(error_of(tiny).find("image size: expected 32..2048"), std::string::npos);
  vlm::test::write_bytes(dir + "/file", "x");
  const std::string m = error_of(options("count", 3, 0, dir + "/file/sub"));
  EXPECT_NE(m.find(dir + "/file/sub: cannot create the folder"), std::string::npos) << m;
  vlm::test::remove_tree(dir);
}

}  // namespace
}  // namespace vlm::train
