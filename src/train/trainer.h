// The trainer: LoRA (or full) fine-tuning of a model folder on a JSONL dataset, with the features people rely on
// in HF Trainer + PEFT and miss in mlx-vlm: AdamW with PyTorch's semantics, constant / linear / cosine schedules
// with warmup, gradient accumulation (the loss normalised over all labelled tokens of the accumulated batch),
// global-norm clipping, --steps or --epochs with seeded shuffling, evaluation on a validation file, a progress
// bar, metrics as JSONL, atomic checkpoints that resume exactly (adapter, optimizer, schedule position, RNG
// states, data position), SIGINT / SIGTERM handled by finishing the step and saving, and non-finite losses
// caught. Output folder:
//   OUTPUT/adapter_config.json, adapter_model.safetensors   the final adapter (PEFT format)
//   OUTPUT/model.safetensors + the base's files             instead, for --full-finetune
//   OUTPUT/metrics.jsonl                                    one line per step and per evaluation
//   OUTPUT/checkpoints/step-NNNNNN/                         see checkpoint.h
#pragma once

#include <string>

#include "lora/attach.h"
#include "models/model.h"

namespace vlm::train {

struct TrainOptions {
  std::string model_dir, data, val_data, output, resume;
  std::string adapter;  // start from this adapter (PEFT or mlx-vlm) instead of a fresh one
  std::string device = "auto", dtype = "auto";
  int64_t steps = 0, epochs = 0;  // one of them (neither: 1 epoch)
  int64_t batch_size = 1, grad_accum = 1;
  double lr = 1e-4, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double max_grad_norm = 1.0;  // 0 = no clipping (the norm is still reported)
  std::string schedule = "constant";
  int64_t warmup_steps = 0;
  uint64_t seed = 0;
  int64_t save_every = 0, keep_checkpoints = 3, eval_every = 0, log_every = 1;
  int64_t max_seq_len = 2048;
  int64_t num_workers = 1;  // threads encoding samples ahead of the trainer (0 = on the training thread)
  bool train_on_prompt = false, skip_bad_samples = false, skip_nonfinite = false;
  bool full_finetune = false;
  CheckpointLevel checkpointing = CheckpointLevel::kNone;  // activations formed again in backward (less memory)
  bool packing = false;  // each micro-batch as one row without padding (collate_packed)
  int64_t stop_after = 0;  // stop (saving a checkpoint, as on a signal) once this many steps are done; 0 = never
  lora::AttachOptions lora;
  bool quiet = false;  // no summary lines on stderr (tests)
};

struct TrainSummary {
  int64_t steps = 0;              // optimizer steps done in total (including before a resume)
  double last_loss = 0;           // the last step's mean loss
  double first_loss = 0;          // the first step's mean loss of this run
  int64_t skipped_samples = 0;    // too long / no labels, this run
  int64_t bad_lines = 0;          // skipped malformed lines (--skip-bad-samples)
  int64_t nonfinite_steps = 0;    // skipped with --skip-nonfinite
  int64_t trainable_parameters = 0;
  int signal = 0;                 // the signal that stopped training early (0 = ran to the end)
  bool stopped_early = false;     // a signal or stop_after ended the run before total steps
  std::string last_checkpoint;
};

TrainSummary train(const TrainOptions& options);

}  // namespace vlm::train
