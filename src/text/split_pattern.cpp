#include "text/split_pattern.h"

#include <algorithm>

#include "core/error.h"
#include "text/component_json.h"

namespace vlm::text {

SplitBehavior parse_split_behavior(const JsonObject& obj, const std::string& key) {
  const std::string name = obj.get<std::string>(key);
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  fail(obj.where(key), ": unknown split behavior ", quote(name),
       " (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

std::shared_ptr<const Regex> make_pattern(const JsonObject& owner, const std::string& key) {
  const JsonObject pattern = owner.object(key);
  check_known_keys(pattern, "a pattern", {"String", "Regex"});
  if (pattern.has("String") == pattern.has("Regex"))
    fail(owner.where(key), ": expected exactly one of \"String\" or \"Regex\"");
  if (pattern.has("String")) return Regex::literal(pattern.get<std::string>("String"), pattern.where("String"));
  return Regex::compile(pattern.get<std::string>("Regex"), pattern.where("Regex"));
}

void segments_from_matches(const std::vector<MatchSpan>& matches, size_t size, std::vector<Segment>& out) {
  out.clear();
  size_t prev = 0;
  for (const MatchSpan& m : matches) {
    if (prev != m.begin) out.push_back({prev, m.begin, false});
    out.push_back({m.begin, m.end, true});
    prev = m.end;
  }
  if (prev != size) out.push_back({prev, size, false});
}

void invert_segments(std::vector<Segment>& segments) {
  for (Segment& s : segments) s.is_match = !s.is_match;
}

void split_segments(const std::vector<Segment>& segments, SplitBehavior behavior, std::vector<MatchSpan>& out) {
  // Each entry is a range plus whether to drop it; ranges are then filtered as HF does.
  struct Range {
    size_t begin, end;
    bool remove;
  };
  thread_local std::vector<Range> ranges;  // scratch, reused across calls
  ranges.clear();
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) ranges.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) ranges.push_back({s.begin, s.end, s.is_match});
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match == previous_match && !ranges.empty())
          ranges.back().end = s.end;
        else
          ranges.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !ranges.empty())
          ranges.back().end = s.end;
        else
          ranges.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      // Walk backwards: a match is glued to the front of the range after it.
      bool previous_match = false;
      for (size_t k = segments.size(); k-- > 0;) {
        const Segment& s = segments[k];
        if (s.is_match && !previous_match && !ranges.empty())
          ranges.back().begin = s.begin;
        else
          ranges.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      std::reverse(ranges.begin(), ranges.end());
      break;
    }
  }
  for (const Range& r : ranges)
    if (!r.remove && r.end > r.begin) out.push_back({r.begin, r.end});
}

}  // namespace vlm::text
