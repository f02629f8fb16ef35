// Reading preprocessor_config.json / processor_config.json: family detection, transformers' class defaults for
// absent or null keys, get_size_dict's reading of int and pair sizes, the nested transformers 5 layout, and
// errors that name the file and the field.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/file.h"
#include "image/processor.h"
#include "image/processor_config.h"
#include "image_test_util.h"
#include "util/test_util.h"

namespace vlm::image {
namespace {

ImageProcessorConfig parse(const std::string& text, const std::string& processor = "{}") {
  return parse_image_processor_config(parse_json(text, "pp.json"), parse_json(processor, "proc.json"), "pp.json");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ImageProcessorConfig, FamiliesFromTypeOrProcessorClass) {
  EXPECT_EQ(parse(R"({"image_processor_type": "Qwen2VLImageProcessorFast"})").family, Family::kQwen2VL);
  EXPECT_EQ(parse(R"({"image_processor_type": "CLIPImageProcessor"})").family, Family::kClip);
  EXPECT_EQ(parse(R"({"image_processor_type": "CLIPImageProcessor"})", R"({"processor_class": "LlavaProcessor"})").family,
            Family::kLlava);
  EXPECT_EQ(parse(R"({"image_processor_type": "SiglipImageProcessorPil"})").family, Family::kSiglip);
  EXPECT_EQ(parse(R"({"image_processor_type": "SmolVLMImageProcessor"})").family, Family::kSmolVLM);
  EXPECT_EQ(parse(R"({"processor_class": "Gemma3Processor"})").family, Family::kGemma3);
  EXPECT_NE(error_of(R"({"image_processor_type": "FooImageProcessor"})").find("FooImageProcessor"), std::string::npos);
  EXPECT_NE(error_of(R"({})").find("image_processor_type"), std::string::npos);
}

TEST(ImageProcessorConfig, NullAndAbsentKeysTakeClassDefaults) {
  const auto c = parse(R"({"image_processor_type": "Gemma3ImageProcessor", "do_pan_and_scan": null, "resample": null})");
  EXPECT_EQ(c.resample, Filter::kBilinear);
  EXPECT_FALSE(c.do_pan_and_scan);
  EXPECT_EQ(c.size.height, 224);
  EXPECT_EQ(c.image_seq_len, 256);
  const auto q = parse(R"({"image_processor_type": "Qwen2VLImageProcessor"})");
  EXPECT_EQ(q.min_pixels, 56 * 56);
  EXPECT_EQ(q.max_pixels, 28 * 28 * 1280);
  EXPECT_EQ(q.resample, Filter::kBicubic);
  EXPECT_FLOAT_EQ(static_cast<float>(q.image_mean[0]), 0.48145466f);
}

TEST(ImageProcessorConfig, SizeForms) {
  // An int is a shortest edge when default_to_square is false (CLIP, SigLIP), a square otherwise.
  const auto clip = parse(R"({"image_processor_type": "CLIPImageProcessor", "size": 336, "crop_size": 336})");
  EXPECT_EQ(clip.size.shortest_edge, 336);
  EXPECT_EQ(clip.size.height, 0);
  EXPECT_EQ(clip.crop_size.height, 336);
  EXPECT_EQ(clip.crop_size.width, 336);
  const auto gemma = parse(R"({"image_processor_type": "Gemma3ImageProcessor", "size": 896})");
  EXPECT_EQ(gemma.size.height, 896);
  const auto pair = parse(R"({"image_processor_type": "SiglipImageProcessor", "size": [30, 40]})");
  EXPECT_EQ(pair.size.height, 30);
  EXPECT_EQ(pair.size.width, 40);
  // Qwen2-VL: top-level min/max_pixels win over size.
  const auto q = parse(R"({"image_processor_type": "Qwen2VLImageProcessor", "min_pixels": 100,
                           "size": {"shortest_edge": 50, "longest_edge": 999}})");
  EXPECT_EQ(q.min_pixels, 100);
  EXPECT_EQ(q.max_pixels, 999);
}

TEST(ImageProcessorConfig, ErrorsNameFileAndField) {
  const std::string bad_size = error_of(R"({"image_processor_type": "CLIPImageProcessor", "size": "big"})");
  EXPECT_NE(bad_size.find("pp.json: size"), std::string::npos) << bad_size;
  const std::string bad_field = error_of(R"({"image_processor_type": "CLIPImageProcessor", "size": {"side": 3}})");
  EXPECT_NE(bad_field.find("side"), std::string::npos) << bad_field;
  const std::string bad_mean = error_of(R"({"image_processor_type": "CLIPImageProcessor", "image_mean": [1, 2]})");
  EXPECT_NE(bad_mean.find("image_mean"), std::string::npos) << bad_mean;
  const std::string bad_resample = error_of(R"({"image_processor_type": "CLIPImageProcessor", "resample": 9})");
  EXPECT_NE(bad_resample.find("resample"), std::string::npos) << bad_resample;
  const std::string bad_bool = error_of(R"({"image_processor_type": "CLIPImageProcessor", "do_resize": "yes"})");
  EXPECT_NE(bad_bool.find("do_resize"), std::string::npos) << bad_bool;
  const std::string zero_std = error_of(R"({"image_processor_type": "CLIPImageProcessor", "image_std": 0})");
  EXPECT_NE(zero_std.find("image_std"), std::string::npos) << zero_std;
}

TEST(ImageProcessorConfig, NestedProcessorConfigOverridesFlatFile) {
  const std::string dir = vlm::test::temp_dir("imgcfg");
  vlm::test::write_bytes(path_join(dir, "preprocessor_config.json"),
                         R"({"image_processor_type": "Idefics3ImageProcessor", "max_image_size": {"longest_edge": 364}})");
  vlm::test::write_bytes(path_join(dir, "processor_config.json"),
                         R"({"processor_class": "Idefics3Processor", "image_seq_len": 81,
                             "image_processor": {"max_image_size": {"longest_edge": 512}}})");
  const auto c = load_image_processor_config(dir);
  EXPECT_EQ(c.family, Family::kIdefics3);
  EXPECT_EQ(c.max_image_size, 512);
  EXPECT_EQ(c.image_seq_len, 81);
  EXPECT_EQ(c.resample, Filter::kLanczos);
  EXPECT_THROW(load_image_processor_config(path_join(dir, "missing")), Error);
}

TEST(ImageProcessorConfig, EveryGoldenConfigLoads) {
  const test::Goldens* g = test::goldens();
  if (!g) GTEST_SKIP() << test::missing_goldens_message();
  for (const Json& c : g->doc.at("processor")) {
    SCOPED_TRACE(c.at("case").get<std::string>());
    const auto config = load_image_processor_config(test::image_fixture(c.at("config_dir")));
    const std::string family = c.at("family");
    EXPECT_EQ(family_name(config.family), family);
    EXPECT_NE(make_image_processor(config), nullptr);
  }
}

TEST(ImageProcessorConfig, EmptyImageListIsAnError) {
  const auto p = make_image_processor(parse(R"({"image_processor_type": "SiglipImageProcessor"})"));
  EXPECT_THROW(p->process({}), Error);
}

}  // namespace
}  // namespace vlm::image
