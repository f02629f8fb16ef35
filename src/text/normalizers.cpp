#include "text/normalizers.h"

#include <vector>

#include "core/error.h"
#include "text/component_json.h"
#include "text/regex.h"
#include "text/unicode.h"

namespace vlm::text {

namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = unicode::normalize(text, form_); }

 private:
  unicode::NormalForm form_;
};

// Rust char::to_lowercase, character by character (so no final-sigma rule, as in HF).
class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      size_t len;
      const char32_t c = unicode::decode_at(text, i, &len);
      unicode::append_lowercase(out, c);
      i += len;
    }
    text.swap(out);
  }
};

// Removes leading and/or trailing White_Space characters.
class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t len;
        if (!unicode::is_whitespace(unicode::decode_at(text, begin, &len))) break;
        begin += len;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start;
        if (!unicode::is_whitespace(unicode::decode_last(std::string_view(text).substr(0, end), &start))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

// Removes combining marks (categories Mn, Mc, Me), as HF's StripAccents does (usually after NFD).
class StripAccents : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      size_t len;
      const char32_t c = unicode::decode_at(text, i, &len);
      if (!unicode::is_combining_mark(c)) out.append(text, i, len);
      i += len;
    }
    text.swap(out);
  }
};

// Prepends a string to non-empty text.
class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// Replaces every match of a String or Regex pattern by `content`.
class Replace : public Normalizer {
 public:
  Replace(std::shared_ptr<const Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::vector<MatchSpan> matches;
    pattern_->find_all(text, matches);
    if (matches.empty()) return;
    text = replace_spans(text, matches, content_);
  }

 private:
  std::shared_ptr<const Regex> pattern_;
  std::string content_;
};

// Maps every byte to its GPT-2 byte-level character.
class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size() * 2);
    for (unsigned char b : text) out += unicode::byte_level_char(b);
    text.swap(out);
  }
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const std::string& file, const std::string& path) {
  const std::string type = component_type(j, file, path);
  const JsonObject obj(j, file, path);
  const std::string what = "normalizer " + type;
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    check_known_keys(obj, what, {});
    const auto form = type == "NFC"    ? unicode::NormalForm::kNFC
                      : type == "NFD"  ? unicode::NormalForm::kNFD
                      : type == "NFKC" ? unicode::NormalForm::kNFKC
                                       : unicode::NormalForm::kNFKD;
    return std::make_unique<UnicodeNormalizer>(form);
  }
  if (type == "Lowercase") {
    check_known_keys(obj, what, {});
    return std::make_unique<Lowercase>();
  }
  if (type == "StripAccents") {
    check_known_keys(obj, what, {});
    return std::make_unique<StripAccents>();
  }
  if (type == "Strip") {
    check_known_keys(obj, what, {"strip_left", "strip_right"});
    return std::make_unique<Strip>(obj.get<bool>("strip_left", true), obj.get<bool>("strip_right", true));
  }
  if (type == "Prepend") {
    check_known_keys(obj, what, {"prepend"});
    return std::make_unique<Prepend>(obj.get<std::string>("prepend"));
  }
  if (type == "Replace") {
    check_known_keys(obj, what, {"pattern", "content"});
    auto pattern = make_pattern(obj, "pattern");
    const std::string content = obj.get<std::string>("content");
    // Newer tokenizers expand $1-style group references in Regex replacements; we do not.
    if (obj.object("pattern").has("Regex") && content.find('$') != std::string::npos)
      fail(obj.where("content"), ": group references ($) in a Regex replacement are not supported");
    return std::make_unique<Replace>(std::move(pattern), content);
  }
  if (type == "ByteLevel") {
    check_known_keys(obj, what, {});
    return std::make_unique<ByteLevelNormalizer>();
  }
  if (type == "Sequence") {
    check_known_keys(obj, what, {"normalizers"});
    return std::make_unique<SequenceNormalizer>(
        sequence_steps(obj, "normalizers", file, path, "normalizers", make_normalizer));
  }
  fail(obj.where("type"), ": normalizer type ", quote(type),
       " is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, "
       "ByteLevel, Sequence)");
}

}  // namespace vlm::text
