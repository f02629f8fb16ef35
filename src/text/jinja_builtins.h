// jinja2's builtin filters, tests and globals, as transformers' environment has them (plus its tojson,
// raise_exception and strftime_now). Filters that return generators in jinja2 (map, select, reject,
// selectattr, rejectattr, unique, items, batch, reverse of a sequence) return one-shot generator values
// here too, so `{% if xs|select %}` is always true and `xs|select|length` is an error, as in jinja2.
#pragma once

#include <string>
#include <unordered_map>

#include "text/jinja_value.h"

namespace vlm::text::jinja {

using FilterFn = Value (*)(Interpreter&, const Value& subject, CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& subject, CallArgs& args);

// nullptr when jinja2 has no such filter/test (or we do not support it).
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);

// range, dict, namespace, joiner, raise_exception, strftime_now.
std::unordered_map<std::string, Value> make_globals();

// jinja2's make_attrgetter: "a.b.0" looks up each dotted part with getitem semantics (digits as ints).
Value lookup_attribute_path(const Value& item, const Value& attribute);

// Registers the sequence filters (jinja_filters_sequences.cpp) into the filter table.
void add_sequence_filters(std::unordered_map<std::string, FilterFn>& table);
// An int argument of a filter (bool counts as int, as in Python); a runtime error naming `what` otherwise.
int64_t filter_int_arg(const Value& v, const char* what);

// markupsafe.escape: & < > " ' as HTML entities, keeping provenance of the other characters.
TrackedString html_escape(const TrackedString& s);

}  // namespace vlm::text::jinja
