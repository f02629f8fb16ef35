// Corrupt and hostile images: each is rejected with a vlm::Error that names the file and says what is wrong in
// our words (no library internals, no addresses). Every truncation and many byte flips of valid files either
// fail cleanly or decode to the full image: never a crash, a hang or a partial image. Run under the sanitizers.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "core/error.h"
#include "image/decode.h"
#include "image_test_util.h"

namespace vlm::image {
namespace {

TEST(ImageHostile, EveryHostileFixtureIsRejectedClearly) {
  const test::Goldens* g = test::goldens();
  if (!g) GTEST_SKIP() << test::missing_goldens_message();
  int checked = 0;
  for (const Json& c : g->doc.at("hostile")) {
    const std::string file = c.at("file"), expect = c.at("expect");
    SCOPED_TRACE(file);
    try {
      const Image im = decode_image_file(test::image_fixture("hostile/" + file));
      ADD_FAILURE() << "decoded a " << im.width << "x" << im.height << " image instead of failing";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(expect), std::string::npos) << what;
      EXPECT_NE(what.find(file), std::string::npos) << "the message must name the file: " << what;
      EXPECT_FALSE(std::regex_search(what, std::regex("\\b0x[0-9a-fA-F]{6,}"))) << "looks like an address: " << what;
      EXPECT_EQ(what.find("libpng"), std::string::npos) << what;
      EXPECT_EQ(e.kind(), ErrorKind::kUser);
    }
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

TEST(ImageHostile, BytesOriginIsNamed) {
  try {
    decode_image(std::string("\x89PNG\r\n\x1a\n", 8), "<bytes>");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("<bytes>: ", 0), 0u) << e.what();
  }
}

// Decoding every prefix must fail or give exactly the full image (a PNG missing only IEND, a GIF cut after its
// first frame are fine, as in Pillow).
TEST(ImageHostile, TruncationNeverGivesAPartialImage) {
  for (const char* file : {"rgb_37x23.png", "rgb_adam7_29x19.png", "progressive_80x60.jpg", "rgb444_64x48.jpg",
                           "lossy_64x48.webp", "lossless_rgba_45x33.webp", "gif_trns_40x30.gif", "p8_40x30.bmp",
                           "exif_o6_40x24.jpg"}) {
    SCOPED_TRACE(file);
    const std::string bytes = test::read_fixture_bytes(std::string("inputs/") + file);
    const Image full = decode_image(bytes, file);
    const size_t step = bytes.size() / 97 + 1;
    for (size_t n = 0; n < bytes.size(); n += (n < 64 ? 1 : step)) {
      try {
        const Image im = decode_image(bytes.substr(0, n), file);
        EXPECT_EQ(im.pixels, full.pixels) << "partial image from the first " << n << " bytes";
      } catch (const Error&) {
      }
    }
  }
}

// Byte flips across headers and data: must not crash (the sanitizer build checks memory safety).
TEST(ImageHostile, ByteFlipsNeverCrash) {
  for (const char* file : {"p_trns_40x30.png", "rgb_640x480.jpg", "cmyk_40x30.jpg", "lossy_rgba_45x33.webp",
                           "gif_flat_40x30.gif", "rgb565_9x7.bmp", "topdown_11x6.bmp", "png_exif_o6_37x23.png"}) {
    SCOPED_TRACE(file);
    const std::string bytes = test::read_fixture_bytes(std::string("inputs/") + file);
    const size_t step = bytes.size() / 150 + 1;
    for (size_t at = 0; at < bytes.size(); at += (at < 128 ? 1 : step)) {
      for (uint8_t mask : {0x01, 0x80, 0xFF}) {
        std::string mutated = bytes;
        mutated[at] = static_cast<char>(mutated[at] ^ mask);
        try {
          const Image im = decode_image(mutated, file);
          EXPECT_EQ(im.pixels.size(), im.pixel_count() * bytes_per_pixel(im.mode));
        } catch (const Error&) {
        }
      }
    }
  }
}

std::string le32(uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }

TEST(ImageHostile, HandMadeBmpHeaders) {
  // Header size far beyond the data, and a header that claims a huge palette.
  const std::string huge_header = "BM" + le32(100) + le32(0) + le32(54) + le32(0xFFFFFFF0u) + std::string(40, '\0');
  EXPECT_THROW(decode_image(huge_header, "h.bmp"), Error);
  std::string info = le32(40) + le32(4) + le32(4) + std::string("\x01\x00\x08\x00", 4) + le32(0) + le32(0) +
                     le32(0) + le32(0) + le32(0x7FFFFFFF) + le32(0);
  const std::string big_palette = "BM" + le32(0) + le32(0) + le32(0) + info + std::string(64, '\0');
  try {
    decode_image(big_palette, "p.bmp");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("palette"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vlm::image
