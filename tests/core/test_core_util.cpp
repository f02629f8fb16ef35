// Small core pieces: UTF-8 validation, quoting, progress bar rendering.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/progress.h"
#include "core/utf8.h"

TEST(Utf8, ValidAndInvalidSequences) {
  EXPECT_TRUE(vlm::utf8::is_valid("plain ascii"));
  EXPECT_TRUE(vlm::utf8::is_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  size_t at = 99;
  EXPECT_FALSE(vlm::utf8::is_valid("ab\xc3", &at));  // truncated
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(vlm::utf8::is_valid("\xc0\xaf"));           // overlong
  EXPECT_FALSE(vlm::utf8::is_valid("\xed\xa0\x80"));       // surrogate
  EXPECT_FALSE(vlm::utf8::is_valid("\xf4\x90\x80\x80"));   // above U+10FFFF
  EXPECT_FALSE(vlm::utf8::is_valid("\xe0\x80\x80"));       // overlong 3-byte
  EXPECT_FALSE(vlm::utf8::is_valid("\x80"));               // lone continuation
  EXPECT_TRUE(vlm::utf8::is_valid(std::string_view("\0", 1)));
}

TEST(Error, QuoteEscapesAndCuts) {
  EXPECT_EQ(vlm::quote("a\"b\n\x01"), "\"a\\\"b\\n\\x01\"");
  EXPECT_EQ(vlm::quote("abcdef", 3), "\"abc...\"");
}

TEST(Error, WithContextPrefixesAndKeepsKind) {
  try {
    vlm::with_context("file.json", [] { throw vlm::Error("bad", vlm::ErrorKind::kUsage); });
    FAIL();
  } catch (const vlm::Error& e) {
    EXPECT_STREQ(e.what(), "file.json: bad");
    EXPECT_EQ(e.kind(), vlm::ErrorKind::kUsage);
  }
}

TEST(Progress, RendersCountsRateAndEta) {
  vlm::Progress p("train", 100, "step");
  const std::string line = p.render(25, 5.0, "loss 1.234", 100);
  EXPECT_NE(line.find("train ["), std::string::npos) << line;
  EXPECT_NE(line.find("25/100"), std::string::npos) << line;
  EXPECT_NE(line.find("5.00 step/s"), std::string::npos) << line;
  EXPECT_NE(line.find("0:05<0:15"), std::string::npos) << line;  // elapsed < remaining
  EXPECT_NE(line.find("loss 1.234"), std::string::npos) << line;
  EXPECT_LE(line.size(), 99u);
  vlm::Progress unknown("decode", 0, "tok");
  EXPECT_NE(unknown.render(10, 2.0, "", 80).find("10 tok  5.00 tok/s"), std::string::npos);
  EXPECT_EQ(vlm::format_duration(3725), "1:02:05");
  EXPECT_EQ(vlm::format_duration(-1), "--:--");
}
