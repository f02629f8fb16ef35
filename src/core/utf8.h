// UTF-8 validation as Python and the safetensors reference define it: no overlong forms, no surrogates, nothing
// above U+10FFFF.
#pragma once

#include <cstddef>
#include <string_view>

namespace vlm::utf8 {

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 if s does not start with one.
size_t valid_prefix_length(std::string_view s);
// True if all of s is valid; otherwise *error_offset (if given) receives the offset of the first bad byte.
bool is_valid(std::string_view s, size_t* error_offset = nullptr);

}  // namespace vlm::utf8
