// The trainer against HF PEFT + transformers (fixtures from scripts/fixtures/make_peft_train_fixtures.py): labels
// of multi-turn, multi-image samples, the loss and every LoRA gradient from a PEFT adapter, 5 AdamW steps with a
// cosine schedule and clipping; exact resume; a tiny model memorising data; non-finite losses.
#include <gtest/gtest.h>

#include <sstream>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/tensor_io.h"
#include "lora/adapter_io.h"
#include "models/registry.h"
#include "train/collator.h"
#include "train/loss.h"
#include "train/trainer.h"
#include "util/test_util.h"
#include "vlm.h"

namespace {

const std::string kModel = "tiny-qwen2-vl-chat";

std::string parity_dir() { return vlm::test::fixture("peft_train"); }

bool have_fixtures() {
  return vlm::path_exists(parity_dir() + "/expected.json") && vlm::path_exists(vlm::test::fixture(kModel));
}

double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         std::max(want.to(at::kDouble).abs().max().item<double>(), 1e-30);
}

std::vector<vlm::Json> read_jsonl(const std::string& path) {
  std::vector<vlm::Json> out;
  std::istringstream in(vlm::read_file(path, 1 << 26));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(vlm::Json::parse(line));
  return out;
}

vlm::train::TrainOptions parity_options(const std::string& out) {
  const vlm::Json s = vlm::read_json_file(parity_dir() + "/expected.json").at("settings");
  vlm::train::TrainOptions o;
  o.model_dir = vlm::test::fixture(kModel);
  o.data = parity_dir() + "/data.jsonl";
  o.output = out;
  o.adapter = parity_dir() + "/initial";
  o.device = "cpu";
  o.steps = s.at("steps").get<int64_t>();
  o.batch_size = 3;
  o.lr = s.at("lr").get<double>();
  o.weight_decay = s.at("weight_decay").get<double>();
  o.beta1 = s.at("betas")[0].get<double>();
  o.beta2 = s.at("betas")[1].get<double>();
  o.eps = s.at("eps").get<double>();
  o.schedule = s.at("schedule").get<std::string>();
  o.warmup_steps = s.at("warmup").get<int64_t>();
  o.max_grad_norm = s.at("max_grad_norm").get<double>();
  o.quiet = true;
  return o;
}

}  // namespace

namespace {

// The fixture's samples, encoded; their ids and labels must be the ones the Python side computed.
std::vector<vlm::train::EncodedSample> encode_parity_samples(const vlm::VLM& v) {
  const auto golden = vlm::safetensors::Checkpoint::open(parity_dir() + "/expected.safetensors");
  const vlm::train::Dataset data = vlm::train::load_dataset(parity_dir() + "/data.jsonl");
  std::vector<vlm::train::EncodedSample> samples;
  for (size_t i = 0; i < data.samples.size(); ++i) {
    auto s = vlm::train::encode_sample(*v.processor, data.samples[i], {}, nullptr);
    EXPECT_TRUE(s.has_value());
    if (!s) break;
    const std::string k = std::to_string(i);
    const at::Tensor ids = vlm::to_torch(golden, k + ".input_ids");
    const at::Tensor labels = vlm::to_torch(golden, k + ".labels");
    EXPECT_TRUE(torch::equal(at::tensor(std::vector<int64_t>(s->ids.begin(), s->ids.end())), ids)) << "ids " << k;
    EXPECT_TRUE(torch::equal(at::tensor(s->labels), labels)) << "labels of sample " << k;
    samples.push_back(std::move(*s));
  }
  return samples;
}

std::vector<const vlm::train::EncodedSample*> pointers(const std::vector<vlm::train::EncodedSample>& samples) {
  std::vector<const vlm::train::EncodedSample*> ptrs;
  for (const auto& s : samples) ptrs.push_back(&s);
  return ptrs;
}

// The batch's loss and every LoRA gradient against PEFT's (float32, 1e-4).
void expect_peft_loss_and_gradients(vlm::VLM& v, const vlm::lora::LoadedAdapter& adapter,
                                    const vlm::train::TrainBatch& batch) {
  const auto golden = vlm::safetensors::Checkpoint::open(parity_dir() + "/expected.safetensors");
  const auto sums = vlm::train::causal_lm_loss(*v.model, v.model->forward_hidden(batch.batch, nullptr), batch.labels);
  const double loss = sums.loss_sum.item<double>() / static_cast<double>(sums.tokens);
  const vlm::Json expected = vlm::read_json_file(parity_dir() + "/expected.json");
  EXPECT_EQ(sums.tokens, expected.at("label_tokens").get<int64_t>());
  EXPECT_EQ(batch.label_tokens, expected.at("label_tokens").get<int64_t>());
  EXPECT_NEAR(loss, expected.at("initial_loss").get<double>(), 1e-4 * std::abs(expected.at("initial_loss").get<double>()));
  (sums.loss_sum / static_cast<double>(sums.tokens)).backward();
  int compared = 0;
  for (const auto& a : adapter.adapters) {
    for (const auto& [which, t] : {std::pair{"lora_A", a.adapter->lora_A}, std::pair{"lora_B", a.adapter->lora_B}}) {
      const std::string key = "grad." + a.path + "." + which;
      ASSERT_TRUE(golden.contains(key)) << key;
      ASSERT_TRUE(t.grad().defined()) << key;
      EXPECT_LE(max_relative_error(t.grad(), vlm::to_torch(golden, key)), 1e-4) << key;
      ++compared;
    }
  }
  EXPECT_EQ(compared, static_cast<int>(golden.tensors().size() - 6) / 2) << "every gradient compared";
}

}  // namespace

