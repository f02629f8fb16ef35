// Normalizers, pre-tokenizers, decoders and post-processors one by one, built from tokenizer.json snippets. The
// expected values are those of HF tokenizers' own unit tests for each component (cited per test), or follow
// directly from the documented semantics.
#include <gtest/gtest.h>

#include "core/error.h"
#include "text/decoders.h"
#include "text/normalizers.h"
#include "text/post_processors.h"
#include "text/pre_tokenizers.h"

namespace vlm::text {
namespace {

using Strings = std::vector<std::string>;

Strings pre_tokenize(const std::string& json, const std::string& text, std::vector<bool> at_origin = {true},
                     Strings inputs = {}) {
  auto pre = make_pre_tokenizer(Json::parse(json), "test.json", "pre_tokenizer");
  PieceList list;
  if (inputs.empty()) inputs = {text};
  for (size_t i = 0; i < inputs.size(); ++i) {
    const size_t begin = list.text.size();
    list.text += inputs[i];
    list.pieces.push_back({begin, list.text.size(), i < at_origin.size() ? bool(at_origin[i]) : false});
  }
  pre->pre_tokenize(list);
  Strings out;
  for (const Piece& p : list.pieces) out.emplace_back(list.view(p));
  return out;
}

std::string normalize(const std::string& json, std::string text) {
  make_normalizer(Json::parse(json), "test.json", "normalizer")->normalize(text);
  return text;
}

Strings decode_chain(const std::string& json, Strings tokens) {
  make_decoder(Json::parse(json), "test.json", "decoder")->decode_chain(tokens);
  return tokens;
}

// split.rs "basic": the whitespace regex \w+|[^\w\s]+, inverted, with each behaviour.
TEST(PreTokenizer, SplitBehaviours) {
  const std::string base = R"({"type":"Split","pattern":{"Regex":"\\w+|[^\\w\\s]+"},"invert":true,"behavior":")";
  const std::string s = "How are you doing?";
  EXPECT_EQ(pre_tokenize(base + R"(Removed"})", s), (Strings{"How", "are", "you", "doing", "?"}));
  EXPECT_EQ(pre_tokenize(base + R"(Isolated"})", s),
            (Strings{"How", " ", "are", " ", "you", " ", "doing", "?"}));
  EXPECT_EQ(pre_tokenize(base + R"(MergedWithPrevious"})", s), (Strings{"How ", "are ", "you ", "doing", "?"}));
  EXPECT_EQ(pre_tokenize(base + R"(MergedWithNext"})", s), (Strings{"How", " are", " you", " doing", "?"}));
  EXPECT_EQ(pre_tokenize(base + R"(Contiguous"})", s), (Strings{"How", " ", "are", " ", "you", " ", "doing?"}));
  // split.rs "invert": splitting on " " equals splitting inverted on "Hello".
  EXPECT_EQ(pre_tokenize(R"({"type":"Split","pattern":{"String":"Hello"},"behavior":"Removed","invert":true})",
                         "Hello Hello Hello"),
            (Strings{"Hello", "Hello", "Hello"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Split","pattern":{"String":" "},"behavior":"Removed","invert":false})",
                         "Hey, man!"),
            (Strings{"Hey,", "man!"}));
}

// normalizer.rs doc: splitting "the-final--countdown" on '-'.
TEST(PreTokenizer, DelimiterBehavioursOnRuns) {
  const std::string base = R"({"type":"Split","pattern":{"String":"-"},"invert":false,"behavior":")";
  const std::string s = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(base + R"(Removed"})", s), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(base + R"(Isolated"})", s), (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(base + R"(MergedWithPrevious"})", s), (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(base + R"(MergedWithNext"})", s), (Strings{"the", "-final", "-", "-countdown"}));
}

