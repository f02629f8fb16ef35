// StreamDecoder: text pushed id by id, with incomplete UTF-8 held back, concatenates to the full decode.
#include <gtest/gtest.h>

#include <random>

#include "core/json.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace vlm::text {
namespace {

// A byte-level tokenizer whose 256 tokens are single bytes (ids = byte values) plus "Ġhi" (256), "Ġh" (257) and a
// special token (258, the next id HF assigns).
Tokenizer byte_level_tokenizer() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[unicode::byte_level_char(static_cast<unsigned char>(b))] = b;
  vocab["\xC4\xA0hi"] = 256;
  vocab["\xC4\xA0h"] = 257;
  Json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array({"\xC4\xA0 h", "\xC4\xA0h i"})}}},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"decoder", {{"type", "ByteLevel"}}},
            {"added_tokens", Json::array({{{"id", 258}, {"content", "<|end|>"}, {"special", true},
                                           {"normalized", false}}})}};
  return Tokenizer::from_json(j.dump());
}

// A Llama-style tokenizer: ▁ pieces, byte fallback, Replace/ByteFallback/Fuse/Strip decoder.
Tokenizer byte_fallback_tokenizer() {
  Json vocab = Json::object();
  vocab["<unk>"] = 0;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 1 + b;
  }
  vocab["\xE2\x96\x81"] = 257;
  vocab["a"] = 258;
  vocab["\xE2\x96\x81" "a"] = 259;
  Json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array({"\xE2\x96\x81 a"})},
                       {"byte_fallback", true}, {"unk_token", "<unk>"}, {"fuse_unk", true}}},
            {"normalizer", {{"type", "Sequence"}, {"normalizers", Json::array({
                {{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}})}}},
            {"decoder", {{"type", "Sequence"}, {"decoders", Json::array({
                {{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}}};
  return Tokenizer::from_json(j.dump());
}

std::vector<std::string> stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip = false) {
  StreamDecoder s = tok.stream_decoder(skip);
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(s.push(id));
  out.push_back(s.finish());
  return out;
}

std::string concat(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += p;
  return s;
}

TEST(StreamDecoder, HoldsBackIncompleteCharacters) {
  const Tokenizer tok = byte_level_tokenizer();
  // "€" is E2 82 AC: nothing appears until its last byte arrives.
  const auto parts = stream(tok, {'a', 0xE2, 0x82, 0xAC, 'b'});
  EXPECT_EQ(parts, (std::vector<std::string>{"a", "", "", "\xE2\x82\xAC", "b", ""}));
  // An incomplete tail at the end comes out of finish() as U+FFFD, as in the full decode.
  const auto tail = stream(tok, {'a', 0xF0, 0x9F});
  EXPECT_EQ(tail, (std::vector<std::string>{"a", "", "", "\xEF\xBF\xBD"}));
  EXPECT_EQ(concat(tail), tok.decode({'a', 0xF0, 0x9F}));
}

TEST(StreamDecoder, SkipsSpecialTokensWhenAsked) {
  const Tokenizer tok = byte_level_tokenizer();
  EXPECT_EQ(concat(stream(tok, {256, 258, 'x'}, true)), " hix");
  EXPECT_EQ(concat(stream(tok, {256, 258, 'x'}, false)), " hi<|end|>x");
}

TEST(StreamDecoder, ConcatenationEqualsFullDecodeOnRandomIds) {
  std::mt19937 rng(42);
  for (const Tokenizer& tok : {byte_level_tokenizer(), byte_fallback_tokenizer()}) {
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<int32_t> ids(1 + rng() % 30);
      for (auto& id : ids) id = static_cast<int32_t>(rng() % 262);
      const bool skip = trial % 2;
      EXPECT_EQ(concat(stream(tok, ids, skip)), tok.decode(ids, skip)) << "trial " << trial;
    }
  }
}

TEST(StreamDecoder, StripDecoderKeepsInnerSpaces) {
  const Tokenizer tok = byte_fallback_tokenizer();
  const auto ids = tok.encode("a a  a");
  EXPECT_EQ(tok.decode(ids), "a a  a");
  EXPECT_EQ(concat(stream(tok, ids)), "a a  a");
}

}  // namespace
}  // namespace vlm::text
