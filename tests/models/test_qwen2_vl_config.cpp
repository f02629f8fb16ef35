// Qwen2-VL / Qwen2.5-VL config.json parsing: both layouts, defaults, and errors naming the field.
// Golden comparisons against transformers' own parse of the fixture configs are in ParsesLikeTransformers.
#include <gtest/gtest.h>

#include "core/error.h"
#include "util/test_util.h"
#include "models/qwen2_vl/config.h"

using vlm::Json;
namespace q = vlm::qwen2_vl;

namespace {

// The text keys of Qwen2-VL-2B-Instruct's published config.json.
const char* kFlat2B = R"({
  "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
  "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
  "num_key_value_heads": 2, "vocab_size": 151936, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "tie_word_embeddings": true, "max_window_layers": 28, "sliding_window": 32768, "use_sliding_window": false,
  "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
  "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "torch_dtype": "bfloat16",
  "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
                    "hidden_size": 1536, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
                    "temporal_patch_size": 2}
})";

// The same model in transformers 5's nested layout.
const char* kNested2B = R"({
  "model_type": "qwen2_vl", "tie_word_embeddings": true, "image_token_id": 151655,
  "text_config": {"model_type": "qwen2_vl_text", "hidden_size": 1536, "intermediate_size": 8960,
                  "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
                  "vocab_size": 151936, "rms_norm_eps": 1e-06,
                  "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                      "mrope_section": [16, 24, 24]}},
  "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_channels": 3,
                    "hidden_size": 1536}
})";

void expect_2b(const q::Config& c) {
  EXPECT_EQ(c.model_type, "qwen2_vl");
  EXPECT_EQ(c.text.hidden_size, 1536);
  EXPECT_EQ(c.text.num_hidden_layers, 28);
  EXPECT_EQ(c.text.num_attention_heads, 12);
  EXPECT_EQ(c.text.num_key_value_heads, 2);
  EXPECT_EQ(c.text.head_dim, 128);
  EXPECT_EQ(c.text.vocab_size, 151936);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 1e6);
  EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{16, 24, 24}));
  EXPECT_TRUE(c.text.tie_word_embeddings);
  EXPECT_EQ(c.vision.depth, 32);
  EXPECT_EQ(c.vision.width, 1280);
  EXPECT_EQ(c.vision.out_width, 1536);
  EXPECT_EQ(c.vision.mlp_width, 5120);
  EXPECT_EQ(c.vision.in_channels, 3);
  EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
  EXPECT_EQ(c.image_token_id, 151655);
}

std::string error_of(const std::string& text) {
  try {
    q::parse_config(vlm::parse_json(text, "config.json"), "config.json");
  } catch (const vlm::Error& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST(Qwen2VLConfig, FlatHubLayout) {
  const q::Config c = q::parse_config(vlm::parse_json(kFlat2B, "config.json"), "config.json");
  expect_2b(c);
  EXPECT_FALSE(c.nested_text_config);
  EXPECT_EQ(c.dtype, "bfloat16");
}

TEST(Qwen2VLConfig, NestedTransformers5Layout) {
  const q::Config c = q::parse_config(vlm::parse_json(kNested2B, "config.json"), "config.json");
  expect_2b(c);
  EXPECT_TRUE(c.nested_text_config);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.text.max_position_embeddings, 32768);  // default
}

TEST(Qwen2VLConfig, Qwen25VisionKeys) {
  const char* text = R"({"model_type": "qwen2_5_vl", "hidden_size": 2048, "intermediate_size": 11008,
    "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2, "vocab_size": 151936,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "out_hidden_size": 2048,
                      "num_heads": 16, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]}})";
  const q::Config c = q::parse_config(vlm::parse_json(text, "config.json"), "config.json");
  EXPECT_TRUE(c.is_qwen2_5());
  EXPECT_EQ(c.vision.width, 1280);
  EXPECT_EQ(c.vision.out_width, 2048);
  EXPECT_EQ(c.vision.mlp_width, 3420);
  EXPECT_EQ(c.vision.hidden_act, "silu");
  EXPECT_EQ(c.vision.fullatt_block_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);  // transformers' default when absent
  EXPECT_FALSE(c.text.tie_word_embeddings);
}

