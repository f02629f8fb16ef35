// What a training checkpoint records besides the weights, and the metrics log:
//   trainer_state.json     step, total steps, seed, data position (epoch, index into its order)
//   optimizer.safetensors  AdamW moments, step count in the metadata, and the torch RNG states ("rng.cpu",
//                          "rng.cuda") so dropout draws continue exactly as in an uninterrupted run
//   metrics.jsonl          {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "step_seconds",
//                          "peak_memory_bytes"} per logged step and {"step", "eval_loss", "eval_token_accuracy",
//                          "eval_tokens"} per evaluation
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "train/optimizer.h"

namespace vlm::train {

struct DataPosition {
  int64_t epoch = 0;
  int64_t index = 0;  // next entry of the epoch's order
};

struct TrainerState {
  int64_t step = 0;  // optimizer steps done
  int64_t total_steps = 0;
  uint64_t seed = 0;
  DataPosition position;
};

// The sample order of an epoch: a Fisher-Yates shuffle driven by SplitMix64 of (seed, epoch), the same on every
// platform and standard library.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, int64_t epoch);

void write_trainer_state(const std::string& dir, const TrainerState& state);
TrainerState read_trainer_state(const std::string& checkpoint_dir);

void save_optimizer_and_rng(const std::string& dir, const AdamW& optimizer, const at::Device& device);
void restore_optimizer_and_rng(const std::string& checkpoint_dir, AdamW& optimizer, const TrainerState& state,
                               const at::Device& device);

struct StepMetrics {
  int64_t step;
  double loss, lr, grad_norm;
  int64_t tokens;
  double tokens_per_s, step_seconds;
  int64_t peak_memory_bytes;
};

// Appends JSON lines, flushed after each. Opening keeps only the lines of steps <= `resume_step` (the lines an
// interrupted run wrote after its last checkpoint are dropped, as their steps will be run again).
class MetricsLog {
 public:
  MetricsLog(const std::string& path, int64_t resume_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void step(const StepMetrics& m);
  void eval(int64_t step, double loss, double token_accuracy, int64_t tokens);

 private:
  void write(const std::string& line);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace vlm::train
