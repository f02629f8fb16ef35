// End to end against transformers (fixtures from scripts/fixtures/make_chat_fixtures.py): complete checkpoint
// folders (tokenizer, chat template, image processor, generation config; both file layouts) loaded through
// vlm::load, real conversations through the processor, and vlm::generate's text compared with what transformers'
// processor and generate() gave: input ids identical, pixel values within 1e-5, the last prompt positions' logits
// within 1e-4 relative, 32 greedy tokens' text identical, alone and in one left-padded batch.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/file.h"
#include "core/json.h"
#include "core/tensor_io.h"
#include "image/decode.h"
#include "util/test_util.h"
#include "vlm.h"

namespace {

struct Case {
  std::string name;
  vlm::GenerateRequest request;
  std::vector<int32_t> input_ids;
  std::string text;
};

double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         want.to(at::kDouble).abs().max().item<double>();
}

std::vector<Case> read_cases(const std::string& dir, const vlm::Json& j) {
  std::vector<Case> out;
  for (const auto& c : j.at("cases")) {
    Case k;
    k.name = c.at("name").get<std::string>();
    k.request.conversation.messages = c.at("messages");
    for (const auto& f : c.at("images"))
      k.request.conversation.images.push_back(vlm::image::load_image_file(dir + "/chat/" + f.get<std::string>()));
    k.request.sampling.temperature = 0;
    k.request.max_tokens = j.at("new_tokens").get<int64_t>();
    k.input_ids = c.at("input_ids").get<std::vector<int32_t>>();
    k.text = c.at("text").get<std::string>();
    out.push_back(std::move(k));
  }
  return out;
}

class Chat : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = vlm::test::fixture(GetParam());
    if (!vlm::path_exists(dir_ + "/chat/cases.json"))
      GTEST_SKIP() << "missing fixture " << dir_ << "/chat/cases.json (scripts/fixtures/make_chat_fixtures.py)";
    json_ = vlm::read_json_file(dir_ + "/chat/cases.json");
    cases_ = read_cases(dir_, json_);
  }
  std::string dir_;
  vlm::Json json_;
  std::vector<Case> cases_;
};

TEST_P(Chat, ProcessorAndLogitsMatchTransformers) {
  vlm::VLM v = vlm::load(dir_, {"cpu", "float32", ""});
  const auto golden = vlm::safetensors::Checkpoint::open(dir_ + "/chat/expected.safetensors");
  const int64_t tail = json_.at("logits_tail").get<int64_t>();
  torch::NoGradGuard no_grad;
  for (const auto& c : cases_) {
    SCOPED_TRACE(GetParam() + " " + c.name);
    const vlm::EncodedConversation enc = v.processor->encode(c.request.conversation);
    EXPECT_EQ(enc.ids, c.input_ids);
    const vlm::Batch batch = v.processor->prepare({c.request.conversation}, v.device);
    if (golden.contains(c.name + ".pixel_values")) {
      const at::Tensor want = vlm::to_torch(golden, c.name + ".pixel_values");
      ASSERT_EQ(batch.pixel_values.sizes(), want.sizes());
      EXPECT_LE((batch.pixel_values - want).abs().max().item<double>(), 1e-5);
      EXPECT_TRUE(torch::equal(batch.image_grid_thw, vlm::to_torch(golden, c.name + ".image_grid_thw")));
    }
    const at::Tensor hidden = v.model->forward_hidden(batch, nullptr);
    const at::Tensor logits = v.model->logits(hidden.narrow(1, hidden.size(1) - tail, tail))[0];
    const double err = max_relative_error(logits, vlm::to_torch(golden, c.name + ".logits"));
    EXPECT_LE(err, 1e-4) << "max relative logits error";
  }
}

