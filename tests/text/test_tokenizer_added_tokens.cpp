// Added-token matching (AddedVocabulary) with the cases of HF tokenizers' added_vocabulary.rs tests, plus
// parse_special=false (HF's encode_special_tokens) and the tokenizer_config.json additions transformers makes.
#include <gtest/gtest.h>

#include "text/added_vocabulary.h"
#include "text/normalizers.h"
#include "text/tokenizer.h"

namespace vlm::text {
namespace {

struct Split {
  std::string text;
  int32_t id;
  bool operator==(const Split& o) const { return text == o.text && id == o.id; }
};
std::ostream& operator<<(std::ostream& os, const Split& s) { return os << "(" << s.text << ", " << s.id << ")"; }

AddedToken token(const std::string& content, int32_t id, bool special = false, bool normalized = false) {
  AddedToken t;
  t.content = content;
  t.id = id;
  t.special = special;
  t.normalized = normalized;
  return t;
}

// Splits the raw text, then normalises the plain pieces and splits them with the normalized set (HF's
// extract_and_normalize).
std::vector<Split> extract(const AddedVocabulary& vocab, const Normalizer* normalizer, const std::string& text,
                           bool parse_special = true) {
  std::vector<TextSplit> raw;
  vocab.split(text, false, parse_special, raw);
  std::vector<Split> out;
  for (const TextSplit& r : raw) {
    std::string piece = text.substr(r.begin, r.end - r.begin);
    if (r.id >= 0) {
      out.push_back({piece, r.id});
      continue;
    }
    if (normalizer) normalizer->normalize(piece);
    std::vector<TextSplit> inner;
    vocab.split(piece, true, parse_special, inner);
    for (const TextSplit& s : inner)
      if (s.end > s.begin) out.push_back({piece.substr(s.begin, s.end - s.begin), s.id});
  }
  return out;
}

std::unique_ptr<Normalizer> lowercase() {
  return make_normalizer(Json::parse(R"({"type":"Lowercase"})"), "t", "normalizer");
}

TEST(AddedVocabulary, ExtractsNormalAndSpecialTokens) {  // can_extract_added_tokens
  AddedVocabulary v;
  v.add(token("my", 0, false, true));
  v.add(token("name", 1, false, true));
  v.add(token("[CLS]", 2, true));
  v.add(token("[SEP]", 3, true));
  v.build(nullptr);
  EXPECT_EQ(extract(v, nullptr, "[CLS] My name is Anthony [SEP]"),
            (std::vector<Split>{{"[CLS]", 2}, {" My ", -1}, {"name", 1}, {" is Anthony ", -1}, {"[SEP]", 3}}));
  // parse_special=false leaves the special tokens to the model; normal added tokens still match.
  EXPECT_EQ(extract(v, nullptr, "[CLS] My name is Anthony [SEP]", false),
            (std::vector<Split>{{"[CLS] My ", -1}, {"name", 1}, {" is Anthony [SEP]", -1}}));
}

TEST(AddedVocabulary, OptionsUseCases) {  // options_use_cases
  auto norm = lowercase();
  AddedVocabulary v;
  AddedToken my = token("my", 0, false, true);
  my.lstrip = my.rstrip = true;
  v.add(my);
  v.add(token("name", 1, false, true));
  AddedToken ony = token("ony", 2, false, true);
  ony.single_word = true;
  v.add(ony);
  v.add(token("[CLS]", 3, true));
  v.add(token("[SEP]", 4, true));
  v.build(norm.get());
  EXPECT_EQ(extract(v, norm.get(), "[CLS] My name is Anthony [SEP]"),
            (std::vector<Split>{{"[CLS]", 3}, {" my ", 0}, {"name", 1}, {" is anthony ", -1}, {"[SEP]", 4}}));
}

TEST(AddedVocabulary, SingleWord) {  // test_single_word_is_correct, test_single_word_is_unicode_correct
  auto norm = lowercase();
  AddedVocabulary v;
  AddedToken mask = token("<mask>", 0, false, true);
  mask.single_word = true;
  v.add(mask);
  v.build(norm.get());
  EXPECT_EQ(extract(v, norm.get(), "<mask> My name <mask> A<mask> <mask>ony <mask>"),
            (std::vector<Split>{{"<mask>", 0}, {" my name ", -1}, {"<mask>", 0}, {" a<mask> <mask>ony ", -1},
                                {"<mask>", 0}}));
  EXPECT_EQ(extract(v, norm.get(), "<mask>, <mask>- \xE2\x97\x8C\xCC\xB0<mask>"),
            (std::vector<Split>{{"<mask>", 0}, {", ", -1}, {"<mask>", 0}, {"- \xE2\x97\x8C\xCC\xB0<mask>", -1}}));
}

TEST(AddedVocabulary, StripsUnicodeSpaces) {  // test_lstrip_unicode_space
  auto norm = lowercase();
  AddedVocabulary v;
  AddedToken mask = token("<mask>", 0, false, true);
  mask.lstrip = mask.rstrip = mask.single_word = true;
  v.add(mask);
  v.build(norm.get());
  EXPECT_EQ(extract(v, norm.get(), "Hi <mask> there\t<mask>\t<mask>\xE2\x80\x80"),
            (std::vector<Split>{{"hi", -1}, {" <mask> ", 0}, {"there", -1}, {"\t<mask>\t", 0},
                                {"<mask>\xE2\x80\x80", 0}}));
}

TEST(AddedVocabulary, LeftmostLongest) {
  AddedVocabulary v;
  v.add(token("<a>", 0, true));
  v.add(token("<a><b>", 1, true));
  v.add(token("b>", 2, true));
  v.build(nullptr);
  EXPECT_EQ(extract(v, nullptr, "x<a><b>y<a>b>"),
            (std::vector<Split>{{"x", -1}, {"<a><b>", 1}, {"y", -1}, {"<a>", 0}, {"b>", 2}}));
}

// A byte-level-free toy tokenizer: characters are tokens.
const char* const kToy = R"({
  "added_tokens":[{"id":5,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                  {"id":6,"content":"<tool>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false}],
  "model":{"type":"BPE","vocab":{"<":0,"s":1,">":2,"a":3,"b":4},"merges":[]},
  "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
                    "pair":[],"special_tokens":{"<s>":{"id":"<s>","ids":[5],"tokens":["<s>"]}}},
  "decoder":{"type":"Fuse"}})";

TEST(Tokenizer, ParseSpecialAndAddSpecialTokens) {
  const Tokenizer tok = Tokenizer::from_json(kToy);
  using Ids = std::vector<int32_t>;
  EXPECT_EQ(tok.encode("a<s>b"), (Ids{3, 5, 4}));
  EXPECT_EQ(tok.encode("a<s>b", false), (Ids{3, 0, 1, 2, 4}));  // special text stays text
  EXPECT_EQ(tok.encode("<tool>", false), (Ids{6}));               // non-special added tokens still match
  EXPECT_EQ(tok.encode("ab", true, true), (Ids{5, 3, 4}));
  EXPECT_EQ(tok.decode({5, 3, 6, 4}, false), "<s>a<tool>b");
  EXPECT_EQ(tok.decode({5, 3, 6, 4}, true), "a<tool>b");
  EXPECT_EQ(tok.decode({3, 99, -1, 4}), "ab");  // unknown ids are skipped
  EXPECT_TRUE(tok.is_special(5));
  EXPECT_FALSE(tok.is_special(6));
  EXPECT_EQ(tok.vocab_size(), 7u);
  EXPECT_EQ(tok.base_vocab_size(), 5u);
}

TEST(Tokenizer, ConfigAddsNamedSpecialTokensAndBos) {
  // transformers: a named special token missing from the added tokens becomes one (special, id reused from the
  // vocabulary or appended), and an explicit add_bos_token rebuilds the post-processor.
  const Tokenizer tok = Tokenizer::from_json(kToy, "toy.json", R"({"bos_token":"<s>","eos_token":{"content":"</e>"},
      "unk_token":"a","add_bos_token":false,"add_eos_token":true})");
  EXPECT_EQ(tok.eos_id(), std::optional<int32_t>(7));  // new token after the largest added id
  EXPECT_EQ(tok.unk_id(), std::optional<int32_t>(3));  // already in the vocabulary
  EXPECT_TRUE(tok.is_special(3));
  EXPECT_EQ(tok.encode("b</e>"), (std::vector<int32_t>{4, 7}));
  EXPECT_EQ(tok.encode("b", true, true), (std::vector<int32_t>{4, 7}));  // no BOS, EOS added
}

}  // namespace
}  // namespace vlm::text
