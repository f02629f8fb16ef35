// TrackedString: a UTF-8 string that remembers where its bytes came from.
//
// The provenance is a list of content spans: byte ranges [begin, end) copied from strings the caller passed
// in as content (chat messages). The caller tokenizes these with special-token matching off, so a user typing
// "<|im_end|>" stays plain text. Spans are sorted, disjoint and never adjacent (runs are merged).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vlm::text::jinja {

struct ByteSpan {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const ByteSpan& o) const { return begin == o.begin && end == o.end; }
};

class TrackedString {
 public:
  TrackedString() = default;
  // All of `text` is markup (content = false) or all of it is content.
  explicit TrackedString(std::string text, bool content = false);

  const std::string& text() const { return text_; }
  size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }
  const std::vector<ByteSpan>& content_spans() const { return content_; }
  bool has_content() const { return !content_.empty(); }
  // True when every byte is content (an empty string is not).
  bool all_content() const;

  void append(const TrackedString& other);
  void append(std::string_view s, bool content = false);
  // Bytes [begin, end) with the provenance clipped to them.
  TrackedString substr(size_t begin, size_t end) const;

  // Answers "is byte i content?" for non-decreasing i in amortised O(1).
  class ContentCursor {
   public:
    explicit ContentCursor(const TrackedString& s) : spans_(s.content_) {}
    bool is_content(size_t byte);
    // True if any byte of [begin, end) is content.
    bool any_content(size_t begin, size_t end);

   private:
    const std::vector<ByteSpan>& spans_;
    size_t k_ = 0;
  };

 private:
  void add_content_span(size_t begin, size_t end);

  std::string text_;
  std::vector<ByteSpan> content_;
};

}  // namespace vlm::text::jinja