// byte_level.rs tests.
TEST(PreTokenizer, ByteLevel) {
  const std::string no_prefix = R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true})";
  EXPECT_EQ(pre_tokenize(no_prefix, "Hello my friend, how is your day going?"),
            (Strings{"Hello", "\xC4\xA0my", "\xC4\xA0" "friend", ",", "\xC4\xA0how", "\xC4\xA0is", "\xC4\xA0your",
                     "\xC4\xA0" "day", "\xC4\xA0going", "?"}));
  EXPECT_EQ(pre_tokenize(no_prefix, "Hello there\nHello there"),
            (Strings{"Hello", "\xC4\xA0there", "\xC4\x8A", "Hello", "\xC4\xA0there"}));
  EXPECT_EQ(pre_tokenize(no_prefix, "Hello there       dear"),
            (Strings{"Hello", "\xC4\xA0there", "\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0", "\xC4\xA0" "dear"}));
  EXPECT_EQ(pre_tokenize(no_prefix, "i\xE2\xAD\xA2j"), (Strings{"i", "\xC3\xA2\xC5\x83\xC2\xA2", "j"}));
  const std::string prefix = R"({"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true})";
  for (const std::string s : {" Hello my friend", "Hello my friend"})
    EXPECT_EQ(pre_tokenize(prefix, s), (Strings{"\xC4\xA0Hello", "\xC4\xA0my", "\xC4\xA0" "friend"})) << s;
  EXPECT_EQ(pre_tokenize(R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":false})", "Hello my"),
            (Strings{"\xC4\xA0Hello\xC4\xA0my"}));
}

// metaspace.rs tests ("basic", "multiple_spaces", "non_legacy_meta_space").
TEST(PreTokenizer, Metaspace) {
  const std::string always = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})";
  EXPECT_EQ(pre_tokenize(always, "Hey friend!"), (Strings{"▁Hey", "▁friend!"}));
  EXPECT_EQ(pre_tokenize(always, "Hey   friend!"), (Strings{"▁Hey", "▁", "▁", "▁friend!"}));
  // "first": only the piece at the start of the input gets the prefix; split=false keeps pieces whole.
  const std::string first = R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})";
  EXPECT_EQ(pre_tokenize(first, "", {true, false}, {"Hey my friend ", "how▁are you"}),
            (Strings{"▁Hey▁my▁friend▁", "how▁are▁you"}));
  EXPECT_EQ(pre_tokenize(first, "", {true, false}, {" Hey ", "how"}), (Strings{"▁Hey▁", "how"}));
  // Older files spell prepend_scheme as add_prefix_space.
  EXPECT_EQ(pre_tokenize(R"({"type":"Metaspace","replacement":"_","add_prefix_space":true,"str_rep":"_"})", "a b"),
            (Strings{"_a", "_b"}));
  EXPECT_THROW(pre_tokenize(R"({"type":"Metaspace","replacement":"_","add_prefix_space":false})", "a"), Error);
}

