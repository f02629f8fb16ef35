// vlm eval --model DIR [--adapter DIR] --data FILE: loss, token accuracy and exact-match accuracy on a dataset,
// with a few answers shown (see src/train/evaluate.h). --json writes the report for scripts.
#include <cstdio>
#include <memory>

#include "apps/vlm/commands.h"
#include "core/file.h"
#include "core/json.h"
#include "train/evaluate.h"

namespace vlm::cli {
namespace {

struct EvalArgs {
  std::string model, adapter, data, json, device = "auto", dtype = "auto";
  int64_t batch_size = 8, max_new_tokens = 64, show = 3, limit = 0, max_seq_len = 2048;
  bool no_generate = false;
};

void run_eval(const EvalArgs& a) {
  VLM v = load(a.model, {a.device, a.dtype, a.adapter});
  const train::Dataset data = train::load_dataset(a.data);
  train::EvalOptions o;
  o.batch_size = a.batch_size;
  o.collate.max_seq_len = a.max_seq_len;
  o.exact_match = !a.no_generate;
  o.max_new_tokens = a.max_new_tokens;
  o.limit = a.limit;
  const train::EvalReport r = train::evaluate(v, data, o);
  for (int64_t i = 0; i < a.show && i < static_cast<int64_t>(r.answers.size()); ++i) {
    const auto& s = r.answers[static_cast<size_t>(i)];
    std::printf("%s  %s\n  expected: %s\n  got:      %s\n", s.correct ? "ok  " : "MISS", s.prompt.c_str(),
                s.expected.c_str(), s.generated.c_str());
  }
  std::printf("samples %lld  loss %.4f  token accuracy %.4f", static_cast<long long>(r.samples), r.loss,
              r.token_accuracy);
  if (o.exact_match) std::printf("  exact match %.4f", r.exact_match);
  std::printf("\n");
  if (!a.json.empty()) {
    Json j = {{"samples", r.samples}, {"skipped", r.skipped}, {"loss", r.loss}, {"token_accuracy", r.token_accuracy},
              {"tokens", r.tokens}};
    if (o.exact_match) {
      j["exact_match"] = r.exact_match;
      j["answers"] = Json::array();
      for (const auto& s : r.answers)
        j["answers"].push_back({{"origin", s.origin}, {"expected", s.expected}, {"generated", s.generated},
                                {"correct", s.correct}});
    }
    atomic_write_string(a.json, j.dump(1) + "\n");
  }
}

}  // namespace

Command add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Loss, token accuracy and exact-match accuracy on a JSONL dataset");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--model", a->model, "Model folder")->required();
  cmd->add_option("--adapter", a->adapter, "LoRA adapter folder (PEFT or mlx-vlm)");
  cmd->add_option("--data", a->data, "Dataset (JSONL)")->required();
  cmd->add_option("--batch-size", a->batch_size, "Samples per batch (default 8)");
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "Longest generated answer (default 64)");
  cmd->add_option("--max-seq-len", a->max_seq_len, "Longest sample in tokens (default 2048)");
  cmd->add_option("--limit", a->limit, "Evaluate only the first N samples");
  cmd->add_option("--show", a->show, "Answers to print (default 3)");
  cmd->add_flag("--no-generate", a->no_generate, "Only loss and token accuracy (no exact match)");
  cmd->add_option("--json", a->json, "Also write the report as JSON here");
  cmd->add_option("--device", a->device, "auto, cpu, cuda or cuda:N (default auto)");
  cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16 or float16");
  return {cmd, [a] { run_eval(*a); }};
}

}  // namespace vlm::cli