TEST(TrainerParity, LabelsLossAndLoraGradientsMatchPeft) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir() << " (make_peft_train_fixtures.py)";
  vlm::VLM v = vlm::load(vlm::test::fixture(kModel), {"cpu", "float32", ""});
  const auto adapter = vlm::lora::load_adapter(parity_dir() + "/initial", *v.model, *v.family);
  v.model->train();
  const auto samples = encode_parity_samples(v);
  const auto batch =
      vlm::train::collate(pointers(samples), v.processor->tokenizer().pad_id().value_or(0), v.device);
  expect_peft_loss_and_gradients(v, adapter, batch);
}

// The same samples packed into one row without padding (positions restarting per sample, attention within each):
// PEFT's padded loss and gradients all the same.
TEST(TrainerParity, PackedBatchMatchesPeftLossAndGradients) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir();
  vlm::VLM v = vlm::load(vlm::test::fixture(kModel), {"cpu", "float32", ""});
  const auto adapter = vlm::lora::load_adapter(parity_dir() + "/initial", *v.model, *v.family);
  v.model->train();
  const auto samples = encode_parity_samples(v);
  const auto batch = vlm::train::collate_packed(pointers(samples), v.device);
  ASSERT_EQ(batch.batch.input_ids.size(0), 1);
  ASSERT_EQ(batch.batch.packed_lengths.size(), samples.size());
  expect_peft_loss_and_gradients(v, adapter, batch);
}

// On CUDA in bf16 the packed row runs the variable-length flash kernel: its loss and gradients agree with the
// padded batch's (SDPA with a mask) to bf16 precision.
TEST(TrainerParity, PackedBatchOnCudaMatchesPaddedBatch) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir();
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA";
  vlm::VLM v = vlm::load(vlm::test::fixture(kModel), {"cuda", "bfloat16", ""});
  const auto adapter = vlm::lora::load_adapter(parity_dir() + "/initial", *v.model, *v.family);
  v.model->train();
  const auto samples = encode_parity_samples(v);
  auto run = [&](const vlm::train::TrainBatch& batch) {
    const auto sums =
        vlm::train::causal_lm_loss(*v.model, v.model->forward_hidden(batch.batch, nullptr), batch.labels);
    const at::Tensor loss = sums.loss_sum / static_cast<double>(sums.tokens);
    loss.backward();
    std::vector<at::Tensor> grads;
    for (const auto& a : adapter.adapters)
      for (at::Tensor* t : {&a.adapter->lora_A, &a.adapter->lora_B}) {
        grads.push_back(t->grad().flatten().to(at::kFloat));
        t->mutable_grad() = at::Tensor();
      }
    return std::pair{loss.item<double>(), at::cat(grads)};
  };
  const auto [padded_loss, padded_grads] =
      run(vlm::train::collate(pointers(samples), v.processor->tokenizer().pad_id().value_or(0), v.device));
  const auto [packed_loss, packed_grads] = run(vlm::train::collate_packed(pointers(samples), v.device));
  EXPECT_NEAR(packed_loss, padded_loss, 1e-2 * std::abs(padded_loss));
  const double cosine =
      (packed_grads * padded_grads).sum().item<double>() / (packed_grads.norm() * padded_grads.norm()).item<double>();
  EXPECT_GT(cosine, 0.999) << "gradients of the packed and the padded batch";
}