// whitespace.rs, digits.rs, punctuation.rs tests.
TEST(PreTokenizer, WhitespaceDigitsPunctuation) {
  EXPECT_EQ(pre_tokenize(R"({"type":"Whitespace"})", "Hey man!"), (Strings{"Hey", "man", "!"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Whitespace"})", "\n"), Strings{});
  EXPECT_EQ(pre_tokenize(R"({"type":"WhitespaceSplit"})", "Hey, man, Good?"), (Strings{"Hey,", "man,", "Good?"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Digits","individual_digits":true})", "Hey 123 friend!"),
            (Strings{"Hey ", "1", "2", "3", " friend!"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Digits","individual_digits":false})", "Hey 123 friend!"),
            (Strings{"Hey ", "123", " friend!"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Punctuation","behavior":"Isolated"})", "Hey friend!     How are you?!?"),
            (Strings{"Hey friend", "!", "     How are you", "?", "!", "?"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"BertPreTokenizer"})", "Hey friend!     How are you?!?"),
            (Strings{"Hey", "friend", "!", "How", "are", "you", "?", "!", "?"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"CharDelimiterSplit","delimiter":"x"})", "axbxxc"), (Strings{"a", "b", "c"}));
  EXPECT_EQ(pre_tokenize(R"({"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},)"
                         R"({"type":"Digits","individual_digits":true}]})",
                         "ab12 c3"),
            (Strings{"ab", "1", "2", "c", "3"}));
}

TEST(Normalizer, Components) {
  EXPECT_EQ(normalize(R"({"type":"NFC"})", "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(normalize(R"({"type":"NFKC"})", "\xEF\xAC\x81"), "fi");
  EXPECT_EQ(normalize(R"({"type":"Lowercase"})", "HeLLo \xC4\xB0"), "hello i\xCC\x87");
  EXPECT_EQ(normalize(R"({"type":"Strip","strip_left":true,"strip_right":true})", " \t hi \xE3\x80\x80"), "hi");
  EXPECT_EQ(normalize(R"({"type":"Strip","strip_left":false,"strip_right":true})", "  hi  "), "  hi");
  // strip.rs "test_strip_accents": "Me llamó" after NFKD.
  EXPECT_EQ(normalize(R"({"type":"Sequence","normalizers":[{"type":"NFKD"},{"type":"StripAccents"}]})",
                      "Me llam\xC3\xB3"),
            "Me llamo");
  EXPECT_EQ(normalize(R"({"type":"Prepend","prepend":"▁"})", "hi"), "▁hi");
  EXPECT_EQ(normalize(R"({"type":"Prepend","prepend":"▁"})", ""), "");  // empty text stays empty
  // replace.rs tests.
  EXPECT_EQ(normalize(R"({"type":"Replace","pattern":{"String":"''"},"content":"\""})", "This is a ''test''"),
            "This is a \"test\"");
  EXPECT_EQ(normalize(R"({"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "})", "This     is   a  test"),
            "This is a test");
  EXPECT_EQ(normalize(R"({"type":"ByteLevel"})", "a b"), "a\xC4\xA0" "b");
}

TEST(Decoder, Components) {
  // byte_fallback.rs "decode".
  const std::string bf = R"({"type":"ByteFallback"})";
  EXPECT_EQ(decode_chain(bf, {"Hey", "friend!"}), (Strings{"Hey", "friend!"}));
  EXPECT_EQ(decode_chain(bf, {"<0x61>"}), (Strings{"a"}));
  EXPECT_EQ(decode_chain(bf, {"<0xE5>"}), (Strings{"\xEF\xBF\xBD"}));
  EXPECT_EQ(decode_chain(bf, {"<0xE5>", "<0x8f>"}), (Strings{"\xEF\xBF\xBD", "\xEF\xBF\xBD"}));
  EXPECT_EQ(decode_chain(bf, {"<0xE5>", "<0x8f>", "<0xab>", "a"}), (Strings{"\xE5\x8F\xAB", "a"}));
  EXPECT_EQ(decode_chain(bf, {"<0xE5>", "<0x8f>", "a"}), (Strings{"\xEF\xBF\xBD", "\xEF\xBF\xBD", "a"}));
  // strip.rs "decode".
  EXPECT_EQ(decode_chain(R"({"type":"Strip","content":"H","start":1,"stop":0})", {"Hey", " friend!", "HHH"}),
            (Strings{"ey", " friend!", "HH"}));
  EXPECT_EQ(decode_chain(R"({"type":"Strip","content":"y","start":0,"stop":1})", {"Hey", " friend!"}),
            (Strings{"He", " friend!"}));
  // metaspace.rs "decode".
  EXPECT_EQ(decode_chain(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})",
                         {"▁Hey", "▁friend!"}),
            (Strings{"Hey", " friend!"}));
  EXPECT_EQ(decode_chain(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true})",
                         {"▁Hey", "▁friend!"}),
            (Strings{" Hey", " friend!"}));
  // wordpiece.rs "wordpiece_decoder".
  EXPECT_EQ(make_decoder(Json::parse(R"({"type":"WordPiece","prefix":"##","cleanup":false})"), "t", "decoder")
                ->decode({"##uelo", "Ara", "##\xC3\xBAj", "##o", "No", "##guera"}),
            "##uelo Ara\xC3\xBAjo Noguera");
  EXPECT_EQ(decode_chain(R"({"type":"BPEDecoder","suffix":"</w>"})", {"hel", "lo</w>", "you</w>"}),
            (Strings{"hel", "lo ", "you"}));
  EXPECT_EQ(decode_chain(R"({"type":"Replace","pattern":{"String":"▁"},"content":" "})", {"▁a▁b"}),
            (Strings{" a b"}));
  EXPECT_EQ(decode_chain(R"({"type":"Fuse"})", {"a", "b", "c"}), (Strings{"abc"}));
  // ByteLevel: all tokens' bytes together, then lossy UTF-8.
  EXPECT_EQ(decode_chain(R"({"type":"ByteLevel"})", {"Hello", "\xC4\xA0my", "\xC3\xA2", "\xC4\xA4", "\xC2\xAC"}),
            (Strings{"Hello my\xE2\x82\xAC"}));
  EXPECT_EQ(decode_chain(R"({"type":"ByteLevel"})", {"\xC3\xA2", "a"}), (Strings{"\xEF\xBF\xBD" "a"}));
}

TEST(PostProcessor, TemplateAndBert) {
  auto tpl = make_post_processor(Json::parse(R"({"type":"TemplateProcessing",
      "single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},
                {"SpecialToken":{"id":"</s>","type_id":0}}],
      "pair":[],
      "special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]},"</s>":{"id":"</s>","ids":[2],"tokens":["</s>"]}}})"),
                                 "t", "post_processor");
  std::vector<int32_t> ids{7, 8};
  tpl->process(ids, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{7, 8}));
  tpl->process(ids, true);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 7, 8, 2}));
  auto bert = make_post_processor(Json::parse(R"({"type":"BertProcessing","sep":["[SEP]",102],"cls":["[CLS]",101]})"),
                                  "t", "post_processor");
  std::vector<int32_t> b{5};
  bert->process(b, true);
  EXPECT_EQ(b, (std::vector<int32_t>{101, 5, 102}));
  auto seq = make_post_processor(Json::parse(R"({"type":"Sequence","processors":[
      {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":true},
      {"type":"BertProcessing","sep":["[SEP]",102],"cls":["[CLS]",101]}]})"),
                                 "t", "post_processor");
  std::vector<int32_t> c{5};
  seq->process(c, true);
  EXPECT_EQ(c, (std::vector<int32_t>{101, 5, 102}));
}

