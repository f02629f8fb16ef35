// Idefics3 and SmolVLM image processor against transformers 5's PIL image processor: pixel values (within 1e-6), shapes,
// and what the text side needs (grids, token counts, tiles, crops), for every golden case of the family.
#include <gtest/gtest.h>

#include "core/error.h"
#include "image/decode.h"
#include "image/processors.h"
#include "image_test_util.h"

namespace vlm::image {
namespace {

TEST(Idefics3Processor, MatchesTransformers) {
  if (!test::goldens()) GTEST_SKIP() << test::missing_goldens_message();
  const auto cases = test::processor_cases({"idefics3","smolvlm"});
  ASSERT_FALSE(cases.empty()) << "goldens.json has no idefics3 processor cases";
  for (const Json& c : cases) {
    SCOPED_TRACE(c.at("case").get<std::string>());
    EXPECT_EQ(test::check_processor_case(c), "");
  }
}

// Tiles come row by row plus one global image; the mask covers every frame.
TEST(Idefics3Processor, FramesAgreeWithRowsAndColumns) {
  if (!test::goldens()) GTEST_SKIP() << test::missing_goldens_message();
  for (const Json& c : test::processor_cases({"idefics3", "smolvlm"})) {
    const auto config = load_image_processor_config(test::image_fixture(c.at("config_dir")));
    std::vector<Image> images;
    for (const Json& f : c.at("images")) images.push_back(load_image_file(test::image_fixture("inputs/" + f.get<std::string>())));
    const ProcessedImages out = make_image_processor(config)->process(images);
    int64_t frames = 0;
    for (const ImagePlaceholder& p : out.images) {
      EXPECT_EQ(p.num_frames, p.rows == 0 ? 1 : p.rows * p.cols + 1);
      EXPECT_EQ(p.num_tokens, config.image_seq_len * p.num_frames);
      frames += p.num_frames;
    }
    ASSERT_EQ(out.pixel_attention_mask.shape.size(), 3u);
    EXPECT_EQ(out.pixel_attention_mask.shape[0], frames);
    EXPECT_EQ(out.pixel_values.shape[0], frames);
  }
}

}  // namespace
}  // namespace vlm::image
