// Qwen2-VL and Qwen2.5-VL configuration (model_type qwen2_vl, qwen2_5_vl), parsed from config.json.
//
// Both layouts seen in the wild are accepted: text keys flat at the top level (the published hub configs) or nested
// under "text_config" (what transformers 5 saves); the RoPE block named "rope_scaling" or "rope_parameters"; the
// vision key "in_chans" or "in_channels". Defaults are transformers' (configuration_qwen2_vl.py,
// configuration_qwen2_5_vl.py), except that the text model's dimensions are required: transformers would fall
// back to the 72B model's sizes, and every published checkpoint sets them, so their absence means a broken file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "models/component.h"

namespace vlm::qwen2_vl {

struct TextConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // hidden_size / num_attention_heads
  int64_t max_position_embeddings = 32768;
  std::string hidden_act = "silu";
  double rms_norm_eps = 1e-5;
  double rope_theta = 1e6;
  std::vector<int64_t> mrope_section;  // e.g. [16, 24, 24]: head_dim/2 split over (t, h, w); empty = 1D RoPE
  bool tie_word_embeddings = false;
  bool use_sliding_window = false;
  int64_t sliding_window = 4096;
  int64_t max_window_layers = 80;
  double attention_dropout = 0.0;
};

struct VisionConfig {
  int64_t depth = 32;
  int64_t width = 1280;      // embed_dim (Qwen2-VL) / hidden_size (Qwen2.5-VL)
  int64_t out_width = 3584;  // hidden_size (Qwen2-VL) / out_hidden_size (Qwen2.5-VL): the language model's width
  int64_t mlp_width = 5120;  // embed_dim * mlp_ratio (Qwen2-VL) / intermediate_size (Qwen2.5-VL)
  int64_t num_heads = 16;
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t spatial_merge_size = 2;
  int64_t temporal_patch_size = 2;
  std::string hidden_act = "quick_gelu";
  // Qwen2.5-VL only
  int64_t window_size = 112;
  std::vector<int64_t> fullatt_block_indexes;
  double tokens_per_second = 4;
};

struct Config {
  std::string model_type;  // "qwen2_vl" or "qwen2_5_vl"
  bool is_qwen2_5() const { return model_type == "qwen2_5_vl"; }
  TextConfig text;
  VisionConfig vision;
  int64_t image_token_id = 151655;
  int64_t video_token_id = 151656;
  int64_t vision_start_token_id = 151652;
  int64_t vision_end_token_id = 151653;
  std::string dtype;  // "torch_dtype" / "dtype" as saved, informational
  bool nested_text_config = false;  // which layout the file used
};

// Parses a config.json document; `file` names it in errors.
Config parse_config(const Json& json, const std::string& file);
// Reads DIR/config.json.
Config load_config(const std::string& model_dir);

// (label, value) rows describing the architecture, for `vlm inspect`.
std::vector<std::pair<std::string, std::string>> describe(const Config& config);
// The component of a checkpoint tensor, in either weight-name layout (visual.* or model.visual.*).
Component component_of(const std::string& tensor_name);

}  // namespace vlm::qwen2_vl
