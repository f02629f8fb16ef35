// Activation checkpointing (nn/checkpoint.h): gradients with recomputation equal those of a plain backward, for a
// small MLP with dropout (the dropout masks must be drawn again identically) and for the tiny Qwen2-VL model with
// LoRA adapters (dropout 0.1) trained through the trainer's collator and loss, at each CheckpointLevel that forms
// activations again (whole layers; the MLPs' gate/up product). The expected values are the plain
// backward's own: checkpointing must not change what is computed, only when.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/file.h"
#include "lora/attach.h"
#include "nn/checkpoint.h"
#include "nn/linear_group.h"
#include "train/collator.h"
#include "train/dataset.h"
#include "train/loss.h"
#include "util/test_util.h"
#include "vlm.h"

namespace {

double max_abs_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  return max_abs_difference(got, want) / std::max(want.to(at::kDouble).abs().max().item<double>(), 1e-30);
}

// Autograd nodes reachable from `t` whose name contains `part` (the checkpoint node is named after its Function).
int count_graph_nodes(const at::Tensor& t, const std::string& part) {
  std::vector<torch::autograd::Node*> todo{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  int count = 0;
  while (!todo.empty()) {
    torch::autograd::Node* node = todo.back();
    todo.pop_back();
    if (!node || !seen.insert(node).second) continue;
    if (node->name().find(part) != std::string::npos) ++count;
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return count;
}

void clear_grads(torch::nn::Module& m) {
  for (auto& p : m.parameters())
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

struct Block : torch::nn::Module {
  Block() {
    up = register_module("up", torch::nn::Linear(6, 16));
    down = register_module("down", torch::nn::Linear(16, 6));
    drop = register_module("drop", torch::nn::Dropout(0.3));
  }
  at::Tensor forward(const at::Tensor& x) { return x + down(drop(torch::gelu(up(x)))); }
  torch::nn::Linear up{nullptr}, down{nullptr};
  torch::nn::Dropout drop{nullptr};
};

struct MlpRun {
  at::Tensor out, input_grad;
  std::vector<at::Tensor> param_grads;
  at::Tensor next_random;  // the first draw after backward: checkpointing must leave the generator where it was
  int calls = 0;           // block calls
  int checkpoint_nodes = 0;
};

// Two blocks with dropout in sequence, each optionally checkpointed, then a weighted sum as the loss.
MlpRun run_mlp(Block& a, Block& b, const at::Tensor& x0, bool checkpointed, uint64_t seed = 7) {
  clear_grads(a);
  clear_grads(b);
  MlpRun r;
  const at::Tensor x = x0.clone().requires_grad_(true);
  auto block = [&r](Block& m) {
    return [&r, &m](const at::Tensor& in) {
      ++r.calls;
      return m.forward(in);
    };
  };
  torch::manual_seed(seed);
  at::Tensor h = checkpointed ? vlm::nn::checkpoint(block(a), x) : block(a)(x);
  h = checkpointed ? vlm::nn::checkpoint(block(b), h) : block(b)(h);
  r.checkpoint_nodes = count_graph_nodes(h, "CheckpointFunction");
  const at::Tensor weights = at::linspace(-1.0, 2.0, h.numel()).view(h.sizes());
  (h * weights).sum().backward();
  r.out = h.detach();
  r.input_grad = x.grad();
  for (Block* m : {&a, &b})
    for (const auto& p : m->parameters()) r.param_grads.push_back(p.grad().clone());
  r.next_random = torch::rand({4});
  return r;
}

}  // namespace

TEST(Checkpoint, MlpWithDropoutGivesThePlainGradients) {
  torch::manual_seed(0);
  Block a, b;
  a.train();
  b.train();
  const at::Tensor x = torch::randn({5, 6});
  const MlpRun plain = run_mlp(a, b, x, false);
  const MlpRun ckpt = run_mlp(a, b, x, true);
  EXPECT_EQ(plain.calls, 2);
  EXPECT_EQ(ckpt.calls, 4) << "each block runs once more in backward";
  EXPECT_EQ(plain.checkpoint_nodes, 0);
  EXPECT_EQ(ckpt.checkpoint_nodes, 2);
  EXPECT_LE(max_abs_difference(ckpt.out, plain.out), 1e-6);
  ASSERT_TRUE(ckpt.input_grad.defined());
  EXPECT_LE(max_abs_difference(ckpt.input_grad, plain.input_grad), 1e-6);
  ASSERT_EQ(ckpt.param_grads.size(), plain.param_grads.size());
  for (size_t i = 0; i < plain.param_grads.size(); ++i)
    EXPECT_LE(max_abs_difference(ckpt.param_grads[i], plain.param_grads[i]), 1e-6) << "parameter " << i;
  EXPECT_TRUE(torch::equal(ckpt.next_random, plain.next_random)) << "the generator state after backward";

  // The comparison can fail: another seed draws other dropout masks, hence other gradients.
  const MlpRun other_seed = run_mlp(a, b, x, true, 8);
  EXPECT_GT(max_abs_difference(other_seed.input_grad, plain.input_grad), 1e-3);
}

namespace {

// An eval-mode Block whose calls through fn() are counted.
struct CountedBlock {
  CountedBlock() { block.eval(); }
  std::function<at::Tensor(const at::Tensor&)> fn() {
    return [this](const at::Tensor& in) {
      ++calls;
      return block.forward(in);
    };
  }
  Block block;
  int calls = 0;
};

}  // namespace

TEST(Checkpoint, WithoutGradModeTheBlockIsJustCalled) {
  CountedBlock a;
  const at::Tensor x = torch::randn({3, 6});
  {
    torch::NoGradGuard no_grad;
    const at::Tensor y = vlm::nn::checkpoint(a.fn(), x.clone().requires_grad_(true));
    EXPECT_FALSE(y.requires_grad());
  }
  EXPECT_EQ(a.calls, 1);
}

TEST(Checkpoint, AnInputWithoutGradIsCheckpointedToo) {
  // A frozen embedding's output: the block is still recomputed in backward, and its parameters get the plain
  // backward's gradients.
  torch::manual_seed(3);
  CountedBlock a;
  const at::Tensor x = torch::randn({3, 6});
  a.block.forward(x).sum().backward();
  const at::Tensor plain = a.block.up->weight.grad().clone();
  clear_grads(a.block);
  const at::Tensor y = vlm::nn::checkpoint(a.fn(), x);
  EXPECT_EQ(count_graph_nodes(y, "CheckpointFunction"), 1);
  y.sum().backward();
  EXPECT_EQ(a.calls, 2);  // forward and the recomputation
  ASSERT_TRUE(a.block.up->weight.grad().defined());
  EXPECT_LE(max_abs_difference(a.block.up->weight.grad(), plain), 1e-6);
  EXPECT_GT(plain.abs().max().item<double>(), 0.0);
}

TEST(Checkpoint, OffloadedInputsGiveThePlainGradients) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA (offloading moves CUDA inputs to the CPU)";
  torch::manual_seed(4);
  Block a, b;
  a.to(torch::kCUDA);
  b.to(torch::kCUDA);
  const at::Tensor x0 = torch::randn({5, 6}, torch::kCUDA);
  auto run = [&](bool checkpointed, bool offload) {
    clear_grads(a);
    clear_grads(b);
    torch::manual_seed(11);
    const at::Tensor x = x0.clone().requires_grad_(true);
    auto block = [](Block& m) { return [&m](const at::Tensor& in) { return m.forward(in); }; };
    at::Tensor h = checkpointed ? vlm::nn::checkpoint(block(a), x, offload) : a.forward(x);
    h = checkpointed ? vlm::nn::checkpoint(block(b), h, offload) : b.forward(h);
    (h * torch::arange(6, torch::kCUDA).to(torch::kFloat)).sum().backward();
    return std::vector<at::Tensor>{x.grad(), a.up->weight.grad().clone(), b.down->weight.grad().clone()};
  };
  const auto plain = run(false, false), offloaded = run(true, true);
  for (size_t i = 0; i < plain.size(); ++i)
    EXPECT_LE(max_abs_difference(offloaded[i], plain[i]), 1e-5) << "gradient " << i;
}

namespace {

struct ModelRun {
  double loss = 0;
  std::vector<at::Tensor> grads;  // lora_A, lora_B of every adapter, in module order
  int64_t checkpoint_nodes = 0;
};

}  // namespace

TEST(Checkpoint, TinyQwen2VlWithLoraDropoutGivesThePlainLossAndGradients) {
  const std::string model_dir = vlm::test::fixture("tiny-qwen2-vl-chat");
  const std::string data_path = vlm::test::fixture("peft_train/data.jsonl");
  if (!vlm::path_exists(model_dir + "/model.safetensors")) GTEST_SKIP() << "missing fixture " << model_dir;
  if (!vlm::path_exists(data_path)) GTEST_SKIP() << "missing fixture " << data_path;
  vlm::VLM v = vlm::load(model_dir, {"cpu", "float32", ""});
  torch::manual_seed(0);
  vlm::lora::AttachOptions options;
  options.dropout = 0.1;
  const auto adapters = vlm::lora::attach_lora(*v.model, options).adapters;
  ASSERT_FALSE(adapters.empty());
  {
    torch::NoGradGuard no_grad;  // B starts at zero; random values make every gradient non-trivial
    for (const auto& a : adapters) a.adapter->lora_B.copy_(torch::randn_like(a.adapter->lora_B) * 0.05);
  }
  v.model->train();

  const vlm::train::Dataset data = vlm::train::load_dataset(data_path);
  std::vector<vlm::train::EncodedSample> samples;
  for (const auto& s : data.samples) {
    auto encoded = vlm::train::encode_sample(*v.processor, s, {}, nullptr);
    ASSERT_TRUE(encoded.has_value());
    samples.push_back(std::move(*encoded));
  }
  std::vector<const vlm::train::EncodedSample*> ptrs;
  for (const auto& s : samples) ptrs.push_back(&s);
  const auto batch = vlm::train::collate(ptrs, v.processor->tokenizer().pad_id().value_or(0), v.device);

  auto run = [&](vlm::CheckpointLevel level, uint64_t seed) {
    for (const auto& a : adapters)
      for (at::Tensor* t : {&a.adapter->lora_A, &a.adapter->lora_B}) t->mutable_grad() = at::Tensor();
    v.model->set_checkpoint_level(level);
    torch::manual_seed(seed);
    const auto sums = vlm::train::causal_lm_loss(*v.model, v.model->forward_hidden(batch.batch, nullptr), batch.labels);
    const at::Tensor loss = sums.loss_sum / static_cast<double>(sums.tokens);
    ModelRun r;
    r.checkpoint_nodes = count_graph_nodes(loss, "CheckpointFunction");
    loss.backward();
    r.loss = loss.item<double>();
    for (const auto& a : adapters)
      for (const at::Tensor* t : {&a.adapter->lora_A, &a.adapter->lora_B}) {
        EXPECT_TRUE(t->grad().defined()) << a.path;
        r.grads.push_back(t->grad().defined() ? t->grad().clone() : at::zeros_like(*t));
      }
    return r;
  };
  using vlm::CheckpointLevel;
  const ModelRun plain = run(CheckpointLevel::kNone, 1234);
  const ModelRun other_seed = run(CheckpointLevel::kLayer, 4321);
  // Every level: layers run again (every layer, the first too: its input, the frozen embeddings, needs no gradient);
  // the MLPs' product formed again inside their grouped node (no checkpoint node); and the same level where the
  // grouped node does not apply, each MLP through nn::checkpoint.
  struct Level {
    CheckpointLevel level;
    bool grouped;
    int64_t nodes;
  };
  const int64_t layers = v.model->num_layers();
  for (const Level& l : {Level{CheckpointLevel::kLayer, true, layers}, Level{CheckpointLevel::kMlp, true, 0},
                         Level{CheckpointLevel::kMlp, false, layers}}) {
    SCOPED_TRACE(std::string(vlm::checkpoint_level_name(l.level)) + (l.grouped ? "" : ", not grouped"));
    vlm::nn::LinearGroup::enabled = l.grouped;
    const ModelRun ckpt = run(l.level, 1234);
    vlm::nn::LinearGroup::enabled = true;
    EXPECT_EQ(plain.checkpoint_nodes, 0);
    EXPECT_EQ(ckpt.checkpoint_nodes, l.nodes);
    EXPECT_NEAR(ckpt.loss, plain.loss, 1e-5 * std::abs(plain.loss));
    ASSERT_EQ(ckpt.grads.size(), 2 * adapters.size());
    for (size_t i = 0; i < plain.grads.size(); ++i) {
      const std::string name = adapters[i / 2].path + (i % 2 ? ".lora_B" : ".lora_A");
      EXPECT_GT(plain.grads[i].abs().max().item<double>(), 0.0) << name;
      // float32 sums in another order (autograd adds a shared input's gradients in the order of the graph, which the
      // recomputation changes): up to ~1.3e-5 seen on CUDA, against more than 1e-3 for other dropout masks below.
      EXPECT_LE(max_relative_error(ckpt.grads[i], plain.grads[i]), 5e-5) << name;
    }
  }
  v.model->set_checkpoint_level(CheckpointLevel::kNone);
  // Sensitivity: another seed draws other dropout masks, so the comparisons above can fail.
  double largest = 0;
  for (size_t i = 0; i < plain.grads.size(); ++i)
    largest = std::max(largest, max_relative_error(other_seed.grads[i], plain.grads[i]));
  EXPECT_GT(largest, 1e-3);
}