TEST_P(Chat, GreedyTextMatchesTransformers) {
  vlm::VLM v = vlm::load(dir_, {"cpu", "float32", ""});
  for (const auto& c : cases_) {
    SCOPED_TRACE(GetParam() + " " + c.name);
    std::string streamed;
    const vlm::GenerateResult r = vlm::generate(v, c.request, [&](const std::string& t) { streamed += t; });
    EXPECT_EQ(r.text, c.text);
    EXPECT_EQ(streamed, r.text);
    EXPECT_EQ(r.prompt_tokens, static_cast<int64_t>(c.input_ids.size()));
  }
}

TEST_P(Chat, BatchedGenerationMatchesTransformersBatch) {
  vlm::VLM v = vlm::load(dir_, {"cpu", "float32", ""});
  std::vector<vlm::GenerateRequest> requests;
  for (const auto& c : cases_) requests.push_back(c.request);
  const auto results = vlm::generate_batch(v, requests);
  const auto want = json_.at("batch_texts").get<std::vector<std::string>>();
  ASSERT_EQ(results.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(results[i].text, want[i]) << cases_[i].name;
}

TEST_P(Chat, Bfloat16CudaLogitsMatchTransformersBfloat16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  vlm::VLM v = vlm::load(dir_, {"cuda", "bfloat16", ""});
  const auto golden = vlm::safetensors::Checkpoint::open(dir_ + "/chat/expected.safetensors");
  const int64_t tail = json_.at("logits_tail").get<int64_t>();
  torch::NoGradGuard no_grad;
  for (const auto& c : cases_) {
    SCOPED_TRACE(GetParam() + " " + c.name);
    if (!golden.contains(c.name + ".logits_bf16_cuda")) GTEST_SKIP() << "fixture made without a GPU";
    const vlm::Batch batch = v.processor->prepare({c.request.conversation}, v.device);
    const at::Tensor hidden = v.model->forward_hidden(batch, nullptr);
    const at::Tensor got = v.model->logits(hidden.narrow(1, hidden.size(1) - tail, tail))[0].to(at::kCPU, at::kFloat);
    const at::Tensor want = vlm::to_torch(golden, c.name + ".logits_bf16_cuda");
    const double nmse = (got - want).pow(2).mean().item<double>() / want.pow(2).mean().item<double>();
    std::printf("[bf16 cuda] %s %s NMSE %.3g\n", GetParam().c_str(), c.name.c_str(), nmse);
    EXPECT_LE(nmse, 1e-3);
  }
}

// The CUDA decoding path (fixed cache, fused kernels, CUDA graph after two eager steps) in float32 reproduces
// transformers' greedy text, alone and batched.
TEST_P(Chat, CudaFloat32GreedyTextMatchesTransformers) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  vlm::VLM v = vlm::load(dir_, {"cuda", "float32", ""});
  std::vector<vlm::GenerateRequest> requests;
  for (const auto& c : cases_) {
    SCOPED_TRACE(GetParam() + " " + c.name);
    EXPECT_EQ(vlm::generate(v, c.request).text, c.text);
    requests.push_back(c.request);
  }
  const auto results = vlm::generate_batch(v, requests);
  const auto want = json_.at("batch_texts").get<std::vector<std::string>>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(results[i].text, want[i]) << cases_[i].name;
}

TEST(ChatBatch, MixedSamplingParametersAreRejected) {
  const std::string dir = vlm::test::fixture("tiny-qwen2-vl-chat");
  if (!vlm::path_exists(dir + "/chat/cases.json")) GTEST_SKIP() << "missing fixture " << dir;
  vlm::VLM v = vlm::load(dir, {"cpu", "float32", ""});
  vlm::GenerateRequest a, b;
  a.conversation.messages = vlm::Json::parse(R"([{"role":"user","content":"hi"}])");
  b = a;
  b.sampling.temperature = 0.5;
  try {
    vlm::generate_batch(v, {a, b});
    FAIL() << "no error";
  } catch (const vlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("batched request 1"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Chat,
                         ::testing::Values("tiny-qwen2-vl-chat", "tiny-qwen2-vl-chat-flat", "tiny-qwen2_5-vl-chat"),
                         [](const auto& param_info) {
                           std::string s = param_info.param;
                           for (char& ch : s)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

}  // namespace
