// Splitting a piece of text on a pattern with one of HF's five delimiter behaviours (NormalizedString::split).
//
// A pattern first yields "segments" that tile the text, each flagged as a match or not (HF's Pattern::find_matches:
// every regex match is a segment, as is every gap between matches; for a character predicate every matching
// character is its own segment). The behaviour then decides what happens to the match segments:
//   Removed            drop them                         "the-final" on '-' -> "the" "final"
//   Isolated           keep them as pieces of their own  -> "the" "-" "final"
//   MergedWithPrevious append each to the piece before    -> "the-" "final"
//   MergedWithNext     prepend each to the piece after    -> "the" "-final"
//   Contiguous         merge runs of equal flags         -> like Isolated, with adjacent matches fused
// Empty pieces are dropped (PreTokenizedString::split does so).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "text/regex.h"
#include "text/unicode.h"

namespace vlm::text {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Reads a behaviour name ("Removed", "Isolated", ...) from obj[key].
SplitBehavior parse_split_behavior(const JsonObject& obj, const std::string& key);

struct Segment {
  size_t begin, end;
  bool is_match;
};

// Segments of a text of `size` bytes given its sorted, non-overlapping matches.
void segments_from_matches(const std::vector<MatchSpan>& matches, size_t size, std::vector<Segment>& out);

// Segments for a character predicate: each character with pred(c) is one match segment.
template <typename Pred>
void segments_from_chars(std::string_view text, Pred pred, std::vector<Segment>& out) {
  out.clear();
  size_t last = 0;
  for (size_t i = 0; i < text.size();) {
    size_t len;
    const char32_t c = unicode::decode_at(text, i, &len);
    if (pred(c)) {
      if (last < i) out.push_back({last, i, false});
      out.push_back({i, i + len, true});
      last = i + len;
    }
    i += len;
  }
  if (last < text.size()) out.push_back({last, text.size(), false});
}

// Flips every segment's match flag (Split's `invert`).
void invert_segments(std::vector<Segment>& segments);

// Applies `behavior` to `segments`; appends the kept, non-empty ranges to `out` (offsets relative to the text).
void split_segments(const std::vector<Segment>& segments, SplitBehavior behavior, std::vector<MatchSpan>& out);

}  // namespace vlm::text
