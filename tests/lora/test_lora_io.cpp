// Adapter files: save_peft -> load_adapter round trip, PEFT adapters made by HF PEFT 0.21 in both Qwen2-VL key
// layouts and an mlx-vlm copy giving the logits PEFT recorded (fixtures from scripts/fixtures/make_lora_fixtures.py),
// malformed adapters rejected with the key or field named, and the fused checkpoint folder.
#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "lora/adapter_io.h"
#include "lora/fuse.h"
#include "lora/lora_test_util.h"
#include "lora/targets.h"

namespace {

using vlm::lora::AttachOptions;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const vlm::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A PEFT adapter folder of the tiny model (r = 4, q_proj and v_proj), for the malformed-adapter tests to edit.
std::string write_peft_adapter(const std::string& tag, bool dora = false) {
  auto m = vlm::test::load_tiny_model();
  AttachOptions o;
  o.r = 4;
  o.dora = dora;
  o.targets = {"q_proj", "v_proj"};
  const auto r = vlm::lora::attach_lora(*m.model, o);
  vlm::test::randomise_adapters(r.adapters, 5);
  const std::string dir = vlm::test::temp_dir(tag);
  vlm::lora::save_peft(dir, r.adapters, o, "tiny-qwen2-vl");
  return dir;
}

std::vector<std::pair<std::string, at::Tensor>> read_all(const std::string& path) {
  const auto f = vlm::safetensors::Checkpoint::open(path);
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, entry] : f.tensors()) out.emplace_back(name, vlm::to_torch(f, name).clone());
  return out;
}

void edit_config(const std::string& dir, const std::function<void(vlm::Json&)>& edit) {
  vlm::Json c = vlm::read_json_file(dir + "/adapter_config.json");
  edit(c);
  vlm::test::write_bytes(dir + "/adapter_config.json", c.dump(2));
}

std::string load_error(const std::string& dir) {
  auto m = vlm::test::load_tiny_model();
  return error_of([&] { vlm::lora::load_adapter(dir, *m.model, *m.family); });
}

