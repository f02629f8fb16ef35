#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace vlm::train {

namespace {
constexpr double kPi = 3.141592653589793;  // Python's math.pi
}  // namespace

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "linear") return ScheduleKind::kLinear;
  if (name == "cosine") return ScheduleKind::kCosine;
  fail("--lr-schedule: expected \"constant\", \"linear\" or \"cosine\", got ", quote(name));
}

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant:
      return "constant";
    case ScheduleKind::kLinear:
      return "linear";
    case ScheduleKind::kCosine:
      return "cosine";
  }
  return "?";
}

void validate_schedule(const ScheduleConfig& c) {
  VLM_CHECK(std::isfinite(c.lr) && c.lr >= 0, "learning rate: expected a finite number >= 0, got ", c.lr);
  VLM_CHECK(c.warmup_steps >= 0, "warmup steps: expected >= 0, got ", c.warmup_steps);
  VLM_CHECK(c.total_steps >= 0, "total steps: expected >= 0, got ", c.total_steps);
  if (c.kind == ScheduleKind::kConstant) return;  // constant_with_warmup never looks at the total
  VLM_CHECK(c.total_steps > 0, "total steps: the ", schedule_kind_name(c.kind),
            " schedule needs the number of optimizer steps (> 0), got ", c.total_steps);
  VLM_CHECK(c.warmup_steps <= c.total_steps, "warmup steps: ", c.warmup_steps, " is more than the ",
            c.total_steps, " optimizer steps of the run (", schedule_kind_name(c.kind), " schedule)");
}

double lr_lambda(const ScheduleConfig& c, int64_t step) {
  validate_schedule(c);
  VLM_CHECK(step >= 0, "learning-rate schedule: step index must be >= 0, got ", step);
  // The arithmetic below follows transformers' lambdas operation by operation (Python floats are doubles), so
  // results agree to the last bit except for the ulp a different libm cos() may give.
  if (step < c.warmup_steps)
    return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, c.warmup_steps));
  switch (c.kind) {
    case ScheduleKind::kConstant:
      return 1.0;
    case ScheduleKind::kLinear:
      return std::max(0.0, static_cast<double>(c.total_steps - step) /
                               static_cast<double>(std::max<int64_t>(1, c.total_steps - c.warmup_steps)));
    case ScheduleKind::kCosine: {
      const double progress = static_cast<double>(step - c.warmup_steps) /
                              static_cast<double>(std::max<int64_t>(1, c.total_steps - c.warmup_steps));
      const double num_cycles = 0.5;
      return std::max(0.0, 0.5 * (1.0 + std::cos(kPi * num_cycles * 2.0 * progress)));
    }
  }
  VLM_ASSERT(false);
}

double lr_at(const ScheduleConfig& c, int64_t step) {
  return c.lr * lr_lambda(c, step);
}

}  // namespace vlm::train
