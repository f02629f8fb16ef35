// EXIF orientation: all 8 orientations (JPEG EXIF), XMP-only orientation, PNG eXIf and WebP EXIF, against
// PIL.ImageOps.exif_transpose; and the EXIF parser on hand-made and hostile blocks.
#include <gtest/gtest.h>

#include <string>

#include "image/decode.h"
#include "image/exif.h"
#include "image_test_util.h"

namespace vlm::image {
namespace {

TEST(ImageExif, TransposedPixelsMatchPillow) {
  const test::Goldens* g = test::goldens();
  if (!g) GTEST_SKIP() << test::missing_goldens_message();
  int checked = 0;
  for (const Json& c : g->doc.at("exif")) {
    const std::string file = c.at("file");
    std::vector<int64_t> shape;
    const std::vector<uint8_t> expected = g->u8(c.at("tensor"), &shape);
    const Image rgb = load_image_file(test::image_fixture("inputs/" + file));
    ASSERT_EQ(shape.size(), 3u);
    EXPECT_EQ(rgb.height, shape[0]) << file;
    EXPECT_EQ(rgb.width, shape[1]) << file;
    EXPECT_EQ(test::compare_bytes(rgb.pixels, expected), "") << file;
    ++checked;
  }
  EXPECT_GE(checked, 11);
}

TEST(ImageExif, OrientationIsRecordedNotApplied) {
  const Image raw = decode_image_file(test::image_fixture("inputs/exif_o6_40x24.jpg"));
  EXPECT_EQ(raw.orientation, 6);
  EXPECT_EQ(raw.width, 40);
  const Image turned = apply_exif_orientation(raw);
  EXPECT_EQ(turned.width, 24);
  EXPECT_EQ(turned.height, 40);
  EXPECT_EQ(turned.orientation, 1);
  EXPECT_EQ(decode_image_file(test::image_fixture("inputs/xmp_o8_40x24.jpg")).orientation, 8);
  EXPECT_EQ(decode_image_file(test::image_fixture("inputs/png_exif_o6_37x23.png")).orientation, 6);
  EXPECT_EQ(decode_image_file(test::image_fixture("inputs/webp_exif_o3_40x24.webp")).orientation, 3);
  EXPECT_EQ(decode_image_file(test::image_fixture("inputs/rgb_37x23.png")).orientation, 1);
}

std::string tiff(bool little, uint16_t tag, uint16_t type, uint32_t count, uint32_t value) {
  auto u16 = [&](uint16_t v) {
    return little ? std::string{char(v & 0xFF), char(v >> 8)} : std::string{char(v >> 8), char(v & 0xFF)};
  };
  auto u32 = [&](uint32_t v) { return little ? u16(v & 0xFFFF) + u16(v >> 16) : u16(v >> 16) + u16(v & 0xFFFF); };
  // A SHORT sits in the first two bytes of the value field in both byte orders.
  const std::string value_field = type == 3 ? u16(static_cast<uint16_t>(value)) + u16(0) : u32(value);
  return std::string(little ? "II" : "MM") + u16(42) + u32(8) + u16(1) + u16(tag) + u16(type) + u32(count) +
         value_field + u32(0);
}

int orientation_of(const std::string& block) {
  return exif_orientation(reinterpret_cast<const uint8_t*>(block.data()), block.size());
}

TEST(ImageExif, ParserReadsBothByteOrdersAndTypes) {
  EXPECT_EQ(orientation_of(tiff(true, 0x0112, 3, 1, 6)), 6);
  EXPECT_EQ(orientation_of(tiff(false, 0x0112, 3, 1, 8)), 8);
  EXPECT_EQ(orientation_of(tiff(true, 0x0112, 4, 1, 3)), 3);          // LONG
  EXPECT_EQ(orientation_of(std::string("Exif\0\0", 6) + tiff(true, 0x0112, 3, 1, 5)), 5);
  EXPECT_EQ(orientation_of(tiff(true, 0x0112, 3, 2, 6)), 0);          // two values: present but unusable
  EXPECT_EQ(orientation_of(tiff(true, 0x0100, 3, 1, 6)), -1);         // another tag
  EXPECT_EQ(orientation_of(tiff(true, 0x0112, 99, 1, 6)), -1);        // unknown type: skipped, as Pillow does
}

TEST(ImageExif, ParserSurvivesHostileBlocks) {
  const std::string good = tiff(true, 0x0112, 3, 1, 6);
  for (size_t n = 0; n < good.size(); ++n) EXPECT_LE(orientation_of(good.substr(0, n)), 6);  // every truncation
  std::string far_ifd = good;
  far_ifd[4] = '\xFF', far_ifd[5] = '\xFF', far_ifd[6] = '\xFF', far_ifd[7] = '\x7F';
  EXPECT_EQ(orientation_of(far_ifd), -1);
  std::string many = good;
  many[8] = '\xFF', many[9] = '\xFF';  // 65535 entries declared, one present
  EXPECT_EQ(orientation_of(many), 6);
  EXPECT_EQ(orientation_of("XX*\0\x08\0\0\0"), -1);
}

TEST(ImageExif, XmpAndPrecedence) {
  EXPECT_EQ(xmp_orientation("<x tiff:Orientation=\"6\"/>"), 6);
  EXPECT_EQ(xmp_orientation("<tiff:Orientation>3</tiff:Orientation>"), 3);
  EXPECT_EQ(xmp_orientation("tiff:Orientation=7"), -1);
  EXPECT_EQ(xmp_orientation(""), -1);
  EXPECT_EQ(resolve_orientation(-1, 5), 5);
  EXPECT_EQ(resolve_orientation(0, 5), 0);  // EXIF tag present: XMP is not consulted
  EXPECT_EQ(resolve_orientation(-1, -1), 1);
}

TEST(ImageExif, TransposesCompose) {
  Image im = make_image(3, 2, Mode::kL);
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>(i);
  // Rotating 90 degrees clockwise (6) then counter-clockwise (8) is the identity; so are the flips twice.
  EXPECT_EQ(apply_orientation(apply_orientation(im, 6), 8).pixels, im.pixels);
  EXPECT_EQ(apply_orientation(apply_orientation(im, 2), 2).pixels, im.pixels);
  EXPECT_EQ(apply_orientation(apply_orientation(im, 5), 5).pixels, im.pixels);
  EXPECT_EQ(apply_orientation(apply_orientation(im, 7), 7).pixels, im.pixels);
  EXPECT_EQ(apply_orientation(apply_orientation(im, 3), 3).pixels, im.pixels);
  EXPECT_EQ(apply_orientation(im, 9).pixels, im.pixels);
}

}  // namespace
}  // namespace vlm::image