TEST(LoraIO, SavePeftThenLoadGivesIdenticalTensors) {
  for (const bool dora : {false, true}) {
    SCOPED_TRACE(dora ? "dora" : "lora");
    auto m = vlm::test::load_tiny_model();
    AttachOptions o;
    o.r = 4;
    o.alpha = 8;
    o.dora = dora;
    o.rslora = true;
    o.train_vision = true;
    const auto saved = vlm::lora::attach_lora(*m.model, o);
    vlm::test::randomise_adapters(saved.adapters, 6);
    const std::string dir = vlm::test::temp_dir("lora_roundtrip");
    vlm::lora::save_peft(dir, saved.adapters, o, "base/name");

    const vlm::Json c = vlm::read_json_file(dir + "/adapter_config.json");
    EXPECT_EQ(c.at("peft_type"), "LORA");
    EXPECT_EQ(c.at("r"), 4);
    EXPECT_EQ(c.at("lora_alpha"), 8);
    EXPECT_EQ(c.at("use_rslora"), true);
    EXPECT_EQ(c.at("use_dora"), dora);
    EXPECT_EQ(c.at("base_model_name_or_path"), "base/name");
    EXPECT_EQ(c.at("target_modules"), vlm::Json(vlm::lora::wrapped_leaf_names(saved.adapters)));
    const auto f = vlm::safetensors::Checkpoint::open(dir + "/adapter_model.safetensors");
    EXPECT_TRUE(f.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    EXPECT_TRUE(f.contains("base_model.model.visual.merger.mlp.0.lora_B.weight"));
    EXPECT_EQ(f.contains("base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector"), dora);

    auto fresh = vlm::test::load_tiny_model();
    const auto loaded = vlm::lora::load_adapter(dir, *fresh.model, *fresh.family);
    EXPECT_EQ(loaded.format, "peft");
    EXPECT_EQ(loaded.options.dora, dora);
    EXPECT_TRUE(loaded.options.train_vision);
    ASSERT_EQ(loaded.adapters.size(), saved.adapters.size());
    for (size_t i = 0; i < saved.adapters.size(); ++i) {
      const auto& a = saved.adapters[i];
      const auto& b = loaded.adapters[i];
      EXPECT_EQ(a.path, b.path);
      EXPECT_TRUE(torch::equal(a.adapter->lora_A, b.adapter->lora_A)) << a.path;
      EXPECT_TRUE(torch::equal(a.adapter->lora_B, b.adapter->lora_B)) << a.path;
      if (dora) {
        EXPECT_TRUE(torch::equal(a.adapter->magnitude, b.adapter->magnitude)) << a.path;
      }
      EXPECT_DOUBLE_EQ(a.adapter->scale(), b.adapter->scale());
    }
    const vlm::Batch batch = vlm::test::one_image_batch();
    EXPECT_TRUE(torch::equal(vlm::test::logits_of(*m.model, batch), vlm::test::logits_of(*fresh.model, batch)));
    vlm::test::remove_tree(dir);
  }
}

TEST(LoraIO, TransformersFiveKeyLayoutLoads) {
  // PEFT under transformers 5 writes base_model.model.model.language_model.layers.N... / model.visual...
  auto m = vlm::test::load_tiny_model();
  AttachOptions o;
  o.r = 4;
  o.targets = {"re:.*(v_proj|qkv)"};
  o.train_vision = true;
  const auto r = vlm::lora::attach_lora(*m.model, o);
  vlm::test::randomise_adapters(r.adapters, 9);
  const std::string dir = vlm::test::temp_dir("lora_newlayout");
  vlm::lora::save_peft(dir, r.adapters, o, "");
  std::vector<std::pair<std::string, at::Tensor>> renamed;
  for (auto [key, t] : read_all(dir + "/adapter_model.safetensors")) {
    const std::string p = "base_model.model.";
    std::string path = key.substr(p.size());
    path = path.rfind("model.", 0) == 0 ? "model.language_model." + path.substr(6) : "model." + path;
    renamed.emplace_back(p + path, t);
  }
  vlm::save_safetensors(dir + "/adapter_model.safetensors", renamed);
  auto fresh = vlm::test::load_tiny_model();
  const auto loaded = vlm::lora::load_adapter(dir, *fresh.model, *fresh.family);
  ASSERT_EQ(loaded.adapters.size(), r.adapters.size());
  EXPECT_EQ(loaded.adapters.back().path, "visual.blocks.1.attn.qkv");
  const vlm::Batch batch = vlm::test::one_image_batch();
  EXPECT_TRUE(torch::equal(vlm::test::logits_of(*m.model, batch), vlm::test::logits_of(*fresh.model, batch)));
  vlm::test::remove_tree(dir);
}

TEST(LoraIO, MlxVlmLayoutLoadsTransposed) {
  auto m = vlm::test::load_tiny_model();
  AttachOptions o;
  o.r = 4;
  o.alpha = 8;
  o.targets = {"q_proj", "qkv"};
  o.train_vision = true;
  const auto r = vlm::lora::attach_lora(*m.model, o);
  vlm::test::randomise_adapters(r.adapters, 7);
  // Written by hand in mlx-vlm's layout: module paths of its tree, lora_a = A^T, lora_b = B^T, scale given.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& a : r.adapters) {
    std::string path = a.path.rfind("model.", 0) == 0 ? "language_model." + a.path : "vision_tower." + a.path.substr(7);
    tensors.emplace_back(path + ".lora_a", a.adapter->lora_A.t().contiguous());
    tensors.emplace_back(path + ".lora_b", a.adapter->lora_B.t().contiguous());
  }
  const std::string dir = vlm::test::temp_dir("lora_mlx");
  vlm::save_safetensors(dir + "/adapters.safetensors", tensors);
  vlm::test::write_bytes(dir + "/adapter_config.json",
                         R"({"fine_tune_type": "lora", "num_layers": -1,
                             "lora_parameters": {"rank": 4, "scale": 2.0, "dropout": 0.0}})");
  auto fresh = vlm::test::load_tiny_model();
  const auto loaded = vlm::lora::load_adapter(dir, *fresh.model, *fresh.family);
  EXPECT_EQ(loaded.format, "mlx-vlm");
  EXPECT_EQ(loaded.adapters.size(), r.adapters.size());
  const vlm::Batch batch = vlm::test::one_image_batch();
  EXPECT_LE(vlm::test::max_relative_error(vlm::test::logits_of(*fresh.model, batch),
                                          vlm::test::logits_of(*m.model, batch)), 1e-6);
  vlm::test::remove_tree(dir);
}

