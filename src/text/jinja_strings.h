// Python str operations on TrackedStrings, shared by str methods ("a".upper()) and filters (|upper):
// each output character keeps the provenance (content or markup) of the character it came from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "text/jinja_value.h"

namespace vlm::text::jinja {

enum class CaseMap { kUpper, kLower, kSwap, kTitleWords, kCapitalize };
// upper(), lower(), swapcase(), title() (Python's word rule), capitalize().
TrackedString change_case(const TrackedString& s, CaseMap mode);

// strip/lstrip/rstrip; chars == nullopt strips whitespace.
TrackedString strip(const TrackedString& s, const std::optional<std::string>& chars, bool left, bool right);

// split(sep=None, maxsplit=-1) and rsplit; sep == nullopt splits on whitespace runs.
ValueList split(const TrackedString& s, const std::optional<std::string>& sep, int64_t maxsplit,
                bool from_right);
ValueList splitlines(const TrackedString& s, bool keepends);

// replace(old, new, count=-1).
TrackedString replace(const TrackedString& s, const std::string& old, const TrackedString& replacement,
                      int64_t count, size_t max_bytes);

// find/rfind over code points in [start, end); -1 when absent.
int64_t find(const std::string& s, const std::string& sub, std::optional<int64_t> start,
             std::optional<int64_t> end, bool from_right);
int64_t count(const std::string& s, const std::string& sub);

// Pads to `width` code points with `fill` (center/ljust/rjust).
TrackedString pad(const TrackedString& s, size_t width, const std::string& fill, char align);

}  // namespace vlm::text::jinja
