#include "text/decoders.h"

#include "core/error.h"
#include "text/component_json.h"
#include "text/regex.h"
#include "text/unicode.h"

namespace vlm::text {

std::string Decoder::decode(std::vector<std::string> tokens) const {
  decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

namespace {

// Byte-level characters back to bytes over all tokens at once, then lossy UTF-8 (one U+FFFD per maximal invalid
// subsequence). A token holding any character outside the 256 keeps its own UTF-8 bytes.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const size_t mark = bytes.size();
      bool all_mapped = true;
      for (size_t i = 0; i < t.size();) {
        size_t len;
        const int b = unicode::byte_level_byte(unicode::decode_at(t, i, &len));
        if (b < 0) {
          all_mapped = false;
          break;
        }
        bytes += static_cast<char>(b);
        i += len;
      }
      if (!all_mapped) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, unicode::decode_lossy(bytes));
  }
  bool is_byte_level() const override { return true; }
};

// The replacement character becomes a space; on the first token it is dropped instead (unless prepend_scheme is
// "never").
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepend) : replacement_(replacement), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      const std::string& t = tokens[k];
      std::string out;
      out.reserve(t.size());
      for (size_t i = 0; i < t.size();) {
        size_t len;
        const char32_t c = unicode::decode_at(t, i, &len);
        if (c == replacement_) {
          if (!(k == 0 && prepend_)) out += ' ';
        } else {
          out.append(t, i, len);
        }
        i += len;
      }
      tokens[k].swap(out);
    }
  }

 private:
  char32_t replacement_;
  bool prepend_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::shared_ptr<const Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<MatchSpan> matches;
    for (std::string& t : tokens) {
      matches.clear();
      pattern_->find_all(t, matches);
      if (matches.empty()) continue;
      t = replace_spans(t, matches, content_);
    }
  }

 private:
  std::shared_ptr<const Regex> pattern_;
  std::string content_;
};

// Runs of "<0xHH>" tokens become the bytes they stand for: the run's text when it is valid UTF-8, else one U+FFFD
// per byte.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    const auto flush = [&] {
      if (run.empty()) return;
      if (unicode::is_valid(run))
        out.push_back(run);
      else
        for (size_t i = 0; i < run.size(); ++i) out.emplace_back(unicode::kReplacementUtf8);
      run.clear();
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex_byte(t[3], t[4]);
      if (byte >= 0) {
        run += static_cast<char>(byte);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }

 private:
  // Rust's u8::from_str_radix(s, 16) on two characters: hex digits, or '+' followed by one hex digit.
  static int parse_hex_byte(char a, char b) {
    const auto digit = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                                                          : -1;
    };
    const int hb = digit(b);
    if (hb < 0) return -1;
    if (a == '+') return hb;
    const int ha = digit(a);
    return ha < 0 ? -1 : ha * 16 + hb;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of `content` from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, character)
      for (size_t i = 0; i < t.size();) {
        size_t len;
        chars.emplace_back(i, unicode::decode_at(t, i, &len));
        i += len;
      }
      size_t start_cut = 0;
      for (size_t i = 0; i < std::min(start_, chars.size()) && chars[i].second == content_; ++i) start_cut = i + 1;
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < std::min(stop_, chars.size() - start_cut); ++i) {
        const size_t index = chars.size() - i - 1;
        if (chars[index].second != content_) break;
        stop_cut = index;
      }
      const size_t b = start_cut < chars.size() ? chars[start_cut].first : t.size();
      const size_t e = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string& t = tokens[k];
      if (k != 0) {
        const size_t at = prefix_.empty() ? 0 : t.find(prefix_);
        if (t.compare(0, prefix_.size(), prefix_) == 0 && at != std::string::npos)
          t.erase(at, prefix_.size());  // replacen(prefix, "", 1): the first occurrence, here at 0
        else
          t.insert(0, " ");
      }
      if (cleanup_) t = cleanup(t);
    }
  }

 private:
  static void replace_all(std::string& s, const std::string& from, const std::string& to) {
    std::string out;
    size_t prev = 0;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, prev)) {
      out.append(s, prev, at - prev);
      out += to;
      prev = at + from.size();
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }
  static std::string cleanup(std::string s) {
    static const char* const kPairs[][2] = {{" .", "."},   {" ?", "?"},         {" !", "!"},    {" ,", ","},
                                            {" ' ", "'"},  {" n't", "n't"},     {" 'm", "'m"},  {" do not", " don't"},
                                            {" 's", "'s"}, {" 've", "'ve"},     {" 're", "'re"}};
    for (const auto& p : kPairs) replace_all(s, p[0], p[1]);
    return s;
  }
  std::string prefix_;
  bool cleanup_;
};

