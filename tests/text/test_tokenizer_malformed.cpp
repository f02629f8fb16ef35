// Malformed tokenizer files give errors that name the file and the field; bad input text never crashes.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "text/tokenizer.h"
#include "util/test_util.h"

namespace vlm::text {
namespace {

// The error message of loading `json`, or "no error".
std::string load_error(const std::string& json) {
  try {
    Tokenizer::from_json(json, "m/tokenizer.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void expect_error(const std::string& json, const std::string& fragment) {
  const std::string message = load_error(json);
  EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message << "\nexpected to contain: "
                                                       << fragment;
  EXPECT_NE(message.find("m/tokenizer.json"), std::string::npos) << message;
}

std::string bpe(const std::string& fields) { return R"({"model":{"type":"BPE",)" + fields + "}}"; }

TEST(MalformedTokenizerJson, ModelAndVocabulary) {
  expect_error("{}", "model: required field is missing");
  expect_error("{\"model\": 3}", "model: expected an object");
  expect_error("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "model type \"WordPiece\" is not supported");
  expect_error(bpe(R"("merges":[])"), "model.vocab: required field is missing");
  expect_error(bpe(R"("vocab":{"a":0})"), "model.merges: required field is missing");
  expect_error(bpe(R"("vocab":{"a":"zero"},"merges":[])"), "model.vocab.a: expected an integer id");
  expect_error(bpe(R"("vocab":{"a":-1},"merges":[])"), "model.vocab.a: id -1 is out of range");
  expect_error(bpe(R"("vocab":{"a":4000000000},"merges":[])"), "is out of range");
  expect_error(bpe(R"("vocab":{"a":0,"b":0},"merges":[])"), "id 0 is also the id of \"a\"");
  expect_error(bpe(R"("vocab":{"a":0},"merges":[],"dropout":0.1)"), "model.dropout: BPE dropout 0.1 is not supported");
  expect_error(bpe(R"("vocab":{"a":0},"merges":[],"cache_capacity":4)"), "model.cache_capacity: option");
}

TEST(MalformedTokenizerJson, Merges) {
  expect_error(bpe(R"("vocab":{"a":0,"b":1,"ab":2},"merges":"a b")"), "model.merges: expected a list");
  expect_error(bpe(R"("vocab":{"a":0,"b":1,"ab":2},"merges":["a b c"])"),
               "model.merges[0]: expected two tokens separated by one space");
  expect_error(bpe(R"("vocab":{"a":0,"b":1,"ab":2},"merges":["ab"])"), "model.merges[0]: expected two tokens");
  expect_error(bpe(R"("vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"],["a","x"]])"),
               "model.merges[1]: token \"x\" is not in the vocabulary");
  expect_error(bpe(R"("vocab":{"a":0,"b":1},"merges":[["a","b"]])"),
               "model.merges[0]: merged token \"ab\" is not in the vocabulary");
  expect_error(bpe(R"("vocab":{"a":0,"b":1,"ab":2},"merges":[["a"]])"), "model.merges[0]: expected \"a b\"");
}

TEST(MalformedTokenizerJson, ComponentsAndAddedTokens) {
  const std::string model = R"("model":{"type":"BPE","vocab":{"a":0},"merges":[]})";
  expect_error("{" + model + R"(,"normalizer":{"type":"BertNormalizer"}})", "normalizer.type: normalizer type");
  expect_error("{" + model + R"(,"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated"}})",
               "pre_tokenizer.pattern.Regex: regex \"(a\" does not compile");
  expect_error("{" + model + R"(,"pre_tokenizer":{"type":"Split","pattern":{"Glob":"*"},"behavior":"Isolated"}})",
               "option \"Glob\"");
  expect_error("{" + model + R"(,"decoder":{"pattern":1}})", "decoder.type: required field is missing");
  expect_error("{" + model + R"(,"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}}],
               "special_tokens":{}}})",
               "special token \"<s>\" is missing from special_tokens");
  expect_error("{" + model + R"(,"added_tokens":{"a":1}})", "added_tokens: expected a list");
  expect_error("{" + model + R"(,"added_tokens":[{"id":-3,"content":"x"}]})", "added_tokens[0].id: id -3 is out of range");
  expect_error("{" + model + R"(,"added_tokens":[{"id":1}]})", "added_tokens[0].content: required field is missing");
  expect_error("{\"model\": ", "m/tokenizer.json:1:");  // syntax errors give line and column
}

TEST(MalformedTokenizerJson, LoadNamesTheFolder) {
  const std::string dir = test::temp_dir("tok-empty");
  try {
    Tokenizer::load(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer.json or tokenizer.model"), std::string::npos) << e.what();
  }
  test::write_bytes(dir + "/tokenizer.json", bpe(R"("vocab":{"a":0},"merges":[])"));
  test::write_bytes(dir + "/tokenizer_config.json", R"({"bos_token": 5})");
  try {
    Tokenizer::load(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json: bos_token: expected a token string or object"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(BadInput, InvalidUtf8IsReplacedNotFatal) {
  const Tokenizer tok = Tokenizer::from_json(R"({"model":{"type":"BPE","vocab":{"a":0,"\ufffd":1},"merges":[]},
      "pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\p{L}+|\\s+|."},"behavior":"Isolated"}})");
  // One U+FFFD per maximal invalid subsequence, exactly as Python's errors="replace" would give.
  EXPECT_EQ(tok.encode("a\xE2\x82" "a\xFF\xFE"), (std::vector<int32_t>{0, 1, 0, 1, 1}));
  // Arbitrary bytes never crash.
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 7919) & 0xFF);
  EXPECT_NO_THROW(tok.encode(junk));
  EXPECT_NO_THROW(tok.decode({-5, 0, 1, 1 << 30}));
}

}  // namespace
}  // namespace vlm::text
