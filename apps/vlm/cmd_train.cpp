// vlm train --model DIR --data FILE --output DIR [...]: LoRA (or full) fine-tuning; see src/train/trainer.h.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "apps/vlm/commands.h"
#include "train/trainer.h"

namespace vlm::cli {

Command add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Fine-tune a model (LoRA by default) on a JSONL dataset");
  auto o = std::make_shared<train::TrainOptions>();
  cmd->add_option("--model", o->model_dir, "Base model folder (Hugging Face layout)")->required();
  cmd->add_option("--data", o->data, "Training data (JSONL, one sample per line)")->required();
  cmd->add_option("--output", o->output, "Output folder (adapter, metrics.jsonl, checkpoints/)")->required();
  cmd->add_option("--val-data", o->val_data, "Validation data (JSONL)");
  cmd->add_option("--steps", o->steps, "Optimizer steps (or --epochs)");
  cmd->add_option("--epochs", o->epochs, "Passes over the data (default 1 when --steps is not given)");
  cmd->add_option("--batch-size", o->batch_size, "Samples per micro-batch (default 1)");
  cmd->add_option("--grad-accum", o->grad_accum, "Micro-batches per optimizer step (default 1)");
  cmd->add_option("--lr", o->lr, "Peak learning rate (default 1e-4)");
  cmd->add_option("--lr-schedule", o->schedule, "constant, linear or cosine (default constant)");
  cmd->add_option("--warmup-steps", o->warmup_steps, "Linear warmup steps (default 0)");
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW weight decay (default 0)");
  cmd->add_option("--adam-beta1", o->beta1, "AdamW beta1 (default 0.9)");
  cmd->add_option("--adam-beta2", o->beta2, "AdamW beta2 (default 0.999)");
  cmd->add_option("--adam-eps", o->eps, "AdamW eps (default 1e-8)");
  cmd->add_option("--max-grad-norm", o->max_grad_norm, "Global gradient-norm clipping; 0 = off (default 1)");
  cmd->add_option("--seed", o->seed, "Seed for initialisation, shuffling and dropout (default 0)");
  cmd->add_option("--save-every", o->save_every, "Checkpoint every K steps (default: only on a signal)");
  cmd->add_option("--keep-checkpoints", o->keep_checkpoints, "Keep the newest K checkpoints (default 3; 0 = all)");
  cmd->add_option("--eval-every", o->eval_every, "Evaluate on --val-data every N steps and at the end");
  cmd->add_option("--log-every", o->log_every, "Write a metrics line every N steps (default 1)");
  cmd->add_option("--max-seq-len", o->max_seq_len, "Longest sample in tokens (default 2048)");
  cmd->add_flag("--packing", o->packing,
                "Pack each micro-batch into one row without padding (attention stays within each sample)");
  cmd->add_option("--num-workers", o->num_workers,
                  "Threads decoding and encoding samples ahead of the trainer; 0 = none (default 1)");
  cmd->add_flag("--train-on-prompt", o->train_on_prompt, "Learn every token, not only the assistant turns");
  cmd->add_flag("--skip-bad-samples", o->skip_bad_samples, "Skip (and count) malformed dataset lines");
  cmd->add_flag("--skip-nonfinite", o->skip_nonfinite, "Skip steps whose loss is not finite instead of stopping");
  cmd->add_option("--resume", o->resume, "Continue from OUTPUT/checkpoints/step-N");
  cmd->add_option("--adapter", o->adapter, "Continue training this adapter (PEFT or mlx-vlm) instead of a new one");
  cmd->add_option("--stop-after", o->stop_after, "Stop after this many steps with a checkpoint, to resume later");
  cmd->add_flag("--full-finetune", o->full_finetune, "Train every language-model weight instead of LoRA");
  // The activation checkpointing level: --checkpoint-level, or the flags naming a level (both: offload, which
  // implies the other, as before the levels).
  auto level = std::make_shared<std::string>();
  auto layer_flag = std::make_shared<bool>(false), offload_flag = std::make_shared<bool>(false);
  auto* level_option =
      cmd->add_option("--checkpoint-level", *level,
                      "Activations formed again in backward instead of kept: none (default); mlp (each layer's "
                      "gate/up product; the whole MLP where LoRA's fused node does not apply); layer (each decoder "
                      "layer, ~30% more compute); offload (layer, with inputs in pinned CPU memory: the longest "
                      "sequences)")
          ->check(CLI::IsMember({"none", "mlp", "layer", "offload"}));
  auto* layer_option = cmd->add_flag("--gradient-checkpointing", *layer_flag, "Same as --checkpoint-level layer");
  auto* offload_option = cmd->add_flag("--checkpoint-offload", *offload_flag, "Same as --checkpoint-level offload");
  level_option->excludes(layer_option)->excludes(offload_option);
  cmd->add_option("--rank,-r", o->lora.r, "LoRA rank (default 8)");
  cmd->add_option("--alpha", o->lora.alpha, "LoRA alpha; scale = alpha / rank (default 16)");
  cmd->add_option("--dropout", o->lora.dropout, "LoRA dropout (default 0)");
  cmd->add_flag("--rslora", o->lora.rslora, "Scale by alpha / sqrt(rank)");
  cmd->add_flag("--dora", o->lora.dora, "Weight-decomposed LoRA (DoRA)");
  cmd->add_option("--init", o->lora.init, "default (A Kaiming-uniform, B zero) or gaussian");
  cmd->add_option("--target", o->lora.targets,
                  "Layers to adapt: names (q_proj), a regex, or all-linear (default: every language-model linear)");
  cmd->add_flag("--train-vision", o->lora.train_vision, "Also adapt the vision tower and projector");
  cmd->add_option("--device", o->device, "auto, cpu, cuda or cuda:N (default auto)");
  cmd->add_option("--dtype", o->dtype, "Base weights: auto, float32, bfloat16 (default: bf16 on CUDA, f32 on CPU)");
  return {cmd, [o, level, layer_flag, offload_flag] {
            o->checkpointing = !level->empty() ? checkpoint_level_from_name(*level)
                               : *offload_flag ? CheckpointLevel::kOffload
                               : *layer_flag   ? CheckpointLevel::kLayer
                                               : CheckpointLevel::kNone;
            const train::TrainSummary s = train::train(*o);
            if (s.stopped_early)
              std::fprintf(stderr, "vlm train: stopped after step %lld%s; checkpoint %s\nvlm train: continue with "
                           "--resume %s\n", static_cast<long long>(s.steps),
                           s.signal ? (" by signal " + std::to_string(s.signal)).c_str() : "",
                           s.last_checkpoint.c_str(), s.last_checkpoint.c_str());
            if (s.signal != 0) {
              std::fflush(nullptr);
              std::exit(128 + s.signal);
            }
          }};
}

}  // namespace vlm::cli
