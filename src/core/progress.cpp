#include "core/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace vlm {
namespace {

std::recursive_mutex& line_mutex() {
  static std::recursive_mutex m;
  return m;
}
Progress* g_active = nullptr;  // the bar that owns the last terminal line; guarded by line_mutex()

int terminal_width() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 100;
}

std::string format_rate(double per_second, const std::string& unit) {
  char buf[64];
  if (per_second >= 100)
    std::snprintf(buf, sizeof buf, "%.0f %s/s", per_second, unit.c_str());
  else if (per_second >= 1 || per_second == 0)
    std::snprintf(buf, sizeof buf, "%.2f %s/s", per_second, unit.c_str());
  else
    std::snprintf(buf, sizeof buf, "%.2f s/%s", 1.0 / per_second, unit.c_str());
  return buf;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

bool Progress::enabled() {
  const char* v = std::getenv("VLM_PROGRESS");
  if (v && v[0] == '0') return false;
  return isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()) {
  if (!enabled()) return;
  std::lock_guard<std::recursive_mutex> lock(line_mutex());
  active_ = true;
  g_active = this;
  draw(true);
}

Progress::~Progress() {
  if (!active_) return;
  std::lock_guard<std::recursive_mutex> lock(line_mutex());
  std::fputs("\n", stderr);
  if (g_active == this) g_active = nullptr;
}

std::string Progress::render(int64_t done, double seconds, const std::string& status, int width) const {
  std::string counts, rate_eta;
  const double rate = seconds > 0 ? done / seconds : 0;
  char buf[96];
  if (total_ > 0) {
    std::snprintf(buf, sizeof buf, "%lld/%lld", static_cast<long long>(done), static_cast<long long>(total_));
    counts = buf;
    const double eta = rate > 0 ? (total_ - done) / rate : NAN;
    rate_eta = format_rate(rate, unit_) + "  " + format_duration(seconds) + "<" + format_duration(eta);
  } else {
    counts = std::to_string(done) + " " + unit_;
    rate_eta = format_rate(rate, unit_) + "  " + format_duration(seconds);
  }
  std::string tail = " " + counts + "  " + rate_eta + (status.empty() ? "" : "  " + status);
  std::string line = label_;
  if (total_ > 0) {
    const int bar = width - static_cast<int>(label_.size() + tail.size()) - 4;
    if (bar >= 10) {
      const int full = static_cast<int>(std::lround(bar * std::min(1.0, double(done) / total_)));
      line += " [" + std::string(full, '#') + std::string(bar - full, '-') + "]";
    }
  }
  line += tail;
  if (static_cast<int>(line.size()) > width - 1) line.resize(width - 1);
  return line;
}

void Progress::draw(bool force) {
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const std::string line = render(done_, seconds, status_, terminal_width());
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void Progress::update(int64_t done, const std::string& status) {
  done_ = done;
  status_ = status;
  if (!active_) return;
  std::lock_guard<std::recursive_mutex> lock(line_mutex());
  draw(false);
}

void Progress::finish(const std::string& status) {
  if (!status.empty()) status_ = status;
  if (!active_) return;
  std::lock_guard<std::recursive_mutex> lock(line_mutex());
  draw(true);
  std::fputs("\n", stderr);
  std::fflush(stderr);
  active_ = false;
  if (g_active == this) g_active = nullptr;
}

ProgressLineGuard::ProgressLineGuard() {
  line_mutex().lock();
  if (g_active) std::fputs("\r\033[K", stderr);
}

ProgressLineGuard::~ProgressLineGuard() {
  if (g_active) g_active->draw(true);
  line_mutex().unlock();
}

}  // namespace vlm
