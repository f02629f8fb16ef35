// Logits processors against transformers' (fixtures from make_sampling_fixtures.py), sampler properties, and the
// generation step iterator reproducing transformers' greedy tokens on the tiny Qwen2-VL.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <torch/torch.h>

#include "core/error.h"
#include "core/json.h"
#include "core/tensor_io.h"
#include "generate/generation.h"
#include "models/registry.h"
#include "util/test_util.h"

namespace {

std::vector<std::vector<int64_t>> rows_of(const at::Tensor& t) {
  std::vector<std::vector<int64_t>> out;
  const at::Tensor c = t.to(at::kLong).contiguous();
  for (int64_t i = 0; i < c.size(0); ++i)
    out.emplace_back(c[i].data_ptr<int64_t>(), c[i].data_ptr<int64_t>() + c.size(1));
  return out;
}

vlm::Batch fixture_batch(const vlm::safetensors::Checkpoint& golden, const std::string& name, at::Device device) {
  vlm::Batch batch;
  batch.input_ids = vlm::to_torch(golden, name + ".input_ids").to(device);
  batch.attention_mask = vlm::to_torch(golden, name + ".attention_mask").to(device);
  batch.pixel_values = vlm::to_torch(golden, name + ".pixel_values").to(device);
  batch.image_grid_thw = vlm::to_torch(golden, name + ".image_grid_thw").to(device);
  return batch;
}

// Scaling the tiny model's weights by this makes its greedy tokens change from step to step.
constexpr double kVaryingScale = 3.0;

}  // namespace

TEST(Sampling, ProcessorsMatchTransformers) {
  const std::string dir = vlm::test::fixture("sampling");
  const vlm::Json cases = vlm::read_json_file(dir + "/sampling.json");
  const auto golden = vlm::safetensors::Checkpoint::open(dir + "/sampling.safetensors");
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].dump());
    vlm::gen::SamplingParams p;
    p.temperature = cases[i].at("temperature").get<double>();
    p.top_k = cases[i].at("top_k").get<int64_t>();
    p.top_p = cases[i].at("top_p").get<double>();
    p.min_p = cases[i].at("min_p").get<double>();
    p.repetition_penalty = cases[i].at("repetition_penalty").get<double>();
    const std::string k = std::to_string(i);
    const at::Tensor scores = vlm::to_torch(golden, k + ".scores");
    const auto context = rows_of(vlm::to_torch(golden, k + ".input_ids"));
    const at::Tensor got = vlm::gen::process_logits(scores, context, {{}, {}, {}}, p);
    const at::Tensor want = vlm::to_torch(golden, k + ".processed");
    EXPECT_TRUE(torch::equal(got.isinf(), want.isinf())) << "different tokens filtered";
    const at::Tensor finite = want.isfinite();
    EXPECT_TRUE(torch::allclose(got.index({finite}), want.index({finite}), 1e-5, 1e-5));
  }
}

TEST(Sampling, PresenceAndFrequencyPenalties) {
  vlm::gen::SamplingParams p;
  p.temperature = 0;
  p.presence_penalty = 0.5;
  p.frequency_penalty = 0.25;
  const at::Tensor logits = torch::zeros({1, 4});
  const at::Tensor got = vlm::gen::process_logits(logits, {{}}, {{2, 2, 3}}, p);
  // OpenAI's definition: logit - count * frequency - (count > 0) * presence.
  EXPECT_FLOAT_EQ(got[0][2].item<float>(), -(2 * 0.25 + 0.5));
  EXPECT_FLOAT_EQ(got[0][3].item<float>(), -(0.25 + 0.5));
  EXPECT_FLOAT_EQ(got[0][0].item<float>(), 0.f);
}

TEST(Sampling, SeedReproducesDrawsAndGreedyIsArgmax) {
  vlm::gen::SamplingParams p;
  p.temperature = 1.0;
  p.seed = 42;
  const at::Tensor scores = torch::randn({4, 100});
  auto g1 = vlm::gen::make_generator(p), g2 = vlm::gen::make_generator(p);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(torch::equal(vlm::gen::sample(scores, p, g1), vlm::gen::sample(scores, p, g2)));
  p.temperature = 0;
  EXPECT_TRUE(torch::equal(vlm::gen::sample(scores, p, g1), scores.argmax(-1)));
}

TEST(Sampling, InvalidParametersAreNamed) {
  vlm::gen::SamplingParams p;
  p.top_p = 0;
  try {
    vlm::gen::validate(p);
    FAIL();
  } catch (const vlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
  }
}

TEST(Generation, GreedyMatchesTransformersThroughTheStepIterator) {
  const std::string dir = vlm::test::fixture("tiny-qwen2-vl");
  const auto golden = vlm::safetensors::Checkpoint::open(dir + "/parity.safetensors");
  const auto loaded = vlm::load_model(dir, {});
  torch::NoGradGuard no_grad;
  for (const std::string name : {"one_image", "batch_padded"}) {
    SCOPED_TRACE(name);
    vlm::Batch batch;
    batch.input_ids = vlm::to_torch(golden, name + ".input_ids").clone();
    batch.attention_mask = vlm::to_torch(golden, name + ".attention_mask").clone();
    batch.pixel_values = vlm::to_torch(golden, name + ".pixel_values").clone();
    batch.image_grid_thw = vlm::to_torch(golden, name + ".image_grid_thw").clone();
    const auto want = rows_of(vlm::to_torch(golden, name + ".greedy"));
    vlm::gen::SamplingParams p;
    p.temperature = 0;
    vlm::gen::Generation gen(*loaded.model, batch, p, {{}, static_cast<int64_t>(want[0].size())});
    while (!gen.done()) gen.step();
    EXPECT_EQ(gen.generated(), want);
    EXPECT_GT(gen.stats().prompt_tokens, 0);
  }
}