TEST(TrainerParity, FiveAdamWStepsWithCosineScheduleMatchPeft) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir();
  const std::string out = vlm::test::temp_dir("trainer-parity");
  const auto summary = vlm::train::train(parity_options(out));
  const vlm::Json expected = vlm::read_json_file(parity_dir() + "/expected.json");
  const auto lines = read_jsonl(out + "/metrics.jsonl");
  const auto losses = expected.at("losses").get<std::vector<double>>();
  const auto lrs = expected.at("lrs").get<std::vector<double>>();
  ASSERT_EQ(lines.size(), losses.size());
  const auto norms = expected.at("grad_norms").get<std::vector<double>>();
  for (size_t i = 0; i < losses.size(); ++i) {
    EXPECT_NEAR(lines[i].at("loss").get<double>(), losses[i], 1e-4 * std::abs(losses[i])) << "step " << i + 1;
    EXPECT_NEAR(lines[i].at("lr").get<double>(), lrs[i], 1e-12) << "step " << i + 1;
    EXPECT_NEAR(lines[i].at("grad_norm").get<double>(), norms[i], 1e-4 * norms[i]) << "step " << i + 1;
  }
  EXPECT_EQ(summary.steps, static_cast<int64_t>(losses.size()));
  // The trained adapter: PEFT files keyed as transformers 5 nests the modules, whose weights match PEFT's after the
  // same steps. Adam divides by the root of the second moment, so components whose gradient is nearly zero move by
  // up to lr per step on rounding noise alone: the weights agree to 1e-2 of their scale (the losses to 1e-4).
  const vlm::Family* family = vlm::find_family("qwen2_vl");
  const auto golden = vlm::safetensors::Checkpoint::open(parity_dir() + "/expected.safetensors");
  const auto trained = vlm::safetensors::Checkpoint::open(out + "/adapter_model.safetensors");
  int compared = 0;
  for (const auto& [name, entry] : golden.tensors()) {
    if (name.rfind("final.", 0) != 0) continue;
    const std::string path = name.substr(6, name.rfind('.') - 6), which = name.substr(name.rfind('.') + 1);
    const std::string key = "base_model.model." + family->transformers_path(path) + "." + which + ".weight";
    ASSERT_TRUE(trained.contains(key)) << key;
    EXPECT_LE(max_relative_error(vlm::to_torch(trained, key), vlm::to_torch(golden, name)), 1e-2) << key;
    ++compared;
  }
  EXPECT_GT(compared, 0);
  vlm::test::remove_tree(out);
}

// Also: the number of encoding workers changes nothing (the straight run encodes inline, the split one on 3 and
// then 2 threads).
TEST(Trainer, ResumeIsBitwiseIdenticalToAnUninterruptedRun) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir();
  const std::string straight = vlm::test::temp_dir("resume-straight"), split = vlm::test::temp_dir("resume-split");
  auto options = [&](const std::string& out) {
    vlm::train::TrainOptions o = parity_options(out);
    o.adapter.clear();
    o.steps = 20;
    o.batch_size = 1;
    o.grad_accum = 2;
    o.lora.dropout = 0.1;  // draws from the RNG, which the checkpoint must restore
    o.lora.r = 4;
    o.save_every = 5;
    o.seed = 7;
    return o;
  };
  auto inline_encoding = options(straight);
  inline_encoding.num_workers = 0;
  vlm::train::train(inline_encoding);
  auto first = options(split);
  first.stop_after = 10;
  first.num_workers = 3;
  const auto stopped = vlm::train::train(first);
  EXPECT_TRUE(stopped.stopped_early);
  EXPECT_EQ(stopped.steps, 10);
  auto second = options(split);
  second.resume = split + "/checkpoints/step-000010";
  second.num_workers = 2;
  vlm::train::train(second);
  EXPECT_EQ(vlm::read_file(straight + "/adapter_model.safetensors", 1 << 26),
            vlm::read_file(split + "/adapter_model.safetensors", 1 << 26));
  // The metrics of the resumed run continue the first one's, step by step.
  const auto a = read_jsonl(straight + "/metrics.jsonl"), b = read_jsonl(split + "/metrics.jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].at("loss"), b[i].at("loss")) << i;
  // Checkpoints: the newest 3 (every 5 steps), each whole.
  const auto names = vlm::list_directory(split + "/checkpoints");
  EXPECT_EQ(names, (std::vector<std::string>{"step-000010", "step-000015", "step-000020"}));
  for (const auto& n : names)
    for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors",
                          "trainer_state.json"})
      EXPECT_TRUE(vlm::path_exists(split + "/checkpoints/" + n + "/" + f)) << n << "/" << f;
  vlm::test::remove_tree(straight);
  vlm::test::remove_tree(split);
}

