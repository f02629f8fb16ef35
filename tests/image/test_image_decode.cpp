// Decoding every fixture image: the stored mode and size must be Pillow's, and what load_image gives (EXIF
// orientation applied, then RGB) must be byte-identical to transformers' load_image.
#include <gtest/gtest.h>

#include "core/error.h"
#include "image/decode.h"
#include "image/exif.h"
#include "image_test_util.h"

namespace vlm::image {
namespace {

using test::goldens;

// Pillow's mode names for what we store. Pillow's "1" is our L (0/255); a 16-bit gray+alpha PNG is "RGBA" in
// Pillow (its LA;16B unpacker) and LA here, with the same RGB.
std::string expected_mode(const std::string& pillow_mode, const std::string& file) {
  if (pillow_mode == "1") return "L";
  if (file.rfind("la16", 0) == 0) return "LA";
  return pillow_mode;
}

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint8_t(bytes[i]) << 16 | uint8_t(bytes[i + 1]) << 8 | uint8_t(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(kAlphabet[(v >> (6 * k)) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

TEST(ImageDecode, EveryFixtureMatchesPillow) {
  const test::Goldens* g = goldens();
  if (!g) GTEST_SKIP() << test::missing_goldens_message();
  int checked = 0;
  for (const Json& e : g->doc.at("decode")) {
    const std::string file = e.at("file");
    SCOPED_TRACE(file);
    const Image raw = decode_image_file(test::image_fixture("inputs/" + file));
    EXPECT_EQ(mode_name(raw.mode), expected_mode(e.at("pillow_mode"), file));
    EXPECT_EQ(raw.width, e.at("width").get<int>());
    EXPECT_EQ(raw.height, e.at("height").get<int>());
    const Image rgb = load_image_file(test::image_fixture("inputs/" + file));
    ASSERT_EQ(rgb.mode, Mode::kRGB);
    EXPECT_EQ(rgb.width, e.at("rgb_width").get<int>());
    EXPECT_EQ(rgb.height, e.at("rgb_height").get<int>());
    if (e.contains("rgb_tensor")) {
      EXPECT_EQ(test::compare_bytes(rgb.pixels, g->u8(e.at("rgb_tensor"))), "");
    }
    EXPECT_EQ(test::crc32(rgb.pixels), e.at("rgb_crc32").get<uint32_t>()) << "RGB pixels differ from Pillow's";
    if (e.contains("over_white_crc32")) {
      EXPECT_EQ(test::crc32(to_rgb_over_white(raw).pixels), e.at("over_white_crc32").get<uint32_t>())
          << "alpha composite over white differs from Pillow's";
    }
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

TEST(ImageDecode, FormatDetectionUsesMagicBytes) {
  const std::string png = test::read_fixture_bytes("inputs/rgb_28x28.png");
  const auto* p = reinterpret_cast<const uint8_t*>(png.data());
  EXPECT_EQ(detect_format(p, png.size()), Format::kPng);
  EXPECT_EQ(detect_format(p, 4), Format::kUnknown);
  const std::string jpg = test::read_fixture_bytes("inputs/gray_50x40.jpg");
  EXPECT_EQ(detect_format(reinterpret_cast<const uint8_t*>(jpg.data()), jpg.size()), Format::kJpeg);
}

TEST(ImageDecode, DataUrlGivesTheSamePixelsAsTheFile) {
  for (const char* file : {"rgb_37x23.png", "exif_o6_40x24.jpg", "lossy_64x48.webp"}) {
    SCOPED_TRACE(file);
    const std::string bytes = test::read_fixture_bytes(std::string("inputs/") + file);
    const Image from_file = load_image_file(test::image_fixture(std::string("inputs/") + file));
    const Image from_url = load_image_data_url("data:image/png;base64," + base64(bytes));
    EXPECT_EQ(from_url.pixels, from_file.pixels);
    const Image from_bare = load_image_data_url(base64(bytes));  // transformers also takes bare base64
    EXPECT_EQ(from_bare.pixels, from_file.pixels);
  }
  // Line breaks inside the payload are allowed, as base64.decodebytes allows them.
  std::string wrapped = base64(test::read_fixture_bytes("inputs/rgb_1x1.png"));
  wrapped.insert(10, "\r\n");
  EXPECT_NO_THROW(load_image_data_url("data:image/png;base64," + wrapped));
}

TEST(ImageDecode, DataUrlErrorsNameTheProblemWithoutThePayload) {
  auto message = [](const std::string& url) {
    try {
      decode_data_url(url, 1 << 20);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("data:image/png;base64,AAAA*AAA").find("invalid base64 character at offset 26"), std::string::npos);
  EXPECT_NE(message("data:image/png;base64").find("no ','"), std::string::npos);
  EXPECT_NE(message("data:text/html;base64,AAAA").find("not an image type"), std::string::npos);
  EXPECT_NE(message("data:image/png;base64,AAAAA").find("invalid length"), std::string::npos);
  EXPECT_NE(message("data:image/png;base64,AA==AA").find("after '=' padding"), std::string::npos);
  EXPECT_EQ(message("data:image/png;base64,SECRETSECRET*").find("SECRET"), std::string::npos);
  try {
    decode_data_url("data:image/png;base64," + std::string(4000, 'A'), 1000);
    ADD_FAILURE() << "expected a size error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceed"), std::string::npos);
  }
}

TEST(ImageDecode, LimitsAreCheckedBeforeDecoding) {
  DecodeLimits small;
  small.max_pixels = 100;  // 28x28 = 784 pixels
  for (const char* file : {"rgb_28x28.png", "rgb_640x480.jpg", "lossy_64x48.webp", "gif_flat_40x30.gif",
                           "rgb24_37x23.bmp"}) {
    SCOPED_TRACE(file);
    try {
      decode_image_file(test::image_fixture(std::string("inputs/") + file), small);
      ADD_FAILURE() << "expected a limit error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("exceeds the limit of 100 pixels"), std::string::npos) << what;
      EXPECT_NE(what.find(file), std::string::npos) << "the message must name the file: " << what;
    }
  }
  DecodeLimits narrow;
  narrow.max_width = 30;
  EXPECT_THROW(decode_image_file(test::image_fixture("inputs/rgb_37x23.png"), narrow), Error);
  narrow.max_width = 37;
  EXPECT_NO_THROW(decode_image_file(test::image_fixture("inputs/rgb_37x23.png"), narrow));
  DecodeLimits few_bytes;
  few_bytes.max_bytes = 100;
  EXPECT_THROW(decode_image_file(test::image_fixture("inputs/rgb_640x480.jpg"), few_bytes), Error);
}

TEST(ImageDecode, ProgressiveScanLimit) {
  DecodeLimits limits;
  limits.max_jpeg_scans = 2;
  try {
    decode_image_file(test::image_fixture("inputs/progressive_80x60.jpg"), limits);
    ADD_FAILURE() << "expected a scan-limit error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too many progressive scans"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(decode_image_file(test::image_fixture("inputs/progressive_80x60.jpg")));
}

}  // namespace
}  // namespace vlm::image
