// Qwen2-VL / Qwen2.5-VL image processor against transformers 5's PIL image processor: pixel values (within 1e-6), shapes,
// and what the text side needs (grids, token counts, tiles, crops), for every golden case of the family.
#include <gtest/gtest.h>

#include "core/error.h"
#include "image/decode.h"
#include "image/processors.h"
#include "image_test_util.h"

namespace vlm::image {
namespace {

TEST(Qwen2VlProcessor, MatchesTransformers) {
  if (!test::goldens()) GTEST_SKIP() << test::missing_goldens_message();
  const auto cases = test::processor_cases({"qwen2_vl"});
  ASSERT_FALSE(cases.empty()) << "goldens.json has no qwen2_vl processor cases";
  for (const Json& c : cases) {
    SCOPED_TRACE(c.at("case").get<std::string>());
    EXPECT_EQ(test::check_processor_case(c), "");
  }
}

// Rows, grids and token counts must agree: rows = t*h*w per image, tokens = rows / merge^2.
TEST(Qwen2VlProcessor, PlaceholdersAgreeWithRows) {
  if (!test::goldens()) GTEST_SKIP() << test::missing_goldens_message();
  for (const Json& c : test::processor_cases({"qwen2_vl"})) {
    if (c.contains("error")) continue;
    const auto config = load_image_processor_config(test::image_fixture(c.at("config_dir")));
    std::vector<Image> images;
    for (const Json& f : c.at("images")) images.push_back(load_image_file(test::image_fixture("inputs/" + f.get<std::string>())));
    const ProcessedImages out = make_image_processor(config)->process(images);
    int64_t rows = 0;
    for (const ImagePlaceholder& p : out.images) {
      EXPECT_EQ(p.num_frames, p.grid_thw[0] * p.grid_thw[1] * p.grid_thw[2]);
      EXPECT_EQ(p.num_tokens * config.merge_size * config.merge_size, p.num_frames);
      EXPECT_EQ(p.grid_thw[1] % config.merge_size, 0);
      rows += p.num_frames;
    }
    EXPECT_EQ(out.pixel_values.shape[0], rows);
    EXPECT_EQ(out.pixel_values.shape[1], 3 * config.temporal_patch_size * config.patch_size * config.patch_size);
  }
}

TEST(Qwen2VlProcessor, ExtremeAspectRatioIsAClearError) {
  try {
    detail::smart_resize(4, 1000, 28, 3136, 6272, "cfg");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("aspect ratio"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vlm::image
