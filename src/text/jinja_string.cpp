#include "text/jinja_string.h"

#include <algorithm>

namespace vlm::text::jinja {

TrackedString::TrackedString(std::string text, bool content) : text_(std::move(text)) {
  if (content && !text_.empty()) content_.push_back({0, text_.size()});
}

bool TrackedString::all_content() const {
  return content_.size() == 1 && content_[0].begin == 0 && content_[0].end == text_.size();
}

void TrackedString::add_content_span(size_t begin, size_t end) {
  if (begin >= end) return;
  if (!content_.empty() && content_.back().end == begin) {
    content_.back().end = end;
  } else {
    content_.push_back({begin, end});
  }
}

void TrackedString::append(std::string_view s, bool content) {
  const size_t at = text_.size();
  text_.append(s);
  if (content) add_content_span(at, text_.size());
}

void TrackedString::append(const TrackedString& other) {
  const size_t at = text_.size();
  text_ += other.text_;
  for (const auto& span : other.content_) add_content_span(at + span.begin, at + span.end);
}

TrackedString TrackedString::substr(size_t begin, size_t end) const {
  end = std::min(end, text_.size());
  begin = std::min(begin, end);
  TrackedString out;
  out.text_ = text_.substr(begin, end - begin);
  for (const auto& span : content_) {
    const size_t b = std::max(span.begin, begin), e = std::min(span.end, end);
    if (b < e) out.add_content_span(b - begin, e - begin);
  }
  return out;
}

bool TrackedString::ContentCursor::is_content(size_t byte) {
  while (k_ < spans_.size() && spans_[k_].end <= byte) ++k_;
  return k_ < spans_.size() && spans_[k_].begin <= byte;
}

bool TrackedString::ContentCursor::any_content(size_t begin, size_t end) {
  while (k_ < spans_.size() && spans_[k_].end <= begin) ++k_;
  return k_ < spans_.size() && spans_[k_].begin < end;
}

}  // namespace vlm::text::jinja