TEST(Generation, StopsAtEos) {
  const std::string dir = vlm::test::fixture("tiny-qwen2-vl");
  const auto golden = vlm::safetensors::Checkpoint::open(dir + "/parity.safetensors");
  const auto loaded = vlm::load_model(dir, {});
  torch::NoGradGuard no_grad;
  vlm::Batch batch;
  batch.input_ids = vlm::to_torch(golden, "text_only.input_ids").clone();
  const auto want = rows_of(vlm::to_torch(golden, "text_only.greedy"));
  vlm::gen::SamplingParams p;
  p.temperature = 0;
  // Make the 5th greedy token an EOS id: generation ends right after it.
  vlm::gen::Generation gen(*loaded.model, batch, p, {{want[0][4]}, 32});
  while (!gen.done()) gen.step();
  const auto first = std::find(want[0].begin(), want[0].end(), want[0][4]);
  EXPECT_EQ(gen.generated()[0], std::vector<int64_t>(want[0].begin(), first + 1));
}

// On CUDA a greedy generation captures its decoding step as a graph that feeds itself its argmax, and queues steps
// ahead of the host. Its tokens must be those of transformers and of the eager steps, for padded batches, and when
// an EOS ends a row while further steps are already queued. The tiny model repeats one token, so the chained and
// eager steps are also compared on a copy whose weights are scaled up until its greedy tokens vary.
TEST(Generation, ChainedCudaGraphStepsMatchEagerAndTransformers) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const std::string dir = vlm::test::fixture("tiny-qwen2-vl");
  const auto golden = vlm::safetensors::Checkpoint::open(dir + "/parity.safetensors");
  const auto loaded = vlm::load_model(dir, {at::kFloat, at::Device(at::kCUDA, 0)});
  const auto scaled = vlm::load_model(dir, {at::kFloat, at::Device(at::kCUDA, 0)});
  {
    torch::NoGradGuard no_grad;
    for (at::Tensor& t : scaled.model->parameters()) t.mul_(kVaryingScale);
  }
  c10::InferenceMode inference;
  vlm::gen::SamplingParams p;
  p.temperature = 0;
  for (const std::string name : {"one_image", "batch_padded"}) {
    SCOPED_TRACE(name);
    const vlm::Batch batch = fixture_batch(golden, name, at::kCUDA);
    const auto want = rows_of(vlm::to_torch(golden, name + ".greedy"));
    const auto n = static_cast<int64_t>(want[0].size());
    const auto run = [&](vlm::Model& model, vlm::gen::StopCriteria stop, bool graph) {
      vlm::gen::Generation gen(model, batch, p, stop, {true, graph});
      while (!gen.done()) gen.step();
      EXPECT_EQ(gen.graphed(), graph);  // captured after two eager steps
      size_t longest = 0;
      for (const auto& row : gen.generated()) longest = std::max(longest, row.size());
      EXPECT_EQ(gen.stats().decode_steps, static_cast<int64_t>(longest) - 1);
      return gen.generated();
    };
    EXPECT_EQ(run(*loaded.model, {{}, n}, true), want);
    const auto eager = run(*scaled.model, {{}, n}, false);
    EXPECT_EQ(run(*scaled.model, {{}, n}, true), eager);
    // An EOS id first generated at the 6th token or later in row 0: that row ends there (steps queued beyond it
    // are dropped), others run on.
    int64_t eos = -1;
    const std::vector<int64_t>& row0 = eager[0];
    for (auto it = row0.begin() + 5; it < row0.end() && eos < 0; ++it)
      if (std::find(row0.begin(), it, *it) == it) eos = *it;
    ASSERT_GE(eos, 0) << "the scaled model's tokens do not vary";
    std::vector<std::vector<int64_t>> cut;
    for (const auto& row : eager) {
      const auto end = std::find(row.begin(), row.end(), eos);
      cut.emplace_back(row.begin(), end == row.end() ? end : end + 1);
    }
    EXPECT_EQ(run(*scaled.model, {{eos}, n}, true), cut);
  }
}

// The scaled model above on the CPU: its greedy tokens vary (else the CUDA test compares constant sequences).
TEST(Generation, ScaledTinyModelVaries) {
  const std::string dir = vlm::test::fixture("tiny-qwen2-vl");
  const auto golden = vlm::safetensors::Checkpoint::open(dir + "/parity.safetensors");
  const auto scaled = vlm::load_model(dir, {});
  torch::NoGradGuard no_grad;
  for (at::Tensor& t : scaled.model->parameters()) t.mul_(kVaryingScale);
  vlm::gen::SamplingParams p;
  p.temperature = 0;
  for (const std::string name : {"one_image", "batch_padded"}) {
    vlm::gen::Generation gen(*scaled.model, fixture_batch(golden, name, at::kCPU), p, {{}, 32});
    while (!gen.done()) gen.step();
    for (const auto& row : gen.generated()) {
      const std::set<int64_t> distinct(row.begin() + 5, row.end());
      EXPECT_GE(distinct.size(), 4u) << name;
    }
  }
}
