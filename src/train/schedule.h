// Learning-rate schedules, exactly as transformers' get_scheduler builds them on a torch LambdaLR. With
// W = warmup_steps and T = total_steps, every kind warms up as lambda(k) = k / max(1, W) while k < W, then:
//   constant  ("constant_with_warmup")  lambda(k) = 1
//   linear    ("linear")                lambda(k) = max(0, (T - k) / max(1, T - W))
//   cosine    ("cosine", 0.5 cycles)    lambda(k) = max(0, 0.5 * (1 + cos(pi * (k - W) / max(1, T - W))))
// The learning rate of optimizer step k (0-based) is lr * lambda(k): LambdaLR applies lambda(0) at
// construction, and scheduler.step() after each optimizer.step() moves to k + 1. Past T the formulas are kept
// as they are (linear stays 0, cosine rises again), as transformers does.
#pragma once

#include <cstdint>
#include <string>

namespace vlm::train {

enum class ScheduleKind { kConstant, kLinear, kCosine };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::kConstant;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // optimizer steps of the whole run; required (> 0) by linear and cosine
  double lr = 1e-4;         // the peak (base) learning rate
};

// "constant" | "linear" | "cosine"; anything else is an error naming --lr-schedule.
ScheduleKind parse_schedule_kind(const std::string& name);
const char* schedule_kind_name(ScheduleKind kind);

// Throws a vlm::Error naming the field when the config cannot describe a schedule: negative or non-finite lr,
// negative warmup, and for linear / cosine total_steps <= 0 or warmup_steps > total_steps.
void validate_schedule(const ScheduleConfig& config);

// The multiplier lambda(step) of the base learning rate; validates the config; step must be >= 0.
double lr_lambda(const ScheduleConfig& config, int64_t step);
// The learning rate used for optimizer step `step` (0-based): config.lr * lr_lambda(config, step).
double lr_at(const ScheduleConfig& config, int64_t step);

}  // namespace vlm::train
