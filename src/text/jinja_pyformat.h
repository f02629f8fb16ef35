// Python's number formatting and parsing, as templates observe it: repr() of floats, int()/float() of
// strings, the `%` string operator (and the `format` filter built on it) and str.format().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "text/jinja_value.h"

namespace vlm::text::jinja {

// repr(float): the shortest string that reads back to the same double, in Python's layout
// ("1.0", "0.1", "1e-05", "1e+16", "inf", "nan").
std::string float_repr(double f);

// Python int(s, base) for a str (surrounding whitespace, sign, '_' between digits, 0x/0o/0b prefixes when
// base is 0 or matches); nullopt when Python raises ValueError or the value does not fit in 64 bits.
std::optional<int64_t> parse_python_int(std::string_view s, int base = 10);
// Python float(s) for a str ("1e5", " 2.5 ", "inf", "nan", "1_000.5"); nullopt on ValueError.
std::optional<double> parse_python_float(std::string_view s);

// Python `format % args` for str formats: %s %r %d %i %u %f %F %e %E %g %G %x %X %o %c %% with flags,
// width and precision. `args` is a tuple (several values), a dict (for %(name)s) or one value.
TrackedString percent_format(const TrackedString& format, const Value& args);

// Python str.format with positional ({} {0}) and keyword ({name}) fields, attribute/index lookups are not
// supported; format specs support fill, align, sign, width, ',', precision and the types s d f e g x %.
TrackedString str_format(const TrackedString& format, const CallArgs& args);

}  // namespace vlm::text::jinja
