// Qwen2-VL / Qwen2.5-VL against transformers (fixtures from scripts/fixtures/make_qwen2_vl_fixtures.py):
// whole-prompt logits within 1e-4 relative, and 32 greedy tokens identical through the KV-cache decode path.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/file.h"
#include "core/error.h"
#include "core/json.h"
#include "core/tensor_io.h"
#include "models/qwen2_vl/model.h"
#include "models/registry.h"
#include "util/test_util.h"

namespace {

double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         want.to(at::kDouble).abs().max().item<double>();
}

vlm::Batch batch_of(const vlm::safetensors::Checkpoint& f, const std::string& name) {
  vlm::Batch b;
  b.input_ids = vlm::to_torch(f, name + ".input_ids").clone();
  b.attention_mask = vlm::to_torch(f, name + ".attention_mask").clone();
  if (f.contains(name + ".pixel_values")) {
    b.pixel_values = vlm::to_torch(f, name + ".pixel_values").clone();
    b.image_grid_thw = vlm::to_torch(f, name + ".image_grid_thw").clone();
  }
  return b;
}

void check_model(const std::string& dir) {
  const vlm::Json cases = vlm::read_json_file(dir + "/parity.json");
  const auto golden = vlm::safetensors::Checkpoint::open(dir + "/parity.safetensors");
  const auto loaded = vlm::load_model(dir, {});
  vlm::Model& model = *loaded.model;
  torch::NoGradGuard no_grad;
  for (const auto& c : cases.at("cases")) {
    const std::string name = c.get<std::string>();
    SCOPED_TRACE(dir + " " + name);
    const vlm::Batch batch = batch_of(golden, name);
    const at::Tensor want = vlm::to_torch(golden, name + ".logits");
    const at::Tensor mask = batch.attention_mask.to(at::kBool);

    vlm::DecodeState state;
    const at::Tensor logits = model.logits(model.forward_hidden(batch, &state));
    ASSERT_EQ(logits.sizes(), want.sizes());
    // Padded positions carry no meaning; compare real tokens only.
    const double err = max_relative_error(logits.index({mask}), want.index({mask}));
    EXPECT_LE(err, 1e-4) << "max relative logits error " << err;

    // Greedy decoding through the cache.
    const at::Tensor greedy = vlm::to_torch(golden, name + ".greedy");
    at::Tensor next = logits.select(1, logits.size(1) - 1).argmax(-1, true);
    std::vector<at::Tensor> tokens{next};
    for (int64_t i = 1; i < greedy.size(1); ++i) {
      next = model.logits(model.decode_hidden(next, state)).select(1, 0).argmax(-1, true);
      tokens.push_back(next);
    }
    const at::Tensor got = at::cat(tokens, 1);
    EXPECT_TRUE(torch::equal(got, greedy)) << "greedy tokens differ:\n got " << got << "\nwant " << greedy;
  }
}

}  // namespace

TEST(Qwen2VL, MatchesTransformers) { check_model(vlm::test::fixture("tiny-qwen2-vl")); }
TEST(Qwen2_5VL, MatchesTransformers) { check_model(vlm::test::fixture("tiny-qwen2_5-vl")); }

// A step past a fixed cache's end is an error naming the cache, not a step that marks no position.
TEST(Qwen2VL, DecodingPastAFixedCacheIsAnError) {
  const std::string dir = vlm::test::fixture("tiny-qwen2-vl");
  const auto golden = vlm::safetensors::Checkpoint::open(dir + "/parity.safetensors");
  const auto loaded = vlm::load_model(dir, {});
  vlm::Model& model = *loaded.model;
  torch::NoGradGuard no_grad;
  const std::string name = vlm::read_json_file(dir + "/parity.json").at("cases").at(0).get<std::string>();
  const vlm::Batch batch = batch_of(golden, name);
  vlm::DecodeState state;
  state.capacity = batch.input_ids.size(1) + 2;
  const at::Tensor logits = model.logits(model.forward_hidden(batch, &state));
  at::Tensor next = logits.select(1, logits.size(1) - 1).argmax(-1, true);
  for (int step = 0; step < 2; ++step)
    next = model.logits(model.decode_hidden(next, state)).select(1, 0).argmax(-1, true);
  try {
    model.decode_hidden(next, state);
    FAIL() << "decoded past the cache";
  } catch (const vlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit the fixed KV cache of " + std::to_string(state.capacity)),
              std::string::npos)
        << e.what();
  }
}