TEST(LoraIO, UnsupportedConfigFieldsAreNamed) {
  const std::string dir = write_peft_adapter("lora_fields");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"rank_pattern", R"({"q_proj": 8})"}, {"alpha_pattern", R"({"q_proj": 8})"}, {"bias", R"("all")"},
      {"fan_in_fan_out", "true"},           {"modules_to_save", R"(["lm_head"])"}, {"peft_type", R"("IA3")"},
      {"init_lora_weights", R"("pissa")"},  {"lora_bias", "true"},
  };
  for (const auto& [field, value] : cases) {
    SCOPED_TRACE(field);
    edit_config(dir, [&](vlm::Json& c) { c[field] = vlm::parse_json(value, "test"); });
    const std::string msg = load_error(dir);
    EXPECT_NE(msg.find(field), std::string::npos) << msg;
    EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
    edit_config(dir, [&](vlm::Json& c) { c.erase(field); if (field == "peft_type") c["peft_type"] = "LORA"; });
  }
  vlm::test::remove_tree(dir);
}

TEST(LoraIO, KeysMatchingNoModuleAndWrongShapesAreListed) {
  const std::string dir = write_peft_adapter("lora_keys");
  const std::string file = dir + "/adapter_model.safetensors";
  const auto good = read_all(file);
  auto with = [&](const std::vector<std::pair<std::string, at::Tensor>>& extra, const std::string& drop) {
    std::vector<std::pair<std::string, at::Tensor>> t;
    for (const auto& kv : good)
      if (kv.first != drop) t.push_back(kv);
    t.insert(t.end(), extra.begin(), extra.end());
    vlm::save_safetensors(file, t);
  };
  const std::string a0 = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  {
    const std::string bad = "base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight";
    with({{bad, torch::zeros({4, 64})}, {"base_model.model.model.layers.9.self_attn.q_proj.lora_B.weight",
                                        torch::zeros({64, 4})}}, "");
    const std::string msg = load_error(dir);
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
    EXPECT_NE(msg.find("no linear layer"), std::string::npos) << msg;
  }
  {
    with({{a0, torch::zeros({4, 63})}}, a0);
    const std::string msg = load_error(dir);
    EXPECT_NE(msg.find(a0), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4, 64]"), std::string::npos) << msg;
  }
  {
    const std::string odd = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias";
    with({{odd, torch::zeros({64})}}, "");
    EXPECT_NE(load_error(dir).find(odd), std::string::npos);
  }
  {
    with({}, a0);  // B without A
    const std::string msg = load_error(dir);
    EXPECT_NE(msg.find("only lora_B"), std::string::npos) << msg;
  }
  {
    // A failed load attaches nothing.
    auto m = vlm::test::load_tiny_model();
    EXPECT_THROW(vlm::lora::load_adapter(dir, *m.model, *m.family), vlm::Error);
    for (const auto& [path, linear] : vlm::lora::named_linears(*m.model)) EXPECT_FALSE(linear->adapter()) << path;
  }
  vlm::test::remove_tree(dir);
}

