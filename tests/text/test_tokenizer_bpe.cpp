// The BPE model on small hand-written vocabularies: merge order (lowest rank first, leftmost among equals), the
// options (ignore_merges, byte_fallback, unk/fuse_unk, continuing_subword_prefix, end_of_word_suffix), both merges
// formats, and speed on long pieces.
#include <gtest/gtest.h>

#include <chrono>

#include "core/error.h"
#include "text/bpe_model.h"
#include "text/tokenizer.h"

namespace vlm::text {
namespace {

std::unique_ptr<BpeModel> model(const std::string& json) {
  static Json keep;  // JsonObject keeps a pointer to its JSON
  keep = Json::parse(json);
  return BpeModel::from_json(JsonObject(keep, "test.json", "model"));
}

std::vector<int32_t> tokenize(const BpeModel& m, const std::string& piece) {
  std::vector<int32_t> ids;
  m.tokenize(piece, ids);
  return ids;
}

using Ids = std::vector<int32_t>;

TEST(Bpe, LowestRankMergesFirst) {
  // (b, c) has rank 0 and is merged before (a, b); "a bc" has no merge.
  auto m = model(R"({"type":"BPE","vocab":{"a":0,"b":1,"c":2,"ab":3,"bc":4,"abc":5},
                     "merges":["b c","a b","ab c"]})");
  EXPECT_EQ(tokenize(*m, "abc"), (Ids{0, 4}));
  // With (a, b) first, "ab" then "ab c" follow.
  auto m2 = model(R"({"type":"BPE","vocab":{"a":0,"b":1,"c":2,"ab":3,"bc":4,"abc":5},
                      "merges":[["a","b"],["b","c"],["ab","c"]]})");
  EXPECT_EQ(tokenize(*m2, "abc"), (Ids{5}));
  EXPECT_EQ(tokenize(*m2, "cab"), (Ids{2, 3}));
}

TEST(Bpe, EqualRanksMergeLeftmostFirst) {
  auto m = model(R"({"type":"BPE","vocab":{"a":0,"aa":1},"merges":["a a"]})");
  EXPECT_EQ(tokenize(*m, "aaa"), (Ids{1, 0}));
  EXPECT_EQ(tokenize(*m, "aaaa"), (Ids{1, 1}));
}

TEST(Bpe, IgnoreMergesEmitsWholeVocabularyPieces) {
  // Merges alone cannot build "abc" from a + b + c ((a,b) -> ab, then no (ab, c) merge) ...
  const std::string vocab = R"("vocab":{"a":0,"b":1,"c":2,"ab":3,"abc":4},"merges":["a b"])";
  EXPECT_EQ(tokenize(*model("{" + vocab + "}"), "abc"), (Ids{3, 2}));
  // ... but with ignore_merges a piece that is in the vocabulary is emitted as is.
  EXPECT_EQ(tokenize(*model(R"({"ignore_merges":true,)" + vocab + "}"), "abc"), (Ids{4}));
}

TEST(Bpe, ByteFallbackAndUnknowns) {
  std::string bytes;
  for (int b = 0; b < 256; ++b) {
    char name[16];
    std::snprintf(name, sizeof name, ",\"<0x%02X>\":%d", b, 10 + b);
    bytes += name;
  }
  auto fb = model(R"({"byte_fallback":true,"unk_token":"<unk>","vocab":{"<unk>":0,"a":1)" + bytes + R"(},"merges":[]})");
  // "é" (C3 A9) is not in the vocabulary: one <0xHH> token per UTF-8 byte (uppercase hex).
  EXPECT_EQ(tokenize(*fb, "a\xC3\xA9"), (Ids{1, 10 + 0xC3, 10 + 0xA9}));
  auto unk = model(R"({"unk_token":"<unk>","vocab":{"<unk>":0,"a":1},"merges":[]})");
  EXPECT_EQ(tokenize(*unk, "xya"), (Ids{0, 0, 1}));  // one unk per unknown character
  auto fused = model(R"({"unk_token":"<unk>","fuse_unk":true,"vocab":{"<unk>":0,"a":1},"merges":[]})");
  EXPECT_EQ(tokenize(*fused, "xyaz"), (Ids{0, 1, 0}));  // consecutive unknowns fused
  auto none = model(R"({"vocab":{"a":1},"merges":[]})");
  EXPECT_EQ(tokenize(*none, "xay"), (Ids{1}));  // without unk or byte_fallback unknowns vanish
}

TEST(Bpe, SubwordPrefixAndWordSuffix) {
  // "abc" -> a, ##b, ##c</w>; merges use the decorated forms and drop the prefix of the right part.
  auto m = model(R"({"continuing_subword_prefix":"##","end_of_word_suffix":"</w>",
                     "vocab":{"a":0,"##b":1,"##c</w>":2,"ab":3,"abc</w>":4,"a</w>":5},
                     "merges":["a ##b","ab ##c</w>"]})");
  EXPECT_EQ(tokenize(*m, "abc"), (Ids{4}));
  EXPECT_EQ(tokenize(*m, "a"), (Ids{5}));
}

TEST(Bpe, LegacyMergesSkipVersionLine) {
  auto m = model(R"({"vocab":{"a":0,"b":1,"ab":2},"merges":["#version: 0.2","a b"]})");
  EXPECT_EQ(tokenize(*m, "ab"), (Ids{2}));
}

TEST(Bpe, LongPiecesStayFast) {
  // Repeated doubling merges: a, aa, aaaa, ... A 100k-character piece must not take quadratic time.
  std::string vocab = R"({"vocab":{"a":0)", merges;
  std::string token = "a";
  for (int k = 1; k <= 12; ++k) {
    merges += (k > 1 ? "," : "") + std::string("\"") + token + " " + token + "\"";
    token += token;
    vocab += ",\"" + token + "\":" + std::to_string(k);
  }
  auto m = model(vocab + "},\"merges\":[" + merges + "]}");
  const auto start = std::chrono::steady_clock::now();
  const Ids ids = tokenize(*m, std::string(100000, 'a'));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // 100000 = 24 * 4096 + 1696 = 24 tokens of 4096, then 1024 + 512 + 128 + 32.
  EXPECT_EQ(ids.size(), 28u);
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(tokenize(*m, std::string(100000, 'a')), ids);  // deterministic (and cache-safe)
}

TEST(Bpe, EncodeThroughTokenizerUsesTheCacheConsistently) {
  const Tokenizer tok = Tokenizer::from_json(R"({"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2," ":3},
      "merges":["a b"]},"pre_tokenizer":{"type":"WhitespaceSplit"}})");
  const auto first = tok.encode("ab ab ba ab");
  EXPECT_EQ(first, (Ids{2, 2, 1, 0, 2}));
  EXPECT_EQ(tok.encode("ab ab ba ab"), first);
}

}  // namespace
}  // namespace vlm::text
