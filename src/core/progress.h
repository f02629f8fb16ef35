// A progress bar on stderr: label, bar, done/total, rate and ETA, and a caller-supplied status ("loss 1.23").
// It draws only when stderr is a terminal (redrawing one line, at most 10 times a second) and stays quiet
// otherwise, so logs and pipes never fill with carriage returns. Log lines written meanwhile clear the bar first.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vlm {

class Progress {
 public:
  // total <= 0 means unknown: no bar and no ETA, only the count and the rate.
  Progress(std::string label, int64_t total, std::string unit = "it");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(int64_t done, const std::string& status = "");
  // Draws the final state, moves to a new line, and detaches.
  void finish(const std::string& status = "");

  // The text of one line, as drawn; public for tests. `seconds` is the time since the start.
  std::string render(int64_t done, double seconds, const std::string& status, int width) const;
  static bool enabled();  // stderr is a terminal and VLM_PROGRESS is not "0"

 private:
  void draw(bool force);
  friend class ProgressLineGuard;

  std::string label_, unit_, status_;
  int64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool active_ = false;
};

// Formats seconds as M:SS or H:MM:SS.
std::string format_duration(double seconds);

// While alive, the active progress line (if any) is cleared; it is redrawn on destruction.
class ProgressLineGuard {
 public:
  ProgressLineGuard();
  ~ProgressLineGuard();
};

}  // namespace vlm