TEST(LoraIO, FusedCheckpointLoadsAndCopiesTheOtherFiles) {
  auto m = vlm::test::load_tiny_model();
  AttachOptions o;
  o.r = 4;
  o.dora = true;
  o.train_vision = true;
  const auto r = vlm::lora::attach_lora(*m.model, o);
  vlm::test::randomise_adapters(r.adapters, 8);
  const vlm::Batch batch = vlm::test::one_image_batch();
  const at::Tensor unfused = vlm::test::logits_of(*m.model, batch);
  const std::string out = vlm::test::temp_dir("lora_fused") + "/fused";
  EXPECT_NE(error_of([&] { vlm::lora::save_fused_checkpoint(vlm::test::tiny_model_dir(), out, *m.model); })
                .find("fuse the adapters"),
            std::string::npos);
  vlm::lora::fuse_adapters(*m.model);
  vlm::lora::save_fused_checkpoint(vlm::test::tiny_model_dir(), out, *m.model);
  for (const std::string name : {"config.json", "generation_config.json"})
    EXPECT_EQ(vlm::read_file(out + "/" + name, 1 << 20), vlm::read_file(vlm::test::tiny_model_dir() + "/" + name, 1 << 20))
        << name;
  EXPECT_FALSE(vlm::path_exists(out + "/parity.safetensors"));
  const auto ckpt = vlm::safetensors::Checkpoint::open(out + "/model.safetensors");
  EXPECT_FALSE(ckpt.contains("lm_head.weight"));  // tied
  EXPECT_TRUE(ckpt.contains("model.layers.0.self_attn.q_proj.weight"));
  auto fused = vlm::load_model(out, {});
  EXPECT_LE(vlm::test::max_relative_error(vlm::test::logits_of(*fused.model, batch), unfused), 1e-5);
  EXPECT_NE(error_of([&] { vlm::lora::save_fused_checkpoint(out, out, *fused.model); }).find("base model's folder"),
            std::string::npos);
  vlm::test::remove_tree(vlm::path_parent(out));
}

// ---- PEFT 0.21 fixtures ---------------------------------------------------------------------------------------

void check_fixture(const std::string& name, bool merged) {
  const std::string dir = vlm::test::fixture("lora/" + name);
  const std::string expected_path = dir + "/expected.safetensors";
  if (!vlm::path_exists(expected_path)) GTEST_SKIP() << "missing fixture " << expected_path;
  const auto expected = vlm::safetensors::Checkpoint::open(expected_path);
  auto m = vlm::test::load_tiny_model();
  const at::Tensor base = vlm::test::logits_of(*m.model, vlm::test::one_image_batch());
  vlm::lora::load_adapter(dir, *m.model, *m.family);
  const vlm::Batch batch = vlm::test::one_image_batch();
  const at::Tensor want = vlm::to_torch(expected, "logits");
  const at::Tensor got = vlm::test::logits_of(*m.model, batch);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_GT(vlm::test::max_relative_error(want, base), 1e-3) << "the fixture adapter changes nothing";
  const double err = vlm::test::max_relative_error(got, want);
  EXPECT_LE(err, 1e-4) << name << ": max relative logits error " << err;
  if (merged) {
    vlm::lora::fuse_adapters(*m.model);
    const double merr = vlm::test::max_relative_error(vlm::test::logits_of(*m.model, batch),
                                                      vlm::to_torch(expected, "logits_merged"));
    EXPECT_LE(merr, 1e-4) << name << ": merged, max relative logits error " << merr;
  }
}

TEST(LoraPeftFixtures, LoraNewLayout) { check_fixture("lora", true); }
TEST(LoraPeftFixtures, LoraOldLayout) { check_fixture("lora_old_layout", true); }
TEST(LoraPeftFixtures, LoraMlxVlm) { check_fixture("lora_mlx", true); }
TEST(LoraPeftFixtures, RsloraWithDropout) { check_fixture("rslora_dropout", false); }
TEST(LoraPeftFixtures, Dora) { check_fixture("dora", true); }
TEST(LoraPeftFixtures, LoraWithVisionTargets) { check_fixture("lora_vision", false); }

}  // namespace
