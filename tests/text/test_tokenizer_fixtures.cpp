// Exact parity with HF tokenizers (and transformers' tokenizer_config.json handling) on the golden fixtures written
// by scripts/fixtures/make_tokenizer_fixtures.py: ids with and without add_special_tokens, with special tokens
// parsed as text, decodes with and without skip_special_tokens, decodes of random and invalid-UTF-8 id sequences,
// DecodeStream chunks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"
#include "util/test_util.h"

namespace vlm::text {
namespace {

std::string golden_path(const std::string& name) { return test::fixture("tokenizers/" + name + "/golden.json"); }

std::vector<int32_t> ids_of(const Json& j) { return j.get<std::vector<int32_t>>(); }

std::string show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size() && i < 40; ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + (ids.size() > 40 ? ",...]" : "]");
}

// Describes the first difference of two id lists.
std::string first_difference(const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return str("first difference at index ", i, " (got ", got.size(), " ids, want ", want.size(), ")\n  got:  ",
             show(std::vector<int32_t>(got.begin() + static_cast<long>(std::min(i, got.size())), got.end())),
             "\n  want: ",
             show(std::vector<int32_t>(want.begin() + static_cast<long>(std::min(i, want.size())), want.end())));
}

// Stops a test after this many reported mismatches so that one bug does not print thousands of lines.
constexpr int kMaxReports = 12;

class TokenizerFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string path = golden_path(GetParam());
    if (!path_exists(path)) GTEST_SKIP() << "missing fixture " << path << " (run scripts/fixtures/make_tokenizer_fixtures.py)";
    golden_ = read_json_file(path);
    strings_ = read_json_file(test::fixture("tokenizers/strings.json")).at("strings");
    const std::string json_path = test::fixture("tokenizers/" + GetParam() + "/tokenizer.json");
    // Raw HF tokenizers semantics: tokenizer.json alone, no tokenizer_config.json.
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_json(read_file(json_path, 1 << 26), json_path));
  }
  const std::string& text(const Json& c) const { return strings_.at(c.at("i").get<size_t>()).get_ref<const std::string&>(); }

  Json golden_, strings_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_P(TokenizerFixture, EncodeMatchesReference) {
  int reports = 0;
  for (const Json& c : golden_.at("cases")) {
    const std::string& s = text(c);
    const auto want = ids_of(c.at("ids"));
    const auto want_special = ids_of(c.at("ids_with_special"));
    const auto want_split = c.contains("ids_split_special") ? ids_of(c.at("ids_split_special")) : want;
    const auto got = tokenizer_->encode(s, true, false);
    const auto got_special = tokenizer_->encode(s, true, true);
    const auto got_split = tokenizer_->encode(s, false, false);
    for (const auto& [label, g, w] : {std::tuple<const char*, const std::vector<int32_t>&, const std::vector<int32_t>&>{
                                          "encode", got, want},
                                      {"encode(add_special_tokens)", got_special, want_special},
                                      {"encode(parse_special=false)", got_split, want_split}}) {
      if (g != w && reports++ < kMaxReports)
        ADD_FAILURE() << GetParam() << " string #" << c.at("i") << " " << quote(s, 60) << ": " << label << " "
                      << first_difference(g, w);
    }
  }
}

TEST_P(TokenizerFixture, DecodeMatchesReference) {
  int reports = 0;
  const auto check = [&](const std::string& what, const std::string& got, const std::string& want) {
    if (got != want && reports++ < kMaxReports)
      ADD_FAILURE() << GetParam() << " " << what << ":\n  got:  " << quote(got, 120) << "\n  want: " << quote(want, 120);
  };
  for (const Json& c : golden_.at("cases")) {
    const std::string decode = c.at("decode");
    const std::string decode_skip = c.value("decode_skip", decode);
    const std::string with_special = c.value("decode_with_special", decode);
    const std::string with_special_skip = c.value("decode_with_special_skip", decode_skip);
    const auto ids = ids_of(c.at("ids"));
    const auto ids_special = ids_of(c.at("ids_with_special"));
    const std::string where = str("string #", c.at("i").get<int>());
    check(where + " decode", tokenizer_->decode(ids, false), decode);
    check(where + " decode(skip_special_tokens)", tokenizer_->decode(ids, true), decode_skip);
    check(where + " decode(with specials)", tokenizer_->decode(ids_special, false), with_special);
    check(where + " decode(with specials, skip_special_tokens)", tokenizer_->decode(ids_special, true),
          with_special_skip);
  }
  for (const Json& c : golden_.at("decode_cases")) {
    const auto ids = ids_of(c.at("ids"));
    check("decode " + show(ids), tokenizer_->decode(ids, false), c.at("decode"));
    check("decode(skip_special_tokens) " + show(ids), tokenizer_->decode(ids, true), c.at("decode_skip"));
  }
}