TEST(Qwen2VLConfig, MissingAndIllTypedKeysAreNamed) {
  std::string broken = kFlat2B;
  broken.replace(broken.find("\"hidden_size\": 1536, "), 21, "");
  EXPECT_EQ(error_of(broken), "config.json: hidden_size: required field is missing");

  std::string nested = kNested2B;
  nested.replace(nested.find("\"num_hidden_layers\": 28"), 23, "\"num_hidden_layers\": \"28\"");
  EXPECT_EQ(error_of(nested), "config.json: text_config.num_hidden_layers: expected an integer, got a string");

  EXPECT_EQ(error_of(R"({"hidden_size": 8})"), "config.json: model_type: required field is missing");
  EXPECT_NE(error_of(R"({"model_type": "llama"})").find("expected \"qwen2_vl\" or \"qwen2_5_vl\""), std::string::npos);

  std::string no_vision = kFlat2B;
  no_vision.replace(no_vision.find("\"vision_config\""), 15, "\"vision_cfg\"");
  EXPECT_EQ(error_of(no_vision), "config.json: vision_config: required field is missing");

  std::string bad_section = kFlat2B;
  bad_section.replace(bad_section.find("[16, 24, 24]"), 12, "[16, 24, 23]");
  EXPECT_NE(error_of(bad_section).find("config.json: rope_scaling.mrope_section: expected 3 sections"),
            std::string::npos);

  std::string bad_heads = kFlat2B;
  bad_heads.replace(bad_heads.find("\"num_key_value_heads\": 2"), 24, "\"num_key_value_heads\": 5");
  EXPECT_NE(error_of(bad_heads).find("config.json: num_key_value_heads: num_attention_heads 12 is not a multiple"),
            std::string::npos);
}

// Configs written by transformers (scripts/fixtures/make_core_fixtures.py) and transformers' own reading of them.
TEST(Qwen2VLConfig, ParsesLikeTransformers) {
  const std::string dir = vlm::test::fixture("configs");
  int compared = 0;
  for (const std::string& path : vlm::test::list_dir(dir)) {
    if (path.size() < 14 || path.compare(path.size() - 14, 14, ".expected.json") != 0) continue;
    const std::string config_path = path.substr(0, path.size() - 14) + ".json";
    SCOPED_TRACE(config_path);
    const Json expected = vlm::read_json_file(path);
    const q::Config c = q::parse_config(vlm::read_json_file(config_path), config_path);
    const Json& t = expected.at("text");
    EXPECT_EQ(c.model_type, expected.at("model_type").get<std::string>());
    EXPECT_EQ(c.text.vocab_size, t.at("vocab_size").get<int64_t>());
    EXPECT_EQ(c.text.hidden_size, t.at("hidden_size").get<int64_t>());
    EXPECT_EQ(c.text.intermediate_size, t.at("intermediate_size").get<int64_t>());
    EXPECT_EQ(c.text.num_hidden_layers, t.at("num_hidden_layers").get<int64_t>());
    EXPECT_EQ(c.text.num_attention_heads, t.at("num_attention_heads").get<int64_t>());
    EXPECT_EQ(c.text.num_key_value_heads, t.at("num_key_value_heads").get<int64_t>());
    EXPECT_EQ(c.text.max_position_embeddings, t.at("max_position_embeddings").get<int64_t>());
    EXPECT_EQ(c.text.hidden_act, t.at("hidden_act").get<std::string>());
    EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, t.at("rms_norm_eps").get<double>());
    EXPECT_DOUBLE_EQ(c.text.rope_theta, t.at("rope_theta").get<double>());
    EXPECT_EQ(c.text.mrope_section, t.at("mrope_section").get<std::vector<int64_t>>());
    EXPECT_EQ(c.text.tie_word_embeddings, t.at("tie_word_embeddings").get<bool>());
    const Json& v = expected.at("vision");
    EXPECT_EQ(c.vision.depth, v.at("depth").get<int64_t>());
    EXPECT_EQ(c.vision.width, v.at("width").get<int64_t>());
    EXPECT_EQ(c.vision.out_width, v.at("out_width").get<int64_t>());
    EXPECT_EQ(c.vision.mlp_width, v.at("mlp_width").get<int64_t>());
    EXPECT_EQ(c.vision.num_heads, v.at("num_heads").get<int64_t>());
    EXPECT_EQ(c.vision.in_channels, v.at("in_channels").get<int64_t>());
    EXPECT_EQ(c.vision.patch_size, v.at("patch_size").get<int64_t>());
    EXPECT_EQ(c.vision.spatial_merge_size, v.at("spatial_merge_size").get<int64_t>());
    EXPECT_EQ(c.vision.temporal_patch_size, v.at("temporal_patch_size").get<int64_t>());
    EXPECT_EQ(c.vision.hidden_act, v.at("hidden_act").get<std::string>());
    if (c.is_qwen2_5()) {
      EXPECT_EQ(c.vision.window_size, v.at("window_size").get<int64_t>());
      EXPECT_EQ(c.vision.fullatt_block_indexes, v.at("fullatt_block_indexes").get<std::vector<int64_t>>());
    }
    EXPECT_EQ(c.image_token_id, expected.at("image_token_id").get<int64_t>());
    ++compared;
  }
  EXPECT_GE(compared, 4);
}
