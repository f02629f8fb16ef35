// Pillow-identical uint8 resizing: every filter, up and down, on RGB, RGBA (premultiplied), L, LA, P (forced
// NEAREST), a 1x1 source, a very tall source (Pillow 12 resizes those vertically first) and a 4000x300 JPEG.
#include <gtest/gtest.h>

#include "core/error.h"
#include "image/decode.h"
#include "image/resample.h"
#include "image_test_util.h"

namespace vlm::image {
namespace {

TEST(ImageResample, MatchesPillowForEveryFilter) {
  const test::Goldens* g = test::goldens();
  if (!g) GTEST_SKIP() << test::missing_goldens_message();
  int checked = 0, failed = 0;
  for (const Json& c : g->doc.at("resize")) {
    const std::string file = c.at("file");
    const int w = c.at("width"), h = c.at("height");
    const Filter filter = filter_from_code(c.at("code").get<int64_t>());
    const Image src = decode_image_file(test::image_fixture("inputs/" + file));
    ASSERT_EQ(mode_name(src.mode), c.at("mode").get<std::string>()) << file;
    const Image out = resize(src, w, h, filter);
    EXPECT_EQ(out.width, w);
    EXPECT_EQ(out.height, h);
    const std::string diff = test::compare_bytes(out.pixels, g->u8(c.at("tensor")));
    if (!diff.empty()) ++failed;
    EXPECT_EQ(diff, "") << file << " " << filter_name(filter) << " to " << w << "x" << h;
    ++checked;
  }
  EXPECT_GE(checked, 90);
  EXPECT_EQ(failed, 0);
}

TEST(ImageResample, SameSizeIsACopy) {
  const Image src = decode_image_file(test::image_fixture("inputs/rgb_37x23.png"));
  for (int code = 0; code <= 5; ++code) EXPECT_EQ(resize(src, 37, 23, filter_from_code(code)).pixels, src.pixels);
}

TEST(ImageResample, RejectsBadArguments) {
  const Image src = decode_image_file(test::image_fixture("inputs/rgb_37x23.png"));
  EXPECT_THROW(resize(src, 0, 5, Filter::kBilinear), Error);
  EXPECT_THROW(resize(src, 5, -1, Filter::kBilinear), Error);
  EXPECT_THROW(filter_from_code(6), Error);
  EXPECT_THROW(filter_from_code(-1), Error);
  const Image cmyk = decode_image_file(test::image_fixture("inputs/cmyk_40x30.jpg"));
  EXPECT_THROW(resize(cmyk, 10, 10, Filter::kBicubic), Error);
}

TEST(ImageResample, FloatPathRoundTripsThroughUint8) {
  // transformers' resize of a [0, 1] float image: x*255 truncated to uint8, Pillow, then /255.
  const Image src = decode_image_file(test::image_fixture("inputs/rgb_37x23.png"));
  std::vector<float> chw(3 * src.pixel_count());
  for (size_t i = 0; i < src.pixel_count(); ++i)
    for (int c = 0; c < 3; ++c) chw[c * src.pixel_count() + i] = static_cast<float>(src.pixels[3 * i + c] / 255.0);
  const std::vector<float> out = resize_float01(chw, 3, 37, 23, 20, 11, Filter::kBicubic);
  const Image direct = resize(src, 20, 11, Filter::kBicubic);
  // Truncating v/255*255 can give v-1 when the float product falls just below v.
  for (size_t i = 0; i < direct.pixel_count(); ++i)
    for (int c = 0; c < 3; ++c) {
      const float f = out[c * direct.pixel_count() + i];
      EXPECT_NEAR(f * 255.0f, direct.pixels[3 * i + c], 3.01f);
    }
}

}  // namespace
}  // namespace vlm::image
