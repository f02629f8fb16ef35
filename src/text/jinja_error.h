// Errors of the Jinja interpreter. Every error that reaches a caller is a JinjaError naming the template
// (its origin, e.g. a file path), the 1-based line and column, and what went wrong.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"

namespace vlm::text::jinja {

struct SourceLoc {
  uint32_t line = 0;    // 1-based; 0 = unknown
  uint32_t column = 0;  // 1-based, in code points
};

enum class ErrorKind {
  kSyntax,     // the template does not parse
  kRuntime,    // a type error, a bad argument, a missing filter, ...
  kUndefined,  // an undefined value was used where Jinja's Undefined raises (attribute, call, arithmetic)
  kRaised,     // the template called raise_exception(message)
  kLimit,      // a sandbox limit was hit (output size, loop iterations, recursion depth)
  kSecurity,   // the sandbox refused an operation (mutating methods, include/import/extends)
};

const char* error_kind_name(ErrorKind kind);

class JinjaError : public vlm::Error {
 public:
  JinjaError(ErrorKind kind, const std::string& origin, SourceLoc loc, std::string detail);
  ErrorKind kind() const { return kind_; }
  uint32_t line() const { return loc_.line; }
  uint32_t column() const { return loc_.column; }
  // The message without the location prefix (for raise_exception: exactly the template's message).
  const std::string& detail() const { return detail_; }

 private:
  ErrorKind kind_;
  SourceLoc loc_;
  std::string detail_;
};

// Thrown by value operations, filters and methods, which do not know where in the template they run; the
// interpreter catches it at the innermost expression and rethrows a JinjaError with that expression's place.
struct Failure {
  ErrorKind kind;
  std::string message;
};

[[noreturn]] inline void raise(ErrorKind kind, std::string message) {
  throw Failure{kind, std::move(message)};
}
[[noreturn]] inline void type_error(std::string message) {
  raise(ErrorKind::kRuntime, std::move(message));
}

}  // namespace vlm::text::jinja
