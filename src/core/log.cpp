#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/progress.h"

namespace vlm::log {
namespace {

Level level_from_env() {
  const char* v = std::getenv("VLM_LOG");
  if (!v) return Level::kInfo;
  if (!std::strcmp(v, "debug")) return Level::kDebug;
  if (!std::strcmp(v, "warn")) return Level::kWarn;
  if (!std::strcmp(v, "error")) return Level::kError;
  if (!std::strcmp(v, "off")) return Level::kOff;
  return Level::kInfo;
}

std::atomic<Level>& current() {
  static std::atomic<Level> level{level_from_env()};
  return level;
}

}  // namespace

void set_level(Level l) { current().store(l); }
Level level() { return current().load(); }

void write(Level l, const std::string& message) {
  static const char* const kNames[] = {"debug", "info", "warning", "error"};
  // A progress bar owns the last terminal line: clear it, print, and let it redraw.
  ProgressLineGuard guard;
  std::fprintf(stderr, "vlm: %s%s%s\n", l == Level::kInfo ? "" : kNames[static_cast<int>(l)],
               l == Level::kInfo ? "" : ": ", message.c_str());
  std::fflush(stderr);
}

}  // namespace vlm::log
