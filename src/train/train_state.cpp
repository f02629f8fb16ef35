#include "train/train_state.h"

#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"

#ifdef VLM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

namespace vlm::train {
namespace {

constexpr int kStateVersion = 1;

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

at::Generator default_generator(const at::Device& device) {
#ifdef VLM_WITH_CUDA
  if (device.is_cuda()) return at::cuda::detail::getDefaultCUDAGenerator(device.has_index() ? device.index() : 0);
#else
  (void)device;
#endif
  return at::detail::getDefaultCPUGenerator();
}

}  // namespace

std::vector<size_t> epoch_order(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  uint64_t state = seed * 0x2545f4914f6cdd1dull + static_cast<uint64_t>(epoch) + 1;
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[splitmix64(state) % i]);
  return order;
}

void write_trainer_state(const std::string& dir, const TrainerState& s) {
  const Json j = {{"format_version", kStateVersion},
                  {"global_step", s.step},
                  {"total_steps", s.total_steps},
                  {"seed", s.seed},
                  {"data_epoch", s.position.epoch},
                  {"data_index", s.position.index}};
  atomic_write_string(path_join(dir, "trainer_state.json"), j.dump(1) + "\n");
}

TrainerState read_trainer_state(const std::string& dir) {
  const std::string path = path_join(dir, "trainer_state.json");
  VLM_CHECK(path_exists(path), dir, ": not a training checkpoint (no trainer_state.json)");
  const Json j = read_json_file(path);
  const JsonObject o(j, path);
  VLM_CHECK(o.get<int64_t>("format_version") == kStateVersion, path, ": format_version ",
            o.get<int64_t>("format_version"), " is not supported (expected ", kStateVersion, ")");
  TrainerState s;
  s.step = o.get<int64_t>("global_step");
  s.total_steps = o.get<int64_t>("total_steps");
  s.seed = static_cast<uint64_t>(o.get<int64_t>("seed"));
  s.position = {o.get<int64_t>("data_epoch"), o.get<int64_t>("data_index")};
  VLM_CHECK(s.step >= 0 && s.step <= s.total_steps && s.position.epoch >= 0 && s.position.index >= 0, path,
            ": inconsistent counters");
  return s;
}

void save_optimizer_and_rng(const std::string& dir, const AdamW& optimizer, const at::Device& device) {
  auto tensors = optimizer.state_tensors();
  tensors.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  if (device.is_cuda()) tensors.emplace_back("rng.cuda", default_generator(device).get_state());
  save_safetensors(path_join(dir, "optimizer.safetensors"), tensors,
                   {{"optimizer", "adamw"}, {"step", std::to_string(optimizer.steps())}});
}

void restore_optimizer_and_rng(const std::string& dir, AdamW& optimizer, const TrainerState& state,
                               const at::Device& device) {
  const std::string path = path_join(dir, "optimizer.safetensors");
  const auto file = safetensors::Checkpoint::open(path);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, entry] : file.tensors())
    if (name.rfind("rng.", 0) != 0) tensors.emplace_back(name, to_torch(file, name).clone());
  optimizer.load_state(tensors, state.step, path);
  VLM_CHECK(file.contains("rng.cpu"), path, ": no tensor \"rng.cpu\"");
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  cpu.set_state(to_torch(file, "rng.cpu").clone());
  if (device.is_cuda()) {
    VLM_CHECK(file.contains("rng.cuda"), path, ": no tensor \"rng.cuda\" (was the checkpoint made on the CPU?)");
    at::Generator gen = default_generator(device);
    gen.set_state(to_torch(file, "rng.cuda").clone());
  }
}

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  std::string kept;
  if (resume_step > 0 && path_exists(path)) {
    std::istringstream lines(read_file(path, size_t{1} << 30));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      try {
        if (Json::parse(line).at("step").get<int64_t>() <= resume_step) kept += line + "\n";
      } catch (const std::exception&) {
        // A torn last line of a killed run: dropped.
      }
    }
  }
  atomic_write_string(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  VLM_CHECK(file_ != nullptr, path, ": cannot open for appending");
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const std::string& line) {
  VLM_CHECK(std::fputs((line + "\n").c_str(), file_) >= 0 && std::fflush(file_) == 0, path_, ": write failed");
}

void MetricsLog::step(const StepMetrics& m) {
  write(Json{{"step", m.step},
             {"loss", m.loss},
             {"lr", m.lr},
             {"grad_norm", m.grad_norm},
             {"tokens", m.tokens},
             {"tokens_per_s", m.tokens_per_s},
             {"step_seconds", m.step_seconds},
             {"peak_memory_bytes", m.peak_memory_bytes}}
            .dump());
}

void MetricsLog::eval(int64_t step, double loss, double token_accuracy, int64_t tokens) {
  write(Json{{"step", step}, {"eval_loss", loss}, {"eval_token_accuracy", token_accuracy}, {"eval_tokens", tokens}}
            .dump());
}

}  // namespace vlm::train
