// Gemma 3 image processor against transformers 5's PIL image processor: pixel values (within 1e-6), shapes,
// and what the text side needs (grids, token counts, tiles, crops), for every golden case of the family.
#include <gtest/gtest.h>

#include "core/error.h"
#include "image/decode.h"
#include "image/processors.h"
#include "image_test_util.h"

namespace vlm::image {
namespace {

TEST(Gemma3Processor, MatchesTransformers) {
  if (!test::goldens()) GTEST_SKIP() << test::missing_goldens_message();
  const auto cases = test::processor_cases({"gemma3"});
  ASSERT_FALSE(cases.empty()) << "goldens.json has no gemma3 processor cases";
  for (const Json& c : cases) {
    SCOPED_TRACE(c.at("case").get<std::string>());
    EXPECT_EQ(test::check_processor_case(c), "");
  }
}

// Each image is followed by its pan-and-scan crops.
TEST(Gemma3Processor, FramesAreImagesPlusCrops) {
  if (!test::goldens()) GTEST_SKIP() << test::missing_goldens_message();
  for (const Json& c : test::processor_cases({"gemma3"})) {
    const auto config = load_image_processor_config(test::image_fixture(c.at("config_dir")));
    std::vector<Image> images;
    for (const Json& f : c.at("images")) images.push_back(load_image_file(test::image_fixture("inputs/" + f.get<std::string>())));
    const ProcessedImages out = make_image_processor(config)->process(images);
    int64_t frames = 0;
    for (const ImagePlaceholder& p : out.images) {
      EXPECT_EQ(p.num_frames, p.num_crops + 1);
      if (!config.do_pan_and_scan) {
        EXPECT_EQ(p.num_crops, 0);
      }
      frames += p.num_frames;
    }
    EXPECT_EQ(out.pixel_values.shape[0], frames);
  }
}

}  // namespace
}  // namespace vlm::image