TEST(Qwen2VL, BothWeightLayoutsAndShardsLoad) {
  // Flat config + published keys, and the bf16 sharded copy: both load strictly.
  EXPECT_NO_THROW(vlm::load_model(vlm::test::fixture("tiny-qwen2-vl-flat"), {}));
  EXPECT_NO_THROW(vlm::load_model(vlm::test::fixture("tiny-qwen2-vl-sharded"), {}));
}

TEST(Qwen2VL, WrongCheckpointIsRejectedWithTheTensorList) {
  // The Qwen2.5 weights under the Qwen2 config: names and shapes differ.
  const std::string dir = vlm::test::temp_dir("wrongckpt");
  const std::string src = vlm::test::fixture("tiny-qwen2-vl");
  const std::string other = vlm::test::fixture("tiny-qwen2_5-vl");
  vlm::test::write_bytes(dir + "/config.json", vlm::read_file(src + "/config.json", 1 << 20));
  vlm::test::write_bytes(dir + "/model.safetensors", vlm::read_file(other + "/model.safetensors", 64 << 20));
  try {
    vlm::load_model(dir, {});
    FAIL() << "accepted";
  } catch (const vlm::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("does not match the model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
  }
  vlm::test::remove_tree(dir);
}

TEST(Qwen2VL, WindowIndexMatchesDefinition) {
  // 8 x 10 merged cells, windows of 4 x 4 cells: 2 x 3 windows, the last column 2 cells wide.
  vlm::qwen2_vl::VisionConfig c;
  c.window_size = 112;
  c.patch_size = 14;
  c.spatial_merge_size = 2;
  const auto w = vlm::qwen2_vl::window_index({{1, 16, 20}}, c);
  ASSERT_EQ(w.index.size(), 80u);
  EXPECT_EQ(w.index[0], 0);
  EXPECT_EQ(w.index[4], 10);  // second row of the first window
  EXPECT_EQ(w.cu_seqlens, (std::vector<int64_t>{0, 64, 128, 160, 224, 288, 320}));
}

// bfloat16 on CUDA against transformers in bfloat16 on CUDA: normalised mean squared error of the logits.
TEST(Qwen2VL, Bf16CudaMatchesTransformersBf16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const std::string& dir : {vlm::test::fixture("tiny-qwen2-vl"), vlm::test::fixture("tiny-qwen2_5-vl")}) {
    const vlm::Json cases = vlm::read_json_file(dir + "/parity.json");
    const auto golden = vlm::safetensors::Checkpoint::open(dir + "/parity.safetensors");
    const auto loaded = vlm::load_model(dir, {at::kBFloat16, at::Device(at::kCUDA, 0)});
    torch::NoGradGuard no_grad;
    for (const auto& c : cases.at("cases")) {
      const std::string name = c.get<std::string>();
      SCOPED_TRACE(dir + " " + name);
      if (!golden.contains(name + ".logits_bf16_cuda")) GTEST_SKIP() << "fixture made without a GPU";
      vlm::Batch b = batch_of(golden, name);
      b.input_ids = b.input_ids.cuda();
      b.attention_mask = b.attention_mask.cuda();
      if (b.pixel_values.defined()) {
        b.pixel_values = b.pixel_values.cuda().to(at::kBFloat16);
        b.image_grid_thw = b.image_grid_thw.cuda();
      }
      const at::Tensor mask = b.attention_mask.to(at::kBool).cpu();
      const at::Tensor got = loaded.model->logits(loaded.model->forward_hidden(b, nullptr)).to(at::kFloat).cpu().index({mask});
      const at::Tensor want = vlm::to_torch(golden, name + ".logits_bf16_cuda").index({mask});
      const double nmse = (got - want).pow(2).mean().item<double>() / want.pow(2).mean().item<double>();
      std::printf("[bf16 cuda] %s %s: nmse %.3g\n", dir.c_str(), name.c_str(), nmse);
      EXPECT_LE(nmse, 1e-3);
    }
  }
}