// The mlp checkpointing level forms each MLP's gate/up product again in backward with the same products and dropout
// seeds, so training is bit for bit that of keeping everything; the layer level recomputes whole layers (the order of
// some float32 sums changes), so it trains to the same adapter up to rounding.
TEST(Trainer, CheckpointLevelsTrainTheSameAdapter) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir();
  auto run = [&](vlm::CheckpointLevel level) {
    const std::string out = vlm::test::temp_dir(std::string("levels-") + vlm::checkpoint_level_name(level));
    vlm::train::TrainOptions o = parity_options(out);
    o.adapter.clear();
    o.steps = 4;
    o.lora.dropout = 0.1;
    o.lora.r = 4;
    o.seed = 3;
    o.checkpointing = level;
    vlm::train::train(o);
    const std::string adapter = vlm::read_file(out + "/adapter_model.safetensors", 1 << 26);
    const auto file = vlm::safetensors::Checkpoint::open(out + "/adapter_model.safetensors");
    std::vector<at::Tensor> tensors;
    for (const auto& [name, entry] : file.tensors()) tensors.push_back(vlm::to_torch(file, name).clone());
    vlm::test::remove_tree(out);
    return std::make_pair(adapter, tensors);
  };
  const auto kept = run(vlm::CheckpointLevel::kNone);
  EXPECT_EQ(run(vlm::CheckpointLevel::kMlp).first, kept.first);
  const auto layer = run(vlm::CheckpointLevel::kLayer);
  ASSERT_EQ(layer.second.size(), kept.second.size());
  for (size_t i = 0; i < kept.second.size(); ++i)
    EXPECT_LE(max_relative_error(layer.second[i], kept.second[i]), 1e-4) << i;
}

TEST(Trainer, ATinyModelMemorisesASmallDataset) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir();
  const std::string out = vlm::test::temp_dir("memorise");
  vlm::train::TrainOptions o = parity_options(out);
  o.adapter.clear();
  o.steps = 40;
  o.lr = 1e-2;
  o.schedule = "constant";
  o.warmup_steps = 0;
  o.lora.r = 8;
  const auto s = vlm::train::train(o);
  EXPECT_LT(s.last_loss * 5, s.first_loss) << "first " << s.first_loss << " last " << s.last_loss;
  vlm::test::remove_tree(out);
}

TEST(Trainer, NonFiniteLossStopsWithTheStepAndSamples) {
  if (!have_fixtures()) GTEST_SKIP() << "missing fixture " << parity_dir();
  const std::string out = vlm::test::temp_dir("nonfinite");
  vlm::train::TrainOptions o = parity_options(out);
  o.adapter.clear();
  o.steps = 6;
  o.lr = 1e30;
  o.max_grad_norm = 0;
  o.schedule = "constant";
  o.warmup_steps = 0;
  try {
    vlm::train::train(o);
    FAIL() << "no error";
  } catch (const vlm::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("step "), std::string::npos) << m;
    EXPECT_NE(m.find("data.jsonl:"), std::string::npos) << m;
    EXPECT_NE(m.find("--skip-nonfinite"), std::string::npos) << m;
  }
  o.skip_nonfinite = true;
  const auto s = vlm::train::train(o);
  EXPECT_GT(s.nonfinite_steps, 0);
  vlm::test::remove_tree(out);
}
