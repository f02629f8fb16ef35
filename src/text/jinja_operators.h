// Python operators on Jinja values: arithmetic, the % string operator, membership, len(), iteration and
// slicing. Errors are Python's (TypeError, ZeroDivisionError) raised as Failure; an Undefined operand of
// arithmetic raises its undefined error, as jinja2's Undefined does.
#pragma once

#include <optional>
#include <string>

#include "text/jinja_value.h"

namespace vlm::text::jinja {

// op is one of + - * / // % **. max_string_bytes bounds string/list repetition and concatenation.
Value binary_op(const std::string& op, const Value& a, const Value& b, size_t max_string_bytes);
Value negate(const Value& v);
Value unary_plus(const Value& v);
// Python `item in container`.
bool contains(const Value& container, const Value& item);
// Python len(v); Undefined has length 0.
size_t length(const Value& v);
// Python list(v): items of a list/tuple, keys of a dict, characters of a str (keeping provenance); an
// Undefined iterates as empty.
ValueList iterate(const Value& v);
// v[start:stop:step] for str, list and tuple; nullopt for anything else (jinja2 then yields Undefined).
std::optional<Value> slice(const Value& v, std::optional<int64_t> start, std::optional<int64_t> stop,
                           std::optional<int64_t> step);
// The code point at index i (negative counts from the end) of a str, nullopt when out of range.
std::optional<Value> string_index(const Value& s, int64_t i);

}  // namespace vlm::text::jinja
