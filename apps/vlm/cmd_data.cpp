// vlm data synth --task T --n N --seed S --out DIR [--image-size PX]: writes a deterministic synthetic
// image-question-answer dataset (DIR/data.jsonl + DIR/images/*.png; see src/train/synth.h), the project's demo
// data. `vlm data` is a group so that later data tools (conversion, statistics) can join it.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "apps/vlm/commands.h"
#include "core/file.h"
#include "core/json.h"
#include "train/synth.h"

namespace vlm::cli {
namespace {

// One line per task with its share of the written samples, read back from what was written (the "task" field
// of each line), so that a mixed set shows its split.
void print_task_counts(const std::string& jsonl_path) {
  const std::string text = read_file(jsonl_path, size_t{1} << 32);
  std::map<std::string, int64_t> counts;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      const Json line = parse_json(text.substr(start, end - start), jsonl_path);
      counts[line.value("task", std::string("?"))] += 1;
    }
    start = end + 1;
  }
  for (const auto& [task, n] : counts) std::printf("  %-9s %lld\n", task.c_str(), static_cast<long long>(n));
}

void run_synth(const train::SynthOptions& o) {
  const int64_t n = train::write_synth_dataset(o);
  const std::string jsonl = path_join(o.out_dir, "data.jsonl");
  std::printf("wrote %lld samples (task %s, seed %llu, %lldx%lld images) to %s\n", static_cast<long long>(n),
              o.task.c_str(), static_cast<unsigned long long>(o.seed), static_cast<long long>(o.image_size),
              static_cast<long long>(o.image_size), jsonl.c_str());
  if (o.task == "mixed") print_task_counts(jsonl);
}

}  // namespace

Command add_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Dataset tools: synthesize demo datasets");
  cmd->require_subcommand(1);
  auto* synth = cmd->add_subcommand(
      "synth", "Write a synthetic image-question-answer dataset (data.jsonl + images/) of rendered shape scenes");
  auto o = std::make_shared<train::SynthOptions>();
  synth->add_option("--task", o->task,
                    "describe, count, color, shape, position or mixed (describe/color/position; default mixed)")
      ->check(CLI::IsMember({"describe", "count", "color", "shape", "position", "mixed"}));
  synth->add_option("--n", o->n, "Number of samples (default 100)")->check(CLI::Range(int64_t{1}, int64_t{10000000}));
  synth->add_option("--seed", o->seed, "Seed: the same seed gives the same dataset (default 0)");
  synth->add_option("--out", o->out_dir, "Output folder (created if missing)")->required();
  synth->add_option("--image-size", o->image_size, "Side of the square images in pixels (default 112)")
      ->check(CLI::Range(int64_t{32}, int64_t{2048}));
  return {synth, [o] { run_synth(*o); }};
}

}  // namespace vlm::cli
