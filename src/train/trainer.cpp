#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <deque>
#include <future>
#include <optional>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "lora/adapter_io.h"
#include "lora/fuse.h"
#include "train/checkpoint.h"
#include "train/collator.h"
#include "train/evaluate.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train/train_state.h"
#include "vlm.h"

namespace vlm::train {
namespace {

std::atomic<int> g_signal{0};
extern "C" void on_stop_signal(int sig) { g_signal.store(sig); }

// Installs SIGINT / SIGTERM handlers for the trainer's lifetime, restoring the previous ones after.
class StopSignals {
 public:
  StopSignals() {
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  int received() const { return g_signal.load(); }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The epoch order and a read position in it; draws encoded samples, skipping those that cannot be trained on.
// Samples are encoded (images decoded and preprocessed, template rendered, tokenized) ahead of the trainer on
// `workers` threads, up to `lookahead` samples past the read position, and consumed in epoch order: the batches,
// the skips and the saved position are the same for any number of workers (0 = encode on the caller's thread).
class SampleStream {
 public:
  SampleStream(const Dataset& data, const Processor& processor, const CollateOptions& options, uint64_t seed,
               DataPosition position, int workers, int64_t lookahead)
      : data_(data), processor_(processor), options_(options), seed_(seed), pos_(position), ahead_(position),
        lookahead_(std::max<int64_t>(lookahead, 1)), pool_(workers) {
    ahead_order_ = epoch_order(data_.samples.size(), seed_, ahead_.epoch);
  }

  // The next `n` trainable samples (wrapping into new epochs).
  std::vector<EncodedSample> take(int64_t n, int64_t* skipped) {
    std::vector<EncodedSample> out;
    int64_t misses = 0;
    while (static_cast<int64_t>(out.size()) < n) {
      fill();
      Pending next = std::move(pending_.front());
      pending_.pop_front();
      Encoded e = next.result.get();  // rethrows the encoder's error (a bad image file, ...)
      pos_ = next.after;
      if (e.sample) {
        out.push_back(std::move(*e.sample));
        misses = 0;
      } else {
        if (skipped) ++*skipped;
        if (next.epoch == 0) log::warn("skipping ", e.why);
        VLM_CHECK(++misses <= static_cast<int64_t>(data_.samples.size()), data_.path,
                  ": no sample fits --max-seq-len ", options_.max_seq_len);
      }
    }
    fill();  // the next step's samples are encoded while this one trains
    return out;
  }
  const DataPosition& position() const { return pos_; }

 private:
  struct Encoded {
    std::optional<EncodedSample> sample;
    std::string why;
  };
  struct Pending {
    std::future<Encoded> result;
    DataPosition after;  // the read position once this sample is consumed
    int64_t epoch = 0;
  };

  void fill() {
    while (static_cast<int64_t>(pending_.size()) < lookahead_) {
      if (ahead_.index >= static_cast<int64_t>(ahead_order_.size())) {
        ++ahead_.epoch;
        ahead_.index = 0;
        ahead_order_ = epoch_order(data_.samples.size(), seed_, ahead_.epoch);
      }
      const DatasetSample* s = &data_.samples[ahead_order_[static_cast<size_t>(ahead_.index)]];
      const int64_t epoch = ahead_.epoch;
      ++ahead_.index;
      auto result = pool_.submit([this, s] {
        Encoded e;
        e.sample = encode_sample(processor_, *s, options_, &e.why);
        return e;
      });
      pending_.push_back({std::move(result), ahead_, epoch});
    }
  }

  const Dataset& data_;
  const Processor& processor_;
  CollateOptions options_;
  uint64_t seed_;
  DataPosition pos_, ahead_;
  std::vector<size_t> ahead_order_;
  int64_t lookahead_;
  std::deque<Pending> pending_;
  ThreadPool pool_;  // last: its workers stop before the members their tasks use go away
};

int64_t total_steps_of(const TrainOptions& o, size_t samples) {
  if (o.steps > 0) return o.steps;
  const int64_t per_step = o.batch_size * o.grad_accum;
  const int64_t per_epoch = (static_cast<int64_t>(samples) + per_step - 1) / per_step;
  return per_epoch * std::max<int64_t>(o.epochs, 1);
}

void check_options(const TrainOptions& o) {
  VLM_CHECK(!o.model_dir.empty(), "--model is required");
  VLM_CHECK(!o.data.empty(), "--data is required");
  VLM_CHECK(!o.output.empty(), "--output is required");
  VLM_CHECK(o.steps >= 0 && o.epochs >= 0, "--steps and --epochs must be >= 0");
  VLM_CHECK(!(o.steps > 0 && o.epochs > 0), "give --steps or --epochs, not both");
  VLM_CHECK(o.batch_size > 0, "--batch-size must be > 0, got ", o.batch_size);
  VLM_CHECK(o.grad_accum > 0, "--grad-accum must be > 0, got ", o.grad_accum);
  VLM_CHECK(o.lr >= 0 && std::isfinite(o.lr), "--lr must be >= 0, got ", o.lr);
  VLM_CHECK(o.max_grad_norm >= 0, "--max-grad-norm must be >= 0, got ", o.max_grad_norm);
  VLM_CHECK(o.max_seq_len > 1, "--max-seq-len must be > 1, got ", o.max_seq_len);
  VLM_CHECK(o.save_every >= 0 && o.eval_every >= 0, "--save-every and --eval-every must be >= 0");
  VLM_CHECK(o.eval_every == 0 || !o.val_data.empty(), "--eval-every needs --val-data");
  VLM_CHECK(!(o.full_finetune && !o.adapter.empty()), "--adapter and --full-finetune exclude each other");
  VLM_CHECK(o.stop_after >= 0, "--stop-after must be >= 0");
  VLM_CHECK(o.num_workers >= 0 && o.num_workers <= 256, "--num-workers must be in 0..256, got ", o.num_workers);
}

}  // namespace

TrainSummary train(const TrainOptions& o) {
  check_options(o);
  const auto start = Clock::now();
  // A full fine-tune's checkpoint is a whole model folder: resuming loads the weights from it.
  VLM v = load(o.full_finetune && !o.resume.empty() ? o.resume : o.model_dir, {o.device, o.dtype, ""});
  v.model->set_checkpoint_level(o.checkpointing);
  const Dataset data = load_dataset(o.data, {o.skip_bad_samples});
  Dataset val;
  if (!o.val_data.empty()) val = load_dataset(o.val_data, {o.skip_bad_samples});
  const CollateOptions collate_options{o.max_seq_len, o.train_on_prompt};
  ScheduleConfig schedule{parse_schedule_kind(o.schedule), o.warmup_steps, total_steps_of(o, data.samples.size()),
                          o.lr};
  validate_schedule(schedule);

  TrainSummary summary;
  summary.bad_lines = static_cast<int64_t>(data.skipped);
  TrainerState state;
  state.seed = o.seed;
  state.total_steps = schedule.total_steps;

  // Trainable parameters: fresh or resumed adapters, or (full fine-tune) the language model and projector.
  std::vector<lora::AttachedAdapter> adapters;
  lora::AttachOptions lora_options = o.lora;
  if (!o.resume.empty()) {
    state = read_trainer_state(o.resume);
    VLM_CHECK(state.total_steps == schedule.total_steps, o.resume, ": this checkpoint belongs to a run of ",
              state.total_steps, " steps, but these options give ", schedule.total_steps,
              " (resume with the same --steps/--epochs, --batch-size, --grad-accum and data)");
  }
  if (!o.resume.empty() && !o.full_finetune) {
    auto loaded = lora::load_adapter(o.resume, *v.model, *v.family);
    adapters = std::move(loaded.adapters);
    lora_options = loaded.options;
    lora_options.train_vision = o.lora.train_vision;
  } else if (!o.adapter.empty() && !o.full_finetune) {
    auto loaded = lora::load_adapter(o.adapter, *v.model, *v.family);
    adapters = std::move(loaded.adapters);
    lora_options = loaded.options;
  } else if (!o.full_finetune) {
    at::manual_seed(o.seed);
    adapters = lora::attach_lora(*v.model, o.lora).adapters;
  } else {
    for (auto& item : v.model->named_parameters())
      item.value().set_requires_grad(o.lora.train_vision || item.key().rfind("visual.blocks.", 0) != 0);
  }
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (auto& item : v.model->named_parameters())
    if (item.value().requires_grad()) params.emplace_back(item.key(), item.value());
  summary.trainable_parameters = 0;
  for (const auto& [name, p] : params) summary.trainable_parameters += p.numel();
  const int64_t total_parameters = lora::count_parameters(*v.model, false);
  AdamW optimizer(params, {o.beta1, o.beta2, o.eps, o.weight_decay});
  if (!o.resume.empty()) restore_optimizer_and_rng(o.resume, optimizer, state, v.device);
  if (!o.quiet)
    std::fprintf(stderr, "vlm train: %s trainable parameters of %s (%.4f%%), %zu samples, %lld steps\n",
                 std::to_string(summary.trainable_parameters).c_str(), std::to_string(total_parameters).c_str(),
                 100.0 * static_cast<double>(summary.trainable_parameters) / static_cast<double>(total_parameters),
                 data.samples.size(), static_cast<long long>(schedule.total_steps));

  make_directories(o.output);
  MetricsLog metrics(path_join(o.output, "metrics.jsonl"), state.step);
  SampleStream stream(data, *v.processor, collate_options, o.seed, state.position, static_cast<int>(o.num_workers),
                      o.batch_size * o.grad_accum + o.num_workers);
  const int32_t pad = v.processor->tokenizer().pad_id().value_or(0);
  auto save = [&](int64_t step) {
    state.step = step;
    state.position = stream.position();
    summary.last_checkpoint = write_checkpoint(o.output, step, [&](const std::string& dir) {
      if (o.full_finetune)
        lora::save_fused_checkpoint(o.model_dir, dir, *v.model);
      else
        lora::save_peft(dir, adapters, lora_options, o.model_dir, v.family);
      save_optimizer_and_rng(dir, optimizer, v.device);
      write_trainer_state(dir, state);
    });
    prune_checkpoints(o.output, o.keep_checkpoints);
  };

  StopSignals signals;
  v.model->train();
  Progress progress("train", schedule.total_steps, "step");
  const auto run_start = Clock::now();
  int64_t run_tokens = 0;
  reset_peak_memory(v.device);
  for (int64_t step = state.step; step < schedule.total_steps; ++step) {
    const auto step_start = Clock::now();
    // The step's micro-batches first: the loss is normalised over all of their labelled tokens.
    std::vector<std::vector<EncodedSample>> micro;
    int64_t label_tokens = 0;
    for (int64_t m = 0; m < o.grad_accum; ++m) {
      micro.push_back(stream.take(o.batch_size, &summary.skipped_samples));
      for (const auto& s : micro.back()) label_tokens += s.label_tokens;
    }
    at::Tensor loss_sum;  // on the device: read once the step's micro-batches are all queued
    int64_t tokens = 0;
    std::vector<std::string> origins;
    for (const auto& samples : micro) {
      std::vector<const EncodedSample*> ptrs;
      for (const auto& s : samples) ptrs.push_back(&s);
      const TrainBatch b = o.packing ? collate_packed(ptrs, v.device) : collate(ptrs, pad, v.device);
      origins.insert(origins.end(), b.origins.begin(), b.origins.end());
      tokens += b.tokens;
      const LossSums sums = causal_lm_loss(*v.model, v.model->forward_hidden(b.batch, nullptr), b.labels);
      (sums.loss_sum / static_cast<double>(label_tokens)).backward();
      loss_sum = loss_sum.defined() ? loss_sum + sums.loss_sum.detach() : sums.loss_sum.detach();
    }
    const double loss = loss_sum.item<double>() / static_cast<double>(label_tokens);
    std::vector<at::Tensor> grads;
    for (auto& [name, p] : params) grads.push_back(p);
    const at::Tensor total_norm = clip_grad_norm(grads, o.max_grad_norm > 0 ? o.max_grad_norm : INFINITY);
    const double grad_norm = total_norm.defined() ? total_norm.item<double>() : 0.0;
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      std::string who;
      for (const auto& s : origins) who += (who.empty() ? "" : ", ") + s;
      if (!o.skip_nonfinite) {
        if (step > state.step) save(step);
        fail("step ", step + 1, ": the loss is ", loss, " (gradient norm ", grad_norm, ") on samples ", who,
             step > state.step ? "; the last good state is saved in " + summary.last_checkpoint : std::string(),
             " (--skip-nonfinite skips such steps)");
      }
      log::warn("step ", step + 1, ": non-finite loss on samples ", who, ", step skipped");
      ++summary.nonfinite_steps;
      optimizer.zero_grad();
      continue;
    }
    const double lr = lr_at(schedule, step);
    optimizer.step(lr);
    optimizer.zero_grad();
    if (step == state.step) summary.first_loss = loss;
    summary.last_loss = loss;
    run_tokens += tokens;
    const double seconds = seconds_since(step_start);
    const double tokens_per_s = static_cast<double>(run_tokens) / seconds_since(run_start);
    if ((step + 1) % std::max<int64_t>(o.log_every, 1) == 0 || step + 1 == schedule.total_steps)
      metrics.step({step + 1, loss, lr, grad_norm, tokens, tokens_per_s, seconds, peak_memory_bytes(v.device)});
    char status[128];
    std::snprintf(status, sizeof status, "loss %.4f lr %.2e %.0f tok/s", loss, lr, tokens_per_s);
    progress.update(step + 1 - state.step, status);
    if (o.eval_every > 0 && ((step + 1) % o.eval_every == 0 || step + 1 == schedule.total_steps)) {
      EvalOptions eval_options;
      eval_options.batch_size = o.batch_size;
      eval_options.collate = collate_options;
      const EvalReport e = evaluate(v, val, eval_options);
      v.model->train();
      metrics.eval(step + 1, e.loss, e.token_accuracy, e.tokens);
      const ProgressLineGuard guard;
      if (!o.quiet)
        std::fprintf(stderr, "vlm train: step %lld eval loss %.4f token accuracy %.4f\n",
                     static_cast<long long>(step + 1), e.loss, e.token_accuracy);
    }
    const bool stop = signals.received() != 0 || (o.stop_after > 0 && step + 1 >= o.stop_after &&
                                                  step + 1 < schedule.total_steps);
    if (stop || (o.save_every > 0 && (step + 1) % o.save_every == 0)) save(step + 1);
    if (stop) {
      summary.signal = signals.received();
      summary.stopped_early = true;
      summary.steps = step + 1;
      progress.finish("interrupted");
      return summary;
    }
  }
  progress.finish();
  summary.steps = schedule.total_steps;
  state.step = schedule.total_steps;
  if (o.full_finetune)
    lora::save_fused_checkpoint(o.model_dir, o.output, *v.model);
  else
    lora::save_peft(o.output, adapters, lora_options, o.model_dir, v.family);
  if (!o.quiet)
    std::fprintf(stderr, "vlm train: done in %s, final loss %.4f; %s written to %s\n",
                 format_duration(seconds_since(start)).c_str(), summary.last_loss,
                 o.full_finetune ? "model" : "adapter", o.output.c_str());
  return summary;
}

}  // namespace vlm::train