// The end-of-word suffix becomes a space, except in the last token where it is removed.
class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (suffix_.empty()) return;
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string& t = tokens[k];
      const std::string replacement = k + 1 == tokens.size() ? "" : " ";
      std::string out;
      size_t prev = 0;
      for (size_t at = t.find(suffix_); at != std::string::npos; at = t.find(suffix_, prev)) {
        out.append(t, prev, at - prev);
        out += replacement;
        prev = at + suffix_.size();
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string suffix_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }
  bool is_byte_level() const override {
    for (const auto& step : steps_)
      if (step->is_byte_level()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

bool metaspace_prepends(const JsonObject& obj) {
  const std::string scheme = obj.get<std::string>("prepend_scheme", "always");
  if (scheme != "always" && scheme != "never" && scheme != "first")
    fail(obj.where("prepend_scheme"), ": unknown prepend_scheme ", quote(scheme));
  if (obj.has("add_prefix_space") && !obj.get<bool>("add_prefix_space") && scheme != "never")
    fail(obj.where("add_prefix_space"), ": add_prefix_space false does not match prepend_scheme ", quote(scheme));
  return scheme != "never";
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& j, const std::string& file, const std::string& path) {
  const std::string type = component_type(j, file, path);
  const JsonObject obj(j, file, path);
  const std::string what = "decoder " + type;
  if (type == "ByteLevel") {
    check_known_keys(obj, what, {"add_prefix_space", "trim_offsets", "use_regex"});
    return std::make_unique<ByteLevelDecoder>();
  }
  if (type == "Metaspace") {
    check_known_keys(obj, what, {"replacement", "add_prefix_space", "prepend_scheme", "split", "str_rep"});
    return std::make_unique<MetaspaceDecoder>(single_char_option(obj, "replacement"), metaspace_prepends(obj));
  }
  if (type == "Replace") {
    check_known_keys(obj, what, {"pattern", "content"});
    auto pattern = make_pattern(obj, "pattern");
    const std::string content = obj.get<std::string>("content");
    if (obj.object("pattern").has("Regex") && content.find('$') != std::string::npos)
      fail(obj.where("content"), ": group references ($) in a Regex replacement are not supported");
    return std::make_unique<ReplaceDecoder>(std::move(pattern), content);
  }
  if (type == "ByteFallback") {
    check_known_keys(obj, what, {});
    return std::make_unique<ByteFallbackDecoder>();
  }
  if (type == "Fuse") {
    check_known_keys(obj, what, {});
    return std::make_unique<FuseDecoder>();
  }
  if (type == "Strip") {
    check_known_keys(obj, what, {"content", "start", "stop"});
    const int64_t start = obj.get<int64_t>("start", 0), stop = obj.get<int64_t>("stop", 0);
    if (start < 0 || stop < 0) fail(obj.where("start"), ": start and stop must not be negative");
    return std::make_unique<StripDecoder>(single_char_option(obj, "content"), static_cast<size_t>(start),
                                          static_cast<size_t>(stop));
  }
  if (type == "WordPiece") {
    check_known_keys(obj, what, {"prefix", "cleanup"});
    return std::make_unique<WordPieceDecoder>(obj.get<std::string>("prefix", "##"), obj.get<bool>("cleanup", true));
  }
  if (type == "BPEDecoder") {
    check_known_keys(obj, what, {"suffix"});
    return std::make_unique<BpeDecoder>(obj.get<std::string>("suffix", "</w>"));
  }
  if (type == "Sequence") {
    check_known_keys(obj, what, {"decoders"});
    return std::make_unique<SequenceDecoder>(sequence_steps(obj, "decoders", file, path, "decoders", make_decoder));
  }
  fail(obj.where("type"), ": decoder type ", quote(type),
       " is not supported (supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, WordPiece, "
       "BPEDecoder, Sequence)");
}

}  // namespace vlm::text