TEST_P(TokenizerFixture, VocabularyMatchesReference) {
  EXPECT_EQ(tokenizer_->base_vocab_size(), golden_.at("vocab_size").get<size_t>());
  EXPECT_EQ(tokenizer_->vocab_size(), golden_.at("vocab_size_with_added").get<size_t>());
  for (const auto& [token, id] : golden_.at("token_ids").items()) {
    EXPECT_EQ(tokenizer_->token_to_id(token), std::optional<int32_t>(id.get<int32_t>())) << token;
    EXPECT_EQ(tokenizer_->id_to_token(id.get<int32_t>()), std::optional<std::string>(token));
  }
}

TEST_P(TokenizerFixture, StreamDecodingMatchesDecodeStream) {
  int reports = 0;
  for (const Json& c : golden_.at("stream_cases")) {
    const auto ids = ids_of(c.at("ids"));
    const bool skip = c.at("skip_special_tokens");
    // We hold back runs of byte-fallback tokens that DecodeStream emits early, and do not hold back genuine U+FFFD
    // (see stream_decoder.h); for those sequences only the concatenation is compared.
    bool has_byte_tokens = tokenizer_->decode(ids, skip).find("\xEF\xBF\xBD") != std::string::npos;
    for (int32_t id : ids) {
      const auto token = tokenizer_->id_to_token(id);
      has_byte_tokens = has_byte_tokens || (token && token->size() == 6 && token->rfind("<0x", 0) == 0);
    }
    StreamDecoder stream = tokenizer_->stream_decoder(skip);
    std::string all;
    for (size_t k = 0; k < ids.size(); ++k) {
      const std::string chunk = stream.push(ids[k]);
      const Json& want = c.at("chunks").at(k);
      const std::string want_chunk = want.is_null() ? "" : want.get<std::string>();
      if (!has_byte_tokens && chunk != want_chunk && reports++ < kMaxReports)
        ADD_FAILURE() << GetParam() << " stream " << show(ids) << " step " << k << ": got " << quote(chunk)
                      << ", DecodeStream gives " << quote(want_chunk);
      all += chunk;
    }
    all += stream.finish();
    EXPECT_EQ(all, tokenizer_->decode(ids, skip)) << "streamed text differs from the full decode of " << show(ids);
  }
}

// Tokenizer::load on the folder (tokenizer.json + tokenizer_config.json) against transformers' AutoTokenizer.
TEST_P(TokenizerFixture, LoadMatchesTransformers) {
  if (!golden_.contains("transformers")) GTEST_SKIP() << GetParam() << " has no tokenizer_config.json fixture";
  const Json& t = golden_.at("transformers");
  if (t.contains("error")) GTEST_SKIP() << "transformers could not load the fixture: " << t.at("error");
  const Tokenizer tok = Tokenizer::load(test::fixture("tokenizers/" + GetParam()));
  EXPECT_EQ(tok.vocab_size(), t.at("len").get<size_t>());
  const auto opt = [](const Json& j) { return j.is_null() ? std::nullopt : std::optional<int32_t>(j.get<int32_t>()); };
  EXPECT_EQ(tok.bos_id(), opt(t.at("bos_token_id")));
  EXPECT_EQ(tok.eos_id(), opt(t.at("eos_token_id")));
  EXPECT_EQ(tok.pad_id(), opt(t.at("pad_token_id")));
  EXPECT_EQ(tok.unk_id(), opt(t.at("unk_token_id")));
  for (const Json& id : t.at("all_special_ids")) EXPECT_TRUE(tok.is_special(id.get<int32_t>())) << id;
  int reports = 0;
  for (const Json& c : t.at("cases")) {
    const std::string& s = text(c);
    const auto got = tok.encode(s, true, true);
    const auto want = ids_of(c.at("ids_with_special"));
    if (got != want && reports++ < kMaxReports)
      ADD_FAILURE() << "string #" << c.at("i") << " " << quote(s, 60) << ": " << first_difference(got, want);
    const auto plain = tok.encode(s, true, false);
    if (plain != ids_of(c.at("ids")) && reports++ < kMaxReports)
      ADD_FAILURE() << "string #" << c.at("i") << " (add_special_tokens=False): "
                    << first_difference(plain, ids_of(c.at("ids")));
    EXPECT_EQ(tok.decode(want, false), c.at("decode_with_special").get<std::string>()) << "string #" << c.at("i");
    EXPECT_EQ(tok.decode(want, true), c.at("decode_with_special_skip").get<std::string>()) << "string #" << c.at("i");
  }
}

INSTANTIATE_TEST_SUITE_P(Families, TokenizerFixture,
                         ::testing::Values("qwen2", "llama3", "llama2_legacy", "llama2", "gemma", "bert", "splits",
                                           "meta"));

}  // namespace
}  // namespace vlm::text
