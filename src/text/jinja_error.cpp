#include "text/jinja_error.h"

namespace vlm::text::jinja {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kSyntax:
      return "syntax error";
    case ErrorKind::kRuntime:
      return "error";
    case ErrorKind::kUndefined:
      return "undefined value";
    case ErrorKind::kRaised:
      return "raise_exception";
    case ErrorKind::kLimit:
      return "limit exceeded";
    case ErrorKind::kSecurity:
      return "sandbox";
  }
  return "error";
}

namespace {

std::string format_message(ErrorKind kind, const std::string& origin, SourceLoc loc,
                           const std::string& detail) {
  std::string where = origin.empty() ? "template" : origin;
  if (loc.line) where += str(":", loc.line, ":", loc.column);
  return str(where, ": ", error_kind_name(kind), ": ", detail);
}

}  // namespace

JinjaError::JinjaError(ErrorKind kind, const std::string& origin, SourceLoc loc, std::string detail)
    : vlm::Error(format_message(kind, origin, loc, detail)),
      kind_(kind),
      loc_(loc),
      detail_(std::move(detail)) {}

}  // namespace vlm::text::jinja
