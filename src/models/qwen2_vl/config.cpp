#include "models/qwen2_vl/config.h"

#include <numeric>

#include "core/error.h"
#include "core/file.h"

namespace vlm::qwen2_vl {
namespace {

void require_positive(const JsonObject& o, const std::string& key, int64_t value) {
  if (value <= 0) fail(o.where(key), ": must be positive, got ", value);
}

TextConfig parse_text(const JsonObject& root, const JsonObject& t) {
  TextConfig c;
  c.vocab_size = t.get<int64_t>("vocab_size");
  c.hidden_size = t.get<int64_t>("hidden_size");
  c.intermediate_size = t.get<int64_t>("intermediate_size");
  c.num_hidden_layers = t.get<int64_t>("num_hidden_layers");
  c.num_attention_heads = t.get<int64_t>("num_attention_heads");
  for (const char* k : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"})
    require_positive(t, k, t.get<int64_t>(k));
  c.num_key_value_heads = t.get<int64_t>("num_key_value_heads", c.num_attention_heads);
  require_positive(t, "num_key_value_heads", c.num_key_value_heads);
  if (c.hidden_size % c.num_attention_heads != 0)
    fail(t.where("hidden_size"), ": ", c.hidden_size, " is not divisible by num_attention_heads ",
         c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail(t.where("num_key_value_heads"), ": num_attention_heads ", c.num_attention_heads,
         " is not a multiple of num_key_value_heads ", c.num_key_value_heads);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.max_position_embeddings = t.get<int64_t>("max_position_embeddings", c.max_position_embeddings);
  c.hidden_act = t.get<std::string>("hidden_act", c.hidden_act);
  c.rms_norm_eps = t.get<double>("rms_norm_eps", c.rms_norm_eps);
  c.rope_theta = t.get<double>("rope_theta", c.rope_theta);
  c.use_sliding_window = t.get<bool>("use_sliding_window", c.use_sliding_window);
  c.sliding_window = t.get<int64_t>("sliding_window", c.sliding_window);
  c.max_window_layers = t.get<int64_t>("max_window_layers", c.max_window_layers);
  c.attention_dropout = t.get<double>("attention_dropout", c.attention_dropout);
  // tie_word_embeddings: the text config's own value, else the top level's (transformers 5 saves it there).
  c.tie_word_embeddings = t.get<bool>("tie_word_embeddings", root.get<bool>("tie_word_embeddings", false));

  const std::string rope_key = t.first_present({"rope_scaling", "rope_parameters"});
  if (!rope_key.empty()) {
    const JsonObject rope = t.object(rope_key);
    const std::string type = rope.get<std::string>(rope.has("rope_type") ? "rope_type" : "type", "default");
    if (type != "mrope" && type != "default")
      fail(rope.where("rope_type"), ": unsupported RoPE type ", quote(type), " (expected \"mrope\" or \"default\")");
    c.rope_theta = rope.get<double>("rope_theta", c.rope_theta);
    c.mrope_section = rope.get<std::vector<int64_t>>("mrope_section", {});
    if (!c.mrope_section.empty()) {
      const int64_t sum = std::accumulate(c.mrope_section.begin(), c.mrope_section.end(), int64_t{0});
      if (c.mrope_section.size() != 3 || sum * 2 != c.head_dim)
        fail(rope.where("mrope_section"), ": expected 3 sections summing to head_dim/2 = ", c.head_dim / 2);
    }
  }
  if (c.use_sliding_window)
    fail(t.where("use_sliding_window"), ": sliding-window attention is not supported for Qwen2-VL");
  return c;
}

VisionConfig parse_vision(const JsonObject& v, bool qwen2_5) {
  VisionConfig c;
  c.depth = v.get<int64_t>("depth", c.depth);
  c.num_heads = v.get<int64_t>("num_heads", c.num_heads);
  const std::string chans = v.first_present({"in_channels", "in_chans"});
  c.in_channels = chans.empty() ? 3 : v.get<int64_t>(chans);
  c.patch_size = v.get<int64_t>("patch_size", c.patch_size);
  c.spatial_merge_size = v.get<int64_t>("spatial_merge_size", c.spatial_merge_size);
  c.temporal_patch_size = v.get<int64_t>("temporal_patch_size", c.temporal_patch_size);
  if (qwen2_5) {
    c.width = v.get<int64_t>("hidden_size", 3584);
    c.out_width = v.get<int64_t>("out_hidden_size", 3584);
    c.mlp_width = v.get<int64_t>("intermediate_size", 3420);
    c.hidden_act = v.get<std::string>("hidden_act", "silu");
    c.window_size = v.get<int64_t>("window_size", c.window_size);
    c.fullatt_block_indexes = v.get<std::vector<int64_t>>("fullatt_block_indexes", {7, 15, 23, 31});
    c.tokens_per_second = v.get<double>("tokens_per_second", c.tokens_per_second);
    for (int64_t i : c.fullatt_block_indexes)
      if (i < 0 || i >= c.depth)
        fail(v.where("fullatt_block_indexes"), ": block index ", i, " is outside 0..", c.depth - 1);
  } else {
    c.width = v.get<int64_t>("embed_dim", 1280);
    c.out_width = v.get<int64_t>("hidden_size", 3584);
    const double ratio = v.get<double>("mlp_ratio", 4.0);
    c.mlp_width = static_cast<int64_t>(c.width * ratio);
    c.hidden_act = v.get<std::string>("hidden_act", "quick_gelu");
  }
  for (const auto& [key, value] :
       std::initializer_list<std::pair<const char*, int64_t>>{{"depth", c.depth}, {"num_heads", c.num_heads},
                                                               {"patch_size", c.patch_size},
                                                               {"spatial_merge_size", c.spatial_merge_size},
                                                               {"temporal_patch_size", c.temporal_patch_size},
                                                               {"in_channels", c.in_channels}})
    require_positive(v, key, value);
  if (c.width <= 0 || c.width % c.num_heads != 0)
    fail(v.where(qwen2_5 ? "hidden_size" : "embed_dim"), ": width ", c.width,
         " must be positive and divisible by num_heads ", c.num_heads);
  return c;
}

}  // namespace

Config parse_config(const Json& json, const std::string& file) {
  const JsonObject root(json, file);
  Config c;
  c.model_type = root.get<std::string>("model_type");
  if (c.model_type != "qwen2_vl" && c.model_type != "qwen2_5_vl")
    fail(root.where("model_type"), ": expected \"qwen2_vl\" or \"qwen2_5_vl\", got ", quote(c.model_type));
  // Layout: text keys under "text_config" (transformers 5) or flat at the top level (published hub files).
  c.nested_text_config = root.has("text_config");
  c.text = c.nested_text_config ? parse_text(root, root.object("text_config")) : parse_text(root, root);
  if (!root.has("vision_config")) fail(root.where("vision_config"), ": required field is missing");
  c.vision = parse_vision(root.object("vision_config"), c.is_qwen2_5());
  c.image_token_id = root.get<int64_t>("image_token_id", c.image_token_id);
  c.video_token_id = root.get<int64_t>("video_token_id", c.video_token_id);
  c.vision_start_token_id = root.get<int64_t>("vision_start_token_id", c.vision_start_token_id);
  c.vision_end_token_id = root.get<int64_t>("vision_end_token_id", c.vision_end_token_id);
  c.dtype = root.get<std::string>(root.has("torch_dtype") ? "torch_dtype" : "dtype", "");
  if (c.vision.out_width != c.text.hidden_size)
    fail(root.where("vision_config"), ": the vision output width ", c.vision.out_width,
         " differs from the language model's hidden_size ", c.text.hidden_size);
  return c;
}

Config load_config(const std::string& model_dir) {
  const std::string path = path_join(model_dir, "config.json");
  return parse_config(read_json_file(path), path);
}

std::vector<std::pair<std::string, std::string>> describe(const Config& c) {
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("config layout", c.nested_text_config ? "nested (text_config)" : "flat");
  rows.emplace_back("language model",
                    str(t.num_hidden_layers, " layers, hidden ", t.hidden_size, ", ", t.num_attention_heads,
                        " heads (", t.num_key_value_heads, " KV), head dim ", t.head_dim, ", MLP ",
                        t.intermediate_size, " ", t.hidden_act, ", vocab ", t.vocab_size,
                        t.tie_word_embeddings ? ", tied embeddings" : ", untied embeddings"));
  std::string rope = str("theta ", t.rope_theta);
  if (!t.mrope_section.empty())
    rope += str(", M-RoPE sections [", t.mrope_section[0], ", ", t.mrope_section[1], ", ", t.mrope_section[2], "]");
  rows.emplace_back("rope", rope);
  std::string vision = str(v.depth, " blocks, width ", v.width, ", ", v.num_heads, " heads, MLP ", v.mlp_width, " ",
                           v.hidden_act, ", patch ", v.patch_size, "x", v.patch_size, "x", v.temporal_patch_size,
                           ", merge ", v.spatial_merge_size, "x", v.spatial_merge_size);
  if (c.is_qwen2_5()) {
    vision += str(", window ", v.window_size, ", full attention at [");
    for (size_t i = 0; i < v.fullatt_block_indexes.size(); ++i)
      vision += str(i ? ", " : "", v.fullatt_block_indexes[i]);
    vision += "]";
  }
  rows.emplace_back("vision tower", vision);
  rows.emplace_back("projector", str("merger ", v.width * v.spatial_merge_size * v.spatial_merge_size, " -> ",
                                     v.out_width));
  rows.emplace_back("image token", str(c.image_token_id));
  if (!c.dtype.empty()) rows.emplace_back("dtype", c.dtype);
  return rows;
}

Component component_of(const std::string& name) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  if (starts("visual.merger.") || starts("model.visual.merger.")) return Component::kProjector;
  if (starts("visual.") || starts("model.visual.")) return Component::kVision;
  return Component::kLanguage;
}

}  // namespace vlm::qwen2_vl
