// tokenizer.model through libsentencepiece: ids and decodes equal the Python sentencepiece package's on the fixture
// model (scripts/fixtures/make_tokenizer_fixtures.py), special tokens and add_special_tokens, errors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"
#include "util/test_util.h"

namespace vlm::text {
namespace {

class SentencePieceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::fixture("tokenizers/spm/golden.json");
    if (!path_exists(path)) GTEST_SKIP() << "missing fixture " << path << " (run scripts/fixtures/make_tokenizer_fixtures.py)";
    golden_ = read_json_file(path);
    strings_ = read_json_file(test::fixture("tokenizers/strings.json")).at("strings");
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(test::fixture("tokenizers/spm")));
  }
  Json golden_, strings_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(SentencePieceFixture, EncodeAndDecodeMatchSentencePiece) {
  int reports = 0;
  for (const Json& c : golden_.at("cases")) {
    const std::string& s = strings_.at(c.at("i").get<size_t>()).get_ref<const std::string&>();
    const auto want = c.at("ids").get<std::vector<int32_t>>();
    // Special tokens in the text stay text, as sentencepiece's own encode does.
    const auto got = tokenizer_->encode(s, /*parse_special=*/false, /*add_special_tokens=*/false);
    if (got != want && reports++ < 10) ADD_FAILURE() << "string #" << c.at("i") << " " << quote(s, 60);
    EXPECT_EQ(tokenizer_->decode(want, true), c.at("decode").get<std::string>()) << "string #" << c.at("i");
  }
  for (const Json& c : golden_.at("decode_cases")) {
    const auto ids = c.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer_->decode(ids, true), c.at("decode").get<std::string>());
  }
}

TEST_F(SentencePieceFixture, SpecialTokens) {
  const int32_t bos = golden_.at("bos_id"), eos = golden_.at("eos_id");
  EXPECT_EQ(tokenizer_->base_vocab_size(), golden_.at("piece_size").get<size_t>());
  EXPECT_TRUE(tokenizer_->is_special(bos));
  EXPECT_TRUE(tokenizer_->is_special(eos));
  // BOS is added by default; control pieces written in the text become their ids with parse_special.
  const auto plain = tokenizer_->encode("hello", true, false);
  auto with_bos = tokenizer_->encode("hello", true, true);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos.front(), bos);
  with_bos.erase(with_bos.begin());
  EXPECT_EQ(with_bos, plain);
  const auto parsed = tokenizer_->encode("</s>", true, false);
  EXPECT_EQ(parsed, std::vector<int32_t>{eos});
  EXPECT_NE(tokenizer_->encode("</s>", false, false), std::vector<int32_t>{eos});
  // Special ids decode to their text unless skipped.
  EXPECT_EQ(tokenizer_->decode({eos}, false), "</s>");
  EXPECT_EQ(tokenizer_->decode({eos}, true), "");
}

TEST_F(SentencePieceFixture, StreamingEqualsFullDecode) {
  for (size_t i = 0; i < 120 && i < strings_.size(); ++i) {
    const auto ids = tokenizer_->encode(strings_[i].get<std::string>(), true, true);
    StreamDecoder stream = tokenizer_->stream_decoder(false);
    std::string all;
    for (int32_t id : ids) all += stream.push(id);
    all += stream.finish();
    EXPECT_EQ(all, tokenizer_->decode(ids, false)) << "string #" << i;
  }
}

TEST(SentencePiece, RejectsGarbage) {
  try {
    Tokenizer::from_sentencepiece("definitely not a model proto", "bad/tokenizer.model");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad/tokenizer.model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vlm::text
