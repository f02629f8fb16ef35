// LoRA / DoRA adapters on the tiny Qwen2-VL: the side path's formula, initialisation, attaching by targets with
// exact parameter counts (expected values computed from config.json's shapes), zero-B adapters leaving the logits
// unchanged bit for bit, and fusing equal to the unfused model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "generate/generation.h"
#include "lora/adapter_io.h"
#include "lora/attach.h"
#include "lora/fuse.h"
#include "lora/lora_test_util.h"
#include "lora/targets.h"
#include "nn/linear_group.h"

namespace {

using vlm::lora::AttachOptions;
using vlm::lora::attach_lora;

// sum of (in + out) over the wrapped linears, from config.json alone.
struct Shapes {
  int64_t layers, per_layer_in_out, per_layer_out;  // language: q k v o gate up down
  int64_t qv_in_out;                                // q_proj + v_proj
  int64_t vision_in_out, vision_linears;            // all visual.* linears
};

Shapes shapes_from_config() {
  const vlm::Json c = vlm::read_json_file(vlm::test::tiny_model_dir() + "/config.json");
  const auto& t = c.at("text_config");
  auto i64 = [](const vlm::Json& j, const char* key) { return j.at(key).get<int64_t>(); };
  const int64_t h = i64(t, "hidden_size"), inter = i64(t, "intermediate_size"), nh = i64(t, "num_attention_heads"),
                nkv = i64(t, "num_key_value_heads"), layers = i64(t, "num_hidden_layers");
  const int64_t hd = h / nh;
  Shapes s;
  s.layers = layers;
  s.per_layer_in_out = (h + nh * hd) + 2 * (h + nkv * hd) + (nh * hd + h) + 2 * (h + inter) + (inter + h);
  s.per_layer_out = nh * hd + 2 * nkv * hd + h + 2 * inter + h;
  s.qv_in_out = (h + nh * hd) + (h + nkv * hd);
  const auto& v = c.at("vision_config");
  const int64_t e = i64(v, "embed_dim"), ratio = i64(v, "mlp_ratio"), depth = i64(v, "depth"),
                out = i64(v, "hidden_size"), merge = i64(v, "spatial_merge_size");
  const int64_t g = e * merge * merge;
  s.vision_in_out = depth * ((e + 3 * e) + (e + e) + (e + e * ratio) + (e * ratio + e)) + (g + g) + (g + out);
  s.vision_linears = depth * 4 + 2;
  return s;
}

int64_t base_parameter_count() {
  auto m = vlm::test::load_tiny_model();
  return vlm::lora::count_parameters(*m.model, false);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const vlm::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(LoraAttach, DefaultTargetsHaveExactParameterCounts) {
  const Shapes s = shapes_from_config();
  auto m = vlm::test::load_tiny_model();
  AttachOptions o;
  o.r = 4;
  const auto result = attach_lora(*m.model, o);
  EXPECT_EQ(result.adapters.size(), static_cast<size_t>(7 * s.layers));
  EXPECT_EQ(result.trainable_parameters, s.layers * o.r * s.per_layer_in_out);
  EXPECT_EQ(result.total_parameters, base_parameter_count() + result.trainable_parameters);
  std::set<std::string> leaves;
  for (const auto& a : result.adapters) {
    EXPECT_EQ(a.path.rfind("model.layers.", 0), 0u) << a.path;
    leaves.insert(a.path.substr(a.path.rfind('.') + 1));
  }
  EXPECT_EQ(leaves, (std::set<std::string>{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
  // Only adapter parameters are trainable.
  for (const auto& p : m.model->named_parameters())
    EXPECT_EQ(p.value().requires_grad(), p.key().find(".adapter.") != std::string::npos) << p.key();
}

TEST(LoraAttach, DoraAddsTheMagnitudeVector) {
  const Shapes s = shapes_from_config();
  auto m = vlm::test::load_tiny_model();
  AttachOptions o;
  o.r = 4;
  o.dora = true;
  const auto result = attach_lora(*m.model, o);
  EXPECT_EQ(result.trainable_parameters, s.layers * (o.r * s.per_layer_in_out + s.per_layer_out));
}

TEST(LoraAttach, TargetsByNameDottedNameAndRegex) {
  const Shapes s = shapes_from_config();
  {
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.r = 2;
    o.targets = {"q_proj", "v_proj"};
    const auto r = attach_lora(*m.model, o);
    EXPECT_EQ(r.adapters.size(), static_cast<size_t>(2 * s.layers));
    EXPECT_EQ(r.trainable_parameters, s.layers * o.r * s.qv_in_out);
    EXPECT_EQ(r.adapters[0].path, "model.layers.0.self_attn.q_proj");
  }
  {
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.targets = {"self_attn.o_proj", "model.layers.1.mlp.down_proj"};
    const auto r = attach_lora(*m.model, o);
    ASSERT_EQ(r.adapters.size(), static_cast<size_t>(s.layers + 1));
    EXPECT_EQ(r.adapters.back().path, "model.layers.1.mlp.down_proj");
  }
  {
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.targets = {"re:.*\\.(q|k)_proj"};
    EXPECT_EQ(attach_lora(*m.model, o).adapters.size(), static_cast<size_t>(2 * s.layers));
  }
  {
    // A regex written for transformers 5's module names (PEFT configs made there) hits the same layers.
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.targets = {"model\\.language_model\\.layers\\.0\\..*"};
    const auto r = attach_lora(*m.model, o);
    EXPECT_EQ(r.adapters.size(), 7u);
    for (const auto& a : r.adapters) EXPECT_EQ(a.path.rfind("model.layers.0.", 0), 0u) << a.path;
  }
}

TEST(LoraAttach, AllLinearAndTrainVision) {
  const Shapes s = shapes_from_config();
  {
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.targets = {"all-linear"};
    EXPECT_EQ(attach_lora(*m.model, o).adapters.size(), static_cast<size_t>(7 * s.layers));
  }
  {
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.r = 4;
    o.targets = {"all-linear"};
    o.train_vision = true;
    const auto r = attach_lora(*m.model, o);
    EXPECT_EQ(r.adapters.size(), static_cast<size_t>(7 * s.layers + s.vision_linears));
    EXPECT_EQ(r.trainable_parameters, o.r * (s.layers * s.per_layer_in_out + s.vision_in_out));
    std::set<std::string> paths;
    for (const auto& a : r.adapters) paths.insert(a.path);
    EXPECT_TRUE(paths.count("visual.blocks.0.attn.qkv"));
    EXPECT_TRUE(paths.count("visual.merger.mlp.0"));
    EXPECT_TRUE(paths.count("visual.merger.mlp.2"));
    EXPECT_EQ(vlm::lora::wrapped_leaf_names(r.adapters),
              (std::vector<std::string>{"down_proj", "fc1", "fc2", "gate_proj", "k_proj", "mlp.0", "mlp.2", "o_proj",
                                        "proj", "q_proj", "qkv", "up_proj", "v_proj"}));
  }
  {
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.targets = {"qkv"};
    o.train_vision = true;
    EXPECT_EQ(attach_lora(*m.model, o).adapters.size(), 2u);
  }
}

TEST(LoraAttach, BadTargetsAreErrorsNamingThem) {
  auto m = vlm::test::load_tiny_model();
  AttachOptions o;
  o.targets = {"no_such_proj"};
  EXPECT_NE(error_of([&] { attach_lora(*m.model, o); }).find("no_such_proj"), std::string::npos);
  o.targets = {"q_proj", "qkv"};  // qkv lives in the vision tower
  EXPECT_NE(error_of([&] { attach_lora(*m.model, o); }).find("train_vision"), std::string::npos);
  o.targets = {"re:lm_head"};
  EXPECT_NE(error_of([&] { attach_lora(*m.model, o); }).find("lm_head"), std::string::npos);
  o.targets = {"re:(unclosed"};
  EXPECT_NE(error_of([&] { attach_lora(*m.model, o); }).find("(unclosed"), std::string::npos);
  // Nothing was attached by the failed calls.
  for (const auto& [path, linear] : vlm::lora::named_linears(*m.model)) EXPECT_FALSE(linear->adapter()) << path;
  o.targets = {"q_proj"};
  attach_lora(*m.model, o);
  EXPECT_NE(error_of([&] { attach_lora(*m.model, o); }).find("already has an adapter"), std::string::npos);
}

TEST(LoraAdapter, InitialisationFollowsPeft) {
  vlm::nn::LinearImpl base(256, 48, true);
  torch::nn::init::normal_(base.weight);
  torch::manual_seed(0);
  vlm::lora::LoraSettings s;
  s.r = 16;
  s.dora = true;
  vlm::lora::LoraAdapter def(base, s);
  EXPECT_LE(def.lora_A.abs().max().item<double>(), 1.0 / 16.0);  // uniform(-1/sqrt(in), 1/sqrt(in))
  EXPECT_GT(def.lora_A.abs().max().item<double>(), 0.9 / 16.0);
  EXPECT_EQ(def.lora_B.abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(def.magnitude, base.weight.norm(2, {1})));
  EXPECT_EQ(def.lora_A.scalar_type(), at::kFloat);
  s.init = "gaussian";
  vlm::lora::LoraAdapter gauss(base, s);
  EXPECT_NEAR(gauss.lora_A.std().item<double>(), 1.0 / 16.0, 0.005);  // normal(0, std = 1/r)
  s.init = "pissa";
  EXPECT_THROW(std::make_shared<vlm::lora::LoraAdapter>(base, s), vlm::Error);
}

TEST(LoraAdapter, ForwardIsPeftsFormula) {
  torch::manual_seed(1);
  vlm::nn::LinearImpl base(24, 40, true);
  torch::nn::init::normal_(base.weight);
  torch::nn::init::normal_(base.bias);
  const at::Tensor x = torch::randn({3, 5, 24});
  for (const bool rslora : {false, true}) {
    vlm::lora::LoraSettings s;
    s.r = 4;
    s.alpha = 8;
    s.rslora = rslora;
    auto a = std::make_shared<vlm::lora::LoraAdapter>(base, s);
    torch::NoGradGuard no_grad;
    a->lora_B.normal_();
    const double scale = rslora ? 8.0 / 2.0 : 8.0 / 4.0;
    EXPECT_DOUBLE_EQ(a->scale(), scale);
    const at::Tensor base_out = base.forward_base(x);
    const at::Tensor want = base_out + scale * at::matmul(at::matmul(x, a->lora_A.t()), a->lora_B.t());
    EXPECT_TRUE(torch::allclose(a->forward(x, base), want, 1e-5, 1e-5));
  }
  // DoRA: m / ||W + s B A||_row * (W + s B A) x + b.
  vlm::lora::LoraSettings s;
  s.r = 4;
  s.dora = true;
  auto a = std::make_shared<vlm::lora::LoraAdapter>(base, s);
  torch::NoGradGuard no_grad;
  a->lora_B.normal_();
  a->magnitude.mul_(1.5);
  const at::Tensor w = base.weight + a->scale() * at::matmul(a->lora_B, a->lora_A);
  const at::Tensor want = at::linear(x, (a->magnitude / w.norm(2, {1})).unsqueeze(1) * w, base.bias);
  EXPECT_TRUE(torch::allclose(a->forward(x, base), want, 1e-5, 1e-5));
  // The fused weight gives the same layer.
  EXPECT_TRUE(torch::allclose(at::linear(x, a->merged_weight(base.weight), base.bias), want, 1e-5, 1e-5));
}

namespace {

// A frozen random base layer in `type` with a LoRA adapter whose B is random too (so every gradient is non-zero).
std::pair<std::shared_ptr<vlm::nn::LinearImpl>, std::shared_ptr<vlm::lora::LoraAdapter>> frozen_lora(
    int64_t in, int64_t out, bool bias, at::ScalarType type, int64_t r, double alpha, double dropout = 0) {
  auto base = std::make_shared<vlm::nn::LinearImpl>(in, out, bias);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : base->parameters()) p.normal_();
  }
  base->to(type);
  for (auto& p : base->parameters()) p.set_requires_grad(false);
  vlm::lora::LoraSettings s;
  s.r = r;
  s.alpha = alpha;
  s.dropout = dropout;
  auto a = std::make_shared<vlm::lora::LoraAdapter>(*base, s);
  torch::NoGradGuard no_grad;
  a->lora_B.normal_();
  return {base, a};
}

}  // namespace

// Under autograd plain LoRA runs as one fused function: its output and the gradients of x, A and B equal autograd's
// over PEFT's formula (x [3, 5, 24] with bias; float32 and bfloat16).
TEST(LoraAdapter, FusedFunctionGivesAutogradsGradients) {
  torch::manual_seed(3);
  for (auto type : {torch::kFloat, torch::kBFloat16}) {
    const auto [layer, a] = frozen_lora(24, 40, true, type, 4, 12);
    const vlm::nn::LinearImpl& base = *layer;
    const at::Tensor x0 = torch::randn({3, 5, 24}).to(type), dy = torch::randn({3, 5, 40}).to(type);
    const at::Tensor x = x0.clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
    const at::Tensor y = a->forward(x, base);
    ASSERT_NE(y.grad_fn()->name().find("LoraLinearFunction"), std::string::npos) << y.grad_fn()->name();
    y.backward(dy);
    const at::Tensor dA = a->lora_A.grad().clone(), dB = a->lora_B.grad().clone();
    a->lora_A.mutable_grad() = at::Tensor();
    a->lora_B.mutable_grad() = at::Tensor();
    const at::Tensor want = at::linear(xr, base.weight, base.bias) +
                            at::linear(at::linear(xr, a->lora_A.to(type)), a->lora_B.to(type)) * a->scale();
    want.backward(dy);
    // Largest difference against the largest value: bfloat16's roundings differ by an ulp or so between the paths.
    const double tol = type == torch::kFloat ? 1e-5 : 2e-2;
    auto close = [&](const at::Tensor& p, const at::Tensor& q) {
      const at::Tensor pf = p.to(torch::kFloat), qf = q.to(torch::kFloat);
      return (pf - qf).abs().max().item<double>() <= tol * qf.abs().max().item<double>();
    };
    EXPECT_TRUE(close(y, want)) << c10::toString(type);
    auto diff = [](const at::Tensor& p, const at::Tensor& q) {
      return " max diff " + std::to_string((p.to(torch::kFloat) - q.to(torch::kFloat)).abs().max().item<double>()) +
             " of " + std::to_string(q.to(torch::kFloat).abs().max().item<double>());
    };
    EXPECT_TRUE(close(x.grad(), xr.grad())) << c10::toString(type) << diff(x.grad(), xr.grad());
    EXPECT_TRUE(close(dA, a->lora_A.grad())) << c10::toString(type) << diff(dA, a->lora_A.grad());
    EXPECT_TRUE(close(dB, a->lora_B.grad())) << c10::toString(type) << diff(dB, a->lora_B.grad());
    EXPECT_EQ(dA.scalar_type(), torch::kFloat);
    EXPECT_GT(dB.abs().max().item<double>(), 0.0);
  }
}

// The fused function adds onto gradients already there (gradient accumulation over micro-batches, and a layer run
// twice), and its cached casts of the factors follow in-place updates such as an optimizer step.
TEST(LoraAdapter, FusedFunctionAccumulatesAndFollowsUpdates) {
  torch::manual_seed(5);
  const auto [layer, a] = frozen_lora(16, 12, false, torch::kFloat, 4, 8);
  const vlm::nn::LinearImpl& base = *layer;
  const at::Tensor x = torch::randn({6, 16}), dy = torch::randn({6, 12});
  auto formula = [&](const at::Tensor& xin) {
    return at::linear(xin, base.weight) + at::linear(at::linear(xin, a->lora_A), a->lora_B) * a->scale();
  };
  a->forward(x, base).backward(dy);
  const at::Tensor dA = a->lora_A.grad().clone(), dB = a->lora_B.grad().clone();
  a->forward(x, base).backward(dy);
  EXPECT_TRUE(torch::allclose(a->lora_A.grad(), 2 * dA, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a->lora_B.grad(), 2 * dB, 1e-5, 1e-6));
  {
    torch::NoGradGuard no_grad;
    a->lora_A.add_(torch::randn_like(a->lora_A));
    a->lora_B.mul_(-3);
  }
  const at::Tensor after = a->forward(x, base);
  ASSERT_NE(after.grad_fn()->name().find("LoraLinearFunction"), std::string::npos);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(after, formula(x), 1e-5, 1e-5));
}

// A SwiGLU MLP's down projection with LoRA as one function keeping gate and up: output and the gradients of gate,
// up, A and B equal autograd's over silu(gate) * up then PEFT's formula (float32).
TEST(LoraAdapter, FusedSwigluDownProjectionGivesAutogradsGradients) {
  torch::manual_seed(4);
  const auto [layer, a] = frozen_lora(24, 10, false, torch::kFloat, 4, 8);
  const vlm::nn::LinearImpl& base = *layer;
  const at::Tensor g0 = torch::randn({2, 7, 24}) * 2, u0 = torch::randn({2, 7, 24}), dy = torch::randn({2, 7, 10});
  const at::Tensor g = g0.clone().requires_grad_(true), u = u0.clone().requires_grad_(true);
  const at::Tensor gr = g0.clone().requires_grad_(true), ur = u0.clone().requires_grad_(true);
  const at::Tensor y = a->forward_swiglu(g, u, base);
  ASSERT_NE(y.grad_fn()->name().find("LoraSwigluLinearFunction"), std::string::npos) << y.grad_fn()->name();
  y.backward(dy);
  const at::Tensor dA = a->lora_A.grad().clone(), dB = a->lora_B.grad().clone();
  a->lora_A.mutable_grad() = at::Tensor();
  a->lora_B.mutable_grad() = at::Tensor();
  const at::Tensor act = at::silu(gr) * ur;
  const at::Tensor want = at::linear(act, base.weight) + at::linear(at::linear(act, a->lora_A), a->lora_B) * a->scale();
  want.backward(dy);
  auto close = [](const at::Tensor& p, const at::Tensor& q) { return torch::allclose(p, q, 1e-4, 1e-5); };
  EXPECT_TRUE(close(y, want));
  EXPECT_TRUE(close(g.grad(), gr.grad()));
  EXPECT_TRUE(close(u.grad(), ur.grad()));
  EXPECT_TRUE(close(dA, a->lora_A.grad()));
  EXPECT_TRUE(close(dB, a->lora_B.grad()));
  EXPECT_GT(dB.abs().max().item<double>(), 0.0);
}

// With dropout while training, the fused functions (a layer; a SwiGLU down projection) draw their mask from a seed
// of the CPU generator: the output and the gradients of the input, A and B equal autograd's over PEFT's formula with
// that seed's mask (ops::dropout_reference, plain torch ops), and backward draws the same mask again. Float32.
TEST(LoraAdapter, FusedFunctionsWithDropoutGiveAutogradsGradientsForTheirMask) {
  const double p = 0.25;
  const auto [layer, a] = frozen_lora(24, 40, true, torch::kFloat, 4, 12, p);
  const vlm::nn::LinearImpl& base = *layer;
  a->train();
  torch::manual_seed(6);
  const at::Tensor x0 = torch::randn({3, 5, 24}), g0 = torch::randn({3, 5, 24}), dy = torch::randn({3, 5, 40});
  auto close = [](const at::Tensor& got, const at::Tensor& want) {
    return (got - want).abs().max().item<double>() <= 1e-5 * want.abs().max().item<double>();
  };
  for (const bool swiglu : {false, true}) {
    SCOPED_TRACE(swiglu ? "swiglu" : "linear");
    const at::Tensor x = x0.clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
    const at::Tensor g = g0.clone().requires_grad_(true), gr = g0.clone().requires_grad_(true);
    torch::manual_seed(7);
    const uint64_t seed = vlm::ops::dropout_seed();
    torch::manual_seed(7);  // the function draws the same seed
    const at::Tensor y = swiglu ? a->forward_swiglu(g, x, base) : a->forward(x, base);
    const std::string node = swiglu ? "LoraSwigluLinearFunction" : "LoraLinearFunction";
    ASSERT_NE(y.grad_fn()->name().find(node), std::string::npos) << y.grad_fn()->name();
    y.backward(dy);
    const at::Tensor dA = a->lora_A.grad().clone(), dB = a->lora_B.grad().clone();
    a->lora_A.mutable_grad() = at::Tensor();
    a->lora_B.mutable_grad() = at::Tensor();
    const at::Tensor in = swiglu ? at::silu(gr) * xr : xr;
    const at::Tensor want = at::linear(in, base.weight, base.bias) +
                            at::linear(at::linear(vlm::ops::dropout_reference(in, p, seed), a->lora_A), a->lora_B) *
                                a->scale();
    want.backward(dy);
    EXPECT_TRUE(close(y, want));
    EXPECT_TRUE(close(x.grad(), xr.grad()));
    if (swiglu) EXPECT_TRUE(close(g.grad(), gr.grad()));
    EXPECT_TRUE(close(dA, a->lora_A.grad()));
    EXPECT_TRUE(close(dB, a->lora_B.grad()));
    a->lora_A.mutable_grad() = at::Tensor();
    a->lora_B.mutable_grad() = at::Tensor();
    // The mask matters: without it (evaluation) the output differs.
    a->eval();
    EXPECT_FALSE(close(swiglu ? a->forward_swiglu(g, x, base) : a->forward(x, base), want.detach()));
    a->train();
  }
}

TEST(LoraAdapter, DropoutOnlyWhileTraining) {
  torch::manual_seed(2);
  vlm::nn::LinearImpl base(16, 16, false);
  torch::nn::init::normal_(base.weight);
  const at::Tensor x = torch::randn({4, 16});
  for (const bool dora : {false, true}) {
    vlm::lora::LoraSettings s;
    s.r = 4;
    s.dropout = 0.5;
    s.dora = dora;
    auto a = std::make_shared<vlm::lora::LoraAdapter>(base, s);
    torch::NoGradGuard no_grad;
    a->lora_B.normal_();
    a->eval();
    const at::Tensor eval1 = a->forward(x, base), eval2 = a->forward(x, base);
    EXPECT_TRUE(torch::equal(eval1, eval2));
    a->train();
    EXPECT_FALSE(torch::allclose(a->forward(x, base), eval1)) << "dora " << dora;
  }
}

TEST(LoraModel, ZeroBAdapterLeavesLogitsUnchangedBitForBit) {
  const vlm::Batch batch = vlm::test::one_image_batch();
  for (const bool dora : {false, true}) {
    auto m = vlm::test::load_tiny_model();
    const at::Tensor before = vlm::test::logits_of(*m.model, batch);
    AttachOptions o;
    o.r = 4;
    o.dora = dora;
    o.targets = {"all-linear"};
    o.train_vision = true;
    attach_lora(*m.model, o);
    EXPECT_TRUE(torch::equal(vlm::test::logits_of(*m.model, batch), before)) << "dora " << dora;
  }
}

TEST(LoraModel, FusedEqualsUnfused) {
  const vlm::Batch batch = vlm::test::one_image_batch();
  for (const bool dora : {false, true}) {
    SCOPED_TRACE(dora ? "dora" : "lora");
    auto m = vlm::test::load_tiny_model();
    const at::Tensor base_logits = vlm::test::logits_of(*m.model, batch);
    AttachOptions o;
    o.r = 4;
    o.dora = dora;
    o.train_vision = true;
    const auto r = attach_lora(*m.model, o);
    vlm::test::randomise_adapters(r.adapters, 3);
    const at::Tensor unfused = vlm::test::logits_of(*m.model, batch);
    ASSERT_GT(vlm::test::max_relative_error(unfused, base_logits), 1e-2) << "the adapter changes nothing";
    EXPECT_EQ(vlm::lora::fuse_adapters(*m.model), static_cast<int64_t>(r.adapters.size()));
    for (const auto& [path, linear] : vlm::lora::named_linears(*m.model)) EXPECT_FALSE(linear->adapter()) << path;
    // W + scale * B A rounds differently from W x + scale * B (A x): float32 rounding through 8 blocks, seen up to
    // 2e-5 (it varies with the BLAS's threading), against a change of more than 1e-2 from the adapter itself.
    const double err = vlm::test::max_relative_error(vlm::test::logits_of(*m.model, batch), unfused);
    EXPECT_LE(err, 1e-4);
  }
}

namespace {

// The names of the autograd nodes behind t.
std::set<std::string> node_names(const at::Tensor& t) {
  std::set<std::string> names;
  std::set<const torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> todo = {t.grad_fn().get()};
  while (!todo.empty()) {
    torch::autograd::Node* n = todo.back();
    todo.pop_back();
    if (!n || !seen.insert(n).second) continue;
    names.insert(n->name());
    for (const auto& e : n->next_edges()) todo.push_back(e.function.get());
  }
  return names;
}

}  // namespace

// The grouped nodes (q, k, v as one; the SwiGLU MLP as one: nn/linear_group.h) give the logits and LoRA gradients
// of the layer-by-layer functions (each tested against autograd of PEFT's formula above), float32, without and with
// dropout (each side path its own mask, drawn from seeds taken in the same order by both).
TEST(LoraModel, GroupedLayersMatchTheLayerByLayerPath) {
  const vlm::Batch batch = vlm::test::one_image_batch();
  struct Run {
    at::Tensor logits;
    std::vector<at::Tensor> grads;
    std::set<std::string> nodes;
  };
  auto run = [&](bool grouped, double dropout) {
    vlm::nn::LinearGroup::enabled = grouped;
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.r = 4;
    o.dropout = dropout;
    torch::manual_seed(8);  // A's initialisation
    const auto r = attach_lora(*m.model, o);
    vlm::test::randomise_adapters(r.adapters, 3);
    m.model->train();
    torch::manual_seed(10);  // the dropout masks' seeds, drawn in the same order (q, k, v, gate, up, down) by both
    Run out;
    out.logits = m.model->logits(m.model->forward_hidden(batch, nullptr));
    out.nodes = node_names(out.logits);
    torch::manual_seed(9);
    (out.logits * torch::randn_like(out.logits)).sum().backward();
    for (const auto& a : r.adapters) {
      out.grads.push_back(a.adapter->lora_A.grad());
      out.grads.push_back(a.adapter->lora_B.grad());
    }
    vlm::nn::LinearGroup::enabled = true;
    return out;
  };
  auto has = [](const std::set<std::string>& nodes, const std::string& name) {
    return std::any_of(nodes.begin(), nodes.end(), [&](const std::string& n) { return n.find(name) != n.npos; });
  };
  at::Tensor without_dropout;
  for (const double dropout : {0.0, 0.25}) {
    SCOPED_TRACE("dropout " + std::to_string(dropout));
    const Run grouped = run(true, dropout), single = run(false, dropout);
    EXPECT_TRUE(has(grouped.nodes, "GroupFunction") && has(grouped.nodes, "SwigluMlpFunction"));
    EXPECT_FALSE(has(single.nodes, "GroupFunction") || has(single.nodes, "SwigluMlpFunction"));
    EXPECT_TRUE(has(single.nodes, "LoraLinearFunction"));
    EXPECT_LE(vlm::test::max_relative_error(grouped.logits.detach(), single.logits.detach()), 1e-5);
    ASSERT_EQ(grouped.grads.size(), single.grads.size());
    for (size_t i = 0; i < grouped.grads.size(); ++i) {
      ASSERT_TRUE(grouped.grads[i].defined() && single.grads[i].defined()) << i;
      EXPECT_GT(single.grads[i].abs().max().item<double>(), 0.0) << i;
      EXPECT_LE(vlm::test::max_relative_error(grouped.grads[i], single.grads[i]), 1e-4) << i;
    }
    // With dropout the masks change the logits, so both paths drawing the same masks is what the match shows.
    if (dropout == 0) without_dropout = grouped.logits.detach();
    else EXPECT_GT(vlm::test::max_relative_error(grouped.logits.detach(), without_dropout), 1e-3);
  }
}

TEST(LoraModel, Bf16BaseKeepsFloat32AdapterWeights) {
  auto m = vlm::load_model(vlm::test::tiny_model_dir(), {at::kBFloat16, at::kCPU});
  AttachOptions o;
  o.r = 4;
  const auto r = attach_lora(*m.model, o);
  vlm::test::randomise_adapters(r.adapters, 4);
  for (const auto& a : r.adapters) EXPECT_EQ(a.adapter->lora_A.scalar_type(), at::kFloat);
  vlm::Batch batch = vlm::test::one_image_batch();
  batch.pixel_values = batch.pixel_values.to(at::kBFloat16);
  const at::Tensor logits = vlm::test::logits_of(*m.model, batch);
  EXPECT_EQ(logits.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

}  // namespace

namespace {

// Greedy tokens of the tiny model on `device` in float32, with PEFT's fixture adapter (LoRA on every language-model
// linear) or without; weights and factors scaled so that the tokens vary. Loaded under inference mode, as
// bench_generate and the server load (parameters are then inference tensors, which have no version counters).
std::vector<std::vector<int64_t>> greedy_tokens(const at::Device& device, bool adapter) {
  c10::InferenceMode inference;
  auto m = vlm::load_model(vlm::test::tiny_model_dir(), {at::kFloat, device});
  if (adapter) vlm::lora::load_adapter(vlm::test::fixture("lora/lora"), *m.model, *m.family);
  m.model->eval();
  for (at::Tensor& t : m.model->parameters()) t.mul_(3.0);
  vlm::Batch b = vlm::test::one_image_batch();
  for (at::Tensor* t : {&b.input_ids, &b.attention_mask, &b.pixel_values, &b.image_grid_thw}) *t = t->to(device);
  vlm::gen::SamplingParams p;
  p.temperature = 0;
  vlm::gen::Generation gen(*m.model, b, p, {{}, 24}, {true, device.is_cuda()});
  while (!gen.done()) gen.step();
  EXPECT_EQ(gen.graphed(), device.is_cuda());
  return gen.generated();
}

}  // namespace

TEST(LoraModel, AdapterLoadedUnderInferenceModeChangesTheTokens) {
  EXPECT_NE(greedy_tokens(at::kCPU, true), greedy_tokens(at::kCPU, false));
}

// On CUDA the side paths ride on the joined q/k/v product and are finished by their kernel, in captured graphs; the
// tokens are the CPU path's (plain libtorch: base products, then addmm).
TEST(LoraModel, CudaDecodingWithAnAdapterMatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_EQ(greedy_tokens(at::Device(at::kCUDA, 0), true), greedy_tokens(at::kCPU, true));
}
