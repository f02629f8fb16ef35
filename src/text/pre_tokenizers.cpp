#include "text/pre_tokenizers.h"

#include "core/error.h"
#include "text/component_json.h"
#include "text/regex.h"
#include "text/split_pattern.h"
#include "text/unicode.h"

namespace vlm::text {

const char* const kGpt2SplitPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

// Replaces each piece by the sub-pieces `split_piece` appends (offsets relative to the piece); the text buffer is
// shared, only the piece list changes.
template <typename SplitPiece>
void split_in_place(PieceList& list, SplitPiece&& split_piece) {
  std::vector<Piece> out;
  out.reserve(list.pieces.size() * 2);
  std::vector<MatchSpan> ranges;
  for (const Piece& p : list.pieces) {
    ranges.clear();
    split_piece(list.view(p), ranges);
    for (const MatchSpan& r : ranges) out.push_back({p.begin + r.begin, p.begin + r.end, p.at_origin && r.begin == 0});
  }
  list.pieces.swap(out);
}

// Split on a regex (or literal) pattern.
class PatternSplit : public PreTokenizer {
 public:
  PatternSplit(std::shared_ptr<const Regex> regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(PieceList& list) const override {
    std::vector<MatchSpan> matches;
    std::vector<Segment> segments;
    split_in_place(list, [&](std::string_view text, std::vector<MatchSpan>& out) {
      matches.clear();
      regex_->find_all(text, matches);
      segments_from_matches(matches, text.size(), segments);
      if (invert_) invert_segments(segments);
      split_segments(segments, behavior_, out);
    });
  }

 private:
  std::shared_ptr<const Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// Split on characters selected by a predicate.
enum class CharClass { kWhitespace, kNumeric, kPunctuation, kDelimiter };

class CharSplit : public PreTokenizer {
 public:
  CharSplit(CharClass cls, SplitBehavior behavior, char32_t delimiter = 0)
      : cls_(cls), behavior_(behavior), delimiter_(delimiter) {}
  void pre_tokenize(PieceList& list) const override {
    std::vector<Segment> segments;
    split_in_place(list, [&](std::string_view text, std::vector<MatchSpan>& out) {
      segments_from_chars(text, [&](char32_t c) { return matches(c); }, segments);
      split_segments(segments, behavior_, out);
    });
  }

 private:
  bool matches(char32_t c) const {
    switch (cls_) {
      case CharClass::kWhitespace: return unicode::is_whitespace(c);
      case CharClass::kNumeric: return unicode::is_numeric(c);
      case CharClass::kPunctuation: return unicode::is_punctuation(c);
      case CharClass::kDelimiter: return c == delimiter_;
    }
    return false;
  }
  CharClass cls_;
  SplitBehavior behavior_;
  char32_t delimiter_;
};

// GPT-2 byte-level: optional leading space, optional GPT-2 regex split, then every byte becomes its printable
// stand-in character.
class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = Regex::compile(kGpt2SplitPattern, "ByteLevel");
    for (int b = 0; b < 256; ++b) {
      const std::string& c = unicode::byte_level_char(static_cast<unsigned char>(b));
      table_[b].size = static_cast<unsigned char>(c.size());
      c.copy(table_[b].bytes, c.size());
    }
  }
  void pre_tokenize(PieceList& list) const override {
    PieceList out;
    out.text.reserve(list.text.size() * 2);
    out.pieces.reserve(list.pieces.size() * 2);
    std::vector<MatchSpan> matches, ranges;
    std::vector<Segment> segments;
    std::string prefixed;
    for (const Piece& p : list.pieces) {
      std::string_view src = list.view(p);
      if (add_prefix_space_ && !src.empty() && src[0] != ' ') {
        prefixed.assign(" ");
        prefixed.append(src);
        src = prefixed;
      }
      ranges.clear();
      if (regex_) {
        matches.clear();
        regex_->find_all(src, matches);
        segments_from_matches(matches, src.size(), segments);
        split_segments(segments, SplitBehavior::kIsolated, ranges);
      } else if (!src.empty()) {
        ranges.push_back({0, src.size()});
      }
      for (const MatchSpan& r : ranges) {
        // Every byte becomes one or two bytes: size the buffer for the worst case, write, then trim.
        const size_t begin = out.text.size();
        out.text.resize(begin + 2 * (r.end - r.begin));
        char* dst = &out.text[begin];
        for (size_t i = r.begin; i < r.end; ++i) {
          const ByteChar& bc = table_[static_cast<unsigned char>(src[i])];
          dst[0] = bc.bytes[0];
          dst[1] = bc.bytes[1];
          dst += bc.size;
        }
        out.text.resize(static_cast<size_t>(dst - out.text.data()));
        out.pieces.push_back({begin, out.text.size(), p.at_origin && r.begin == 0});
      }
    }
    list = std::move(out);
  }