TEST(Components, UnsupportedTypesAndOptionsAreNamed) {
  const auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { make_normalizer(Json::parse(R"({"type":"Precompiled"})"), "f.json", "normalizer"); })
                .find("normalizer type \"Precompiled\" is not supported"),
            std::string::npos);
  EXPECT_NE(message([] {
              make_pre_tokenizer(Json::parse(R"({"type":"Digits","individual_digits":true,"fancy":1})"), "f.json",
                                 "pre_tokenizer");
            }).find("f.json: pre_tokenizer.fancy: option \"fancy\""),
            std::string::npos);
  EXPECT_NE(message([] { make_decoder(Json::parse(R"({"type":"CTC"})"), "f.json", "decoder"); })
                .find("decoder type \"CTC\""),
            std::string::npos);
  EXPECT_NE(message([] {
              make_pre_tokenizer(Json::parse(R"({"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways"})"),
                                 "f.json", "pre_tokenizer");
            }).find("pre_tokenizer.behavior: unknown split behavior \"Sideways\""),
            std::string::npos);
  EXPECT_NE(message([] {
              make_decoder(Json::parse(R"({"type":"Strip","content":"ab","start":1,"stop":0})"), "f.json", "decoder");
            }).find("decoder.content: expected exactly one character"),
            std::string::npos);
  EXPECT_NE(message([] {
              make_normalizer(Json::parse(R"({"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"Nmt"}]})"),
                              "f.json", "normalizer");
            }).find("normalizer.normalizers[1].type"),
            std::string::npos);
}

}  // namespace
}  // namespace vlm::text
