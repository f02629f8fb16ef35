// Errors that reach a user. Every error names where it happened (a file, a line, a field) and what was expected;
// the `vlm` command prints what() on one line and exits with the code of its kind.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace vlm {

enum class ErrorKind {
  kUser,      // bad input: a file, a flag value, a request (exit code 1)
  kUsage,     // the command line itself is wrong (exit code 2)
  kInternal,  // a bug: an invariant of ours failed (exit code 3)
};

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, ErrorKind kind = ErrorKind::kUser)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// str(a, b, c) streams its arguments into one string: the building block of error messages.
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

// Throws vlm::Error(str(args...)).
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(::vlm::str(args...));
}

// Runs fn(); an Error escaping it gets `context + ": "` put in front of its message, keeping its kind.
// Used to add the file or field being processed to errors raised deeper down.
template <typename Fn>
auto with_context(const std::string& context, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    throw Error(context + ": " + e.what(), e.kind());
  }
}

// Quotes a string for a message, escaping control characters and cutting it at `max_chars`.
std::string quote(const std::string& s, size_t max_chars = 80);

}  // namespace vlm

#define VLM_CHECK(cond, ...)                                                            \
  do {                                                                                  \
    if (!(cond)) throw ::vlm::Error(::vlm::str(__VA_ARGS__), ::vlm::ErrorKind::kUser); \
  } while (0)

#define VLM_ASSERT(cond)                                                                           \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      throw ::vlm::Error(::vlm::str("internal error: ", #cond, " failed at ", __FILE__, ":", __LINE__), \
                         ::vlm::ErrorKind::kInternal);                                             \
  } while (0)
