// `vlm inspect`'s summary: parameter counts per component against what transformers counted for checkpoints it
// wrote itself (tests/fixtures/tiny-*, made by scripts/fixtures/make_core_fixtures.py).
#include <gtest/gtest.h>

#include "core/json.h"
#include "util/test_util.h"
#include "models/summary.h"

using vlm::Component;

TEST(Summary, MatchesTransformersParameterCounts) {
  const std::string root = vlm::test::fixture("");
  int compared = 0;
  for (const char* name : {"tiny-qwen2-vl", "tiny-qwen2-vl-flat", "tiny-qwen2-vl-sharded", "tiny-qwen2_5-vl"}) {
    const std::string dir = root + name;
    SCOPED_TRACE(dir);
    const vlm::Json expected = vlm::read_json_file(dir + "/expected_summary.json");
    auto s = vlm::summarize(vlm::safetensors::Checkpoint::open(dir));
    ASSERT_NE(s.family, nullptr);
    EXPECT_EQ(s.model_type, expected.at("model_type").get<std::string>());
    EXPECT_EQ(s.parameters[Component::kVision], expected.at("vision").get<uint64_t>());
    EXPECT_EQ(s.parameters[Component::kProjector], expected.at("projector").get<uint64_t>());
    EXPECT_EQ(s.parameters[Component::kLanguage], expected.at("language").get<uint64_t>());
    EXPECT_EQ(s.total_parameters, expected.at("total").get<uint64_t>());
    ++compared;
  }
  EXPECT_EQ(compared, 4);
}
