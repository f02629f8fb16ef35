// Logging to stderr. The level comes from VLM_LOG (debug, info, warn, error; default info) or set_level().
#pragma once

#include <string>

#include "core/error.h"

namespace vlm::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_level(Level level);
Level level();
void write(Level level, const std::string& message);

template <typename... Args>
void debug(const Args&... args) {
  if (level() <= Level::kDebug) write(Level::kDebug, str(args...));
}
template <typename... Args>
void info(const Args&... args) {
  if (level() <= Level::kInfo) write(Level::kInfo, str(args...));
}
template <typename... Args>
void warn(const Args&... args) {
  if (level() <= Level::kWarn) write(Level::kWarn, str(args...));
}
template <typename... Args>
void error(const Args&... args) {
  if (level() <= Level::kError) write(Level::kError, str(args...));
}

}  // namespace vlm::log