 private:
  struct ByteChar {
    char bytes[2];
    unsigned char size;
  };
  bool add_prefix_space_;
  std::shared_ptr<const Regex> regex_;
  ByteChar table_[256];
};

enum class PrependScheme { kAlways, kNever, kFirst };

// SentencePiece-style: spaces become the replacement character (default U+2581), which is prepended to the piece
// (always, never, or only to the piece at the start of the input), then the piece is cut before each replacement.
class Metaspace : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {
    unicode::append_utf8(replacement_utf8_, replacement);
  }
  void pre_tokenize(PieceList& list) const override {
    PieceList out;
    out.text.reserve(list.text.size() + list.pieces.size() * 3);
    std::vector<Segment> segments;
    std::vector<MatchSpan> ranges;
    std::string piece;
    for (const Piece& p : list.pieces) {
      const std::string_view src = list.view(p);
      piece.clear();
      for (char ch : src) {
        if (ch == ' ')
          piece += replacement_utf8_;
        else
          piece += ch;
      }
      const bool starts_with_replacement = piece.compare(0, replacement_utf8_.size(), replacement_utf8_) == 0;
      const bool prepend = !piece.empty() && !starts_with_replacement &&
                           (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && p.at_origin));
      if (prepend) piece.insert(0, replacement_utf8_);
      ranges.clear();
      if (split_) {
        segments_from_chars(piece, [&](char32_t c) { return c == replacement_; }, segments);
        split_segments(segments, SplitBehavior::kMergedWithNext, ranges);
      } else if (!piece.empty()) {
        ranges.push_back({0, piece.size()});
      }
      for (const MatchSpan& r : ranges) {
        const size_t begin = out.text.size();
        out.text.append(piece, r.begin, r.end - r.begin);
        out.pieces.push_back({begin, out.text.size(), p.at_origin && r.begin == 0});
      }
    }
    list = std::move(out);
  }

 private:
  char32_t replacement_;
  std::string replacement_utf8_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(PieceList& list) const override {
    for (const auto& step : steps_) step->pre_tokenize(list);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// Two steps in one: BertPreTokenizer = whitespace split (removed) then punctuation split (isolated).
std::unique_ptr<PreTokenizer> make_bert() {
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  steps.push_back(std::make_unique<CharSplit>(CharClass::kWhitespace, SplitBehavior::kRemoved));
  steps.push_back(std::make_unique<CharSplit>(CharClass::kPunctuation, SplitBehavior::kIsolated));
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

PrependScheme read_prepend_scheme(const JsonObject& obj) {
  PrependScheme scheme = PrependScheme::kAlways;  // HF's default when the field is absent
  if (obj.has("prepend_scheme")) {
    const std::string name = obj.get<std::string>("prepend_scheme");
    if (name == "always")
      scheme = PrependScheme::kAlways;
    else if (name == "never")
      scheme = PrependScheme::kNever;
    else if (name == "first")
      scheme = PrependScheme::kFirst;
    else
      fail(obj.where("prepend_scheme"), ": unknown prepend_scheme ", quote(name),
           " (expected always, never or first)");
  }
  // Older files say add_prefix_space instead; false must agree with "never" (HF rejects the file otherwise).
  if (obj.has("add_prefix_space") && !obj.get<bool>("add_prefix_space")) {
    if (scheme != PrependScheme::kNever)
      fail(obj.where("add_prefix_space"), ": add_prefix_space false does not match prepend_scheme (",
           obj.has("prepend_scheme") ? obj.get<std::string>("prepend_scheme") : "always by default", ")");
  }
  return scheme;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const std::string& file, const std::string& path) {
  const std::string type = component_type(j, file, path);
  const JsonObject obj(j, file, path);
  const std::string what = "pre-tokenizer " + type;
  if (type == "Split") {
    check_known_keys(obj, what, {"pattern", "behavior", "invert"});
    return std::make_unique<PatternSplit>(make_pattern(obj, "pattern"), parse_split_behavior(obj, "behavior"),
                                          obj.get<bool>("invert", false));
  }
  if (type == "ByteLevel") {
    check_known_keys(obj, what, {"add_prefix_space", "trim_offsets", "use_regex"});
    obj.get<bool>("trim_offsets", true);  // offsets only: accepted, nothing to do
    return std::make_unique<ByteLevel>(obj.get<bool>("add_prefix_space", true), obj.get<bool>("use_regex", true));
  }
  if (type == "Metaspace") {
    check_known_keys(obj, what, {"replacement", "add_prefix_space", "prepend_scheme", "split", "str_rep"});
    return std::make_unique<Metaspace>(single_char_option(obj, "replacement"), read_prepend_scheme(obj),
                                       obj.get<bool>("split", true));
  }
  if (type == "Digits") {
    check_known_keys(obj, what, {"individual_digits"});
    return std::make_unique<CharSplit>(CharClass::kNumeric, obj.get<bool>("individual_digits", false)
                                                                ? SplitBehavior::kIsolated
                                                                : SplitBehavior::kContiguous);
  }
  if (type == "Whitespace") {
    check_known_keys(obj, what, {});
    // HF keeps the matches of \w+|[^\w\s]+ (regex crate semantics) and drops the rest.
    return std::make_unique<PatternSplit>(Regex::compile("\\w+|[^\\w\\s]+", "Whitespace"), SplitBehavior::kRemoved,
                                          true);
  }
  if (type == "WhitespaceSplit") {
    check_known_keys(obj, what, {});
    return std::make_unique<CharSplit>(CharClass::kWhitespace, SplitBehavior::kRemoved);
  }
  if (type == "Punctuation") {
    check_known_keys(obj, what, {"behavior"});
    const SplitBehavior behavior =
        obj.has("behavior") ? parse_split_behavior(obj, "behavior") : SplitBehavior::kIsolated;
    return std::make_unique<CharSplit>(CharClass::kPunctuation, behavior);
  }
  if (type == "BertPreTokenizer") {
    check_known_keys(obj, what, {});
    return make_bert();
  }
  if (type == "CharDelimiterSplit") {
    check_known_keys(obj, what, {"delimiter"});
    return std::make_unique<CharSplit>(CharClass::kDelimiter, SplitBehavior::kRemoved,
                                       single_char_option(obj, "delimiter"));
  }
  if (type == "Sequence") {
    check_known_keys(obj, what, {"pretokenizers"});
    return std::make_unique<SequencePreTokenizer>(
        sequence_steps(obj, "pretokenizers", file, path, "pre-tokenizers", make_pre_tokenizer));
  }
  fail(obj.where("type"), ": pre-tokenizer type ", quote(type),
       " is not supported (supported: Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, "
       "BertPreTokenizer, CharDelimiterSplit, Sequence)");
}

}  // namespace vlm::text
