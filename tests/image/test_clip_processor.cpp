// CLIP and LLaVA-1.5 image processor against transformers 5's PIL image processor: pixel values (within 1e-6), shapes,
// and what the text side needs (grids, token counts, tiles, crops), for every golden case of the family.
#include <gtest/gtest.h>

#include "image_test_util.h"

namespace vlm::image {
namespace {

TEST(ClipProcessor, MatchesTransformers) {
  if (!test::goldens()) GTEST_SKIP() << test::missing_goldens_message();
  const auto cases = test::processor_cases({"clip","llava"});
  ASSERT_FALSE(cases.empty()) << "goldens.json has no clip processor cases";
  for (const Json& c : cases) {
    SCOPED_TRACE(c.at("case").get<std::string>());
    EXPECT_EQ(test::check_processor_case(c), "");
  }
}

}  // namespace
}  // namespace vlm::image
