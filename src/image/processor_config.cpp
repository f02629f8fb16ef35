// Reading image-processor configs. Class defaults are those of transformers 5's PIL image processors
// (image_processing_pil_<family>.py); a key that is absent or null takes the class default, as in
// BaseImageProcessor._set_attributes.
#include "image/processor_config.h"

#include "core/error.h"
#include "core/file.h"

namespace vlm::image {
namespace {

const std::vector<double> kClipMean = {0.48145466, 0.4578275, 0.40821073};
const std::vector<double> kClipStd = {0.26862954, 0.26130258, 0.27577711};
const std::vector<double> kHalf = {0.5, 0.5, 0.5};

std::string strip_suffix(std::string s, const std::string& suffix) {
  if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
    s.resize(s.size() - suffix.size());
  return s;
}

Family family_of(const std::string& type, const std::string& processor_class, const std::string& origin) {
  const std::string base = strip_suffix(strip_suffix(type, "Fast"), "Pil");
  if (base == "Qwen2VLImageProcessor" || base == "Qwen2_5_VLImageProcessor") return Family::kQwen2VL;
  if (base == "CLIPImageProcessor") return processor_class == "LlavaProcessor" ? Family::kLlava : Family::kClip;
  if (base == "LlavaImageProcessor") return Family::kLlava;
  if (base == "SiglipImageProcessor") return Family::kSiglip;
  if (base == "Idefics3ImageProcessor") return Family::kIdefics3;
  if (base == "SmolVLMImageProcessor") return Family::kSmolVLM;
  if (base == "Gemma3ImageProcessor") return Family::kGemma3;
  if (base.empty()) {
    if (processor_class == "Qwen2VLProcessor" || processor_class == "Qwen2_5_VLProcessor") return Family::kQwen2VL;
    if (processor_class == "LlavaProcessor") return Family::kLlava;
    if (processor_class == "PaliGemmaProcessor") return Family::kSiglip;
    if (processor_class == "Idefics3Processor") return Family::kIdefics3;
    if (processor_class == "SmolVLMProcessor") return Family::kSmolVLM;
    if (processor_class == "Gemma3Processor") return Family::kGemma3;
    fail(origin, ": image_processor_type: missing, and processor_class ", quote(processor_class),
         " does not name a supported family");
  }
  fail(origin, ": image_processor_type: ", quote(type),
       " is not supported (expected Qwen2VL, CLIP, Llava, Siglip, Idefics3, SmolVLM or Gemma3 image processors)");
}

// Class defaults of transformers' PIL image processors.
void apply_family_defaults(ImageProcessorConfig& c) {
  switch (c.family) {
    case Family::kQwen2VL:
      c.resample = Filter::kBicubic;
      c.size.shortest_edge = 56 * 56;
      c.size.longest_edge = 28 * 28 * 1280;
      c.default_to_square = false;
      c.image_mean = kClipMean, c.image_std = kClipStd;
      break;
    case Family::kClip:
    case Family::kLlava:
      c.resample = Filter::kBicubic;
      c.size.shortest_edge = 224;
      c.default_to_square = false;
      c.do_center_crop = true;
      c.crop_size.height = c.crop_size.width = 224;
      c.image_mean = kClipMean, c.image_std = kClipStd;
      break;
    case Family::kSiglip:
      c.resample = Filter::kBicubic;
      c.size.height = c.size.width = 224;
      c.default_to_square = false;
      c.image_mean = kHalf, c.image_std = kHalf;
      break;
    case Family::kIdefics3:
    case Family::kSmolVLM:
      c.resample = Filter::kLanczos;
      c.size.longest_edge = 4 * 364;
      c.max_image_size = 364;
      c.do_image_splitting = true;
      c.do_pad = true;
      c.image_mean = kHalf, c.image_std = kHalf;
      break;
    case Family::kGemma3:
      c.resample = Filter::kBilinear;
      c.size.height = c.size.width = 224;
      c.default_to_square = true;
      c.image_mean = kHalf, c.image_std = kHalf;
      break;
  }
}

const Json* member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool get_bool(const Json& obj, const char* key, bool fallback, const std::string& origin) {
  const Json* v = member(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(origin, ": ", key, ": expected true or false, got ", json_type_name(*v));
  return v->get<bool>();
}

int64_t get_int(const Json& obj, const char* key, int64_t fallback, const std::string& origin) {
  const Json* v = member(obj, key);
  if (!v) return fallback;
  if (!v->is_number_integer()) fail(origin, ": ", key, ": expected an integer, got ", json_type_name(*v));
  return v->get<int64_t>();
}

double get_number(const Json& obj, const char* key, double fallback, const std::string& origin) {
  const Json* v = member(obj, key);
  if (!v) return fallback;
  if (!v->is_number()) fail(origin, ": ", key, ": expected a number, got ", json_type_name(*v));
  return v->get<double>();
}

std::vector<double> get_triple(const Json& obj, const char* key, const std::vector<double>& fallback,
                               const std::string& origin) {
  const Json* v = member(obj, key);
  if (!v) return fallback;
  if (v->is_number()) return std::vector<double>(3, v->get<double>());
  if (!v->is_array() || v->size() != 3)
    fail(origin, ": ", key, ": expected a number or a list of 3 numbers, got ", json_type_name(*v));
  std::vector<double> out;
  for (const Json& x : *v) {
    if (!x.is_number()) fail(origin, ": ", key, ": expected numbers, got ", json_type_name(x));
    out.push_back(x.get<double>());
  }
  return out;
}

// transformers' get_size_dict: an int is a square or a shortest edge, a pair is (height, width), an object
// names its fields.
SizeSpec get_size(const Json& obj, const char* key, const SizeSpec& fallback, bool default_to_square,
                  const std::string& origin) {
  const Json* v = member(obj, key);
  if (!v) return fallback;
  SizeSpec s;
  const std::string where = str(origin, ": ", key);
  auto positive = [&](const Json& x, const std::string& field) {
    if (!x.is_number_integer() || x.get<int64_t>() <= 0)
      fail(where, field, ": expected a positive integer, got ", x.dump().substr(0, 40));
    return x.get<int64_t>();
  };
  if (v->is_number_integer()) {
    const int64_t n = positive(*v, "");
    if (default_to_square) s.height = s.width = n;
    else s.shortest_edge = n;
  } else if (v->is_array() && v->size() == 2) {
    s.height = positive((*v)[0], "[0]");
    s.width = positive((*v)[1], "[1]");
  } else if (v->is_object()) {
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (it->is_null()) continue;
      const std::string& k = it.key();
      const int64_t n = positive(*it, "." + k);
      if (k == "height") s.height = n;
      else if (k == "width") s.width = n;
      else if (k == "shortest_edge") s.shortest_edge = n;
      else if (k == "longest_edge") s.longest_edge = n;
      else if (k == "max_height") s.max_height = n;
      else if (k == "max_width") s.max_width = n;
      else if (k == "min_pixels") s.min_pixels = n;
      else if (k == "max_pixels") s.max_pixels = n;
      else fail(where, ": unknown size field ", quote(k));
    }
  } else {
    fail(where, ": expected an integer, a [height, width] pair or an object, got ", json_type_name(*v));
  }
  return s;
}

std::string get_string(const Json& obj, const char* key, const std::string& origin) {
  const Json* v = member(obj, key);
  if (!v) return "";
  if (!v->is_string()) fail(origin, ": ", key, ": expected a string, got ", json_type_name(*v));
  return v->get<std::string>();
}

}  // namespace

const char* family_name(Family family) {
  switch (family) {
    case Family::kQwen2VL: return "qwen2_vl";
    case Family::kClip: return "clip";
    case Family::kLlava: return "llava";
    case Family::kSiglip: return "siglip";
    case Family::kIdefics3: return "idefics3";
    case Family::kSmolVLM: return "smolvlm";
    case Family::kGemma3: return "gemma3";
  }
  return "?";
}

ImageProcessorConfig parse_image_processor_config(const Json& ip, const Json& processor, const std::string& origin) {
  if (!ip.is_object()) fail(origin, ": expected the image processor settings to be a JSON object");
  ImageProcessorConfig c;
  c.origin = origin;
  c.image_processor_type = get_string(ip, "image_processor_type", origin);
  c.processor_class = get_string(processor, "processor_class", origin);
  if (c.processor_class.empty()) c.processor_class = get_string(ip, "processor_class", origin);
  c.family = family_of(c.image_processor_type, c.processor_class, origin);
  apply_family_defaults(c);

  c.do_convert_rgb = get_bool(ip, "do_convert_rgb", c.do_convert_rgb, origin);
  c.do_resize = get_bool(ip, "do_resize", c.do_resize, origin);
  c.default_to_square = get_bool(ip, "default_to_square", c.default_to_square, origin);
  c.size = get_size(ip, "size", c.size, c.default_to_square, origin);
  if (member(ip, "resample")) c.resample = filter_from_code(get_int(ip, "resample", 0, origin));
  c.do_center_crop = get_bool(ip, "do_center_crop", c.do_center_crop, origin);
  c.crop_size = get_size(ip, "crop_size", c.crop_size, /*default_to_square=*/true, origin);
  c.do_rescale = get_bool(ip, "do_rescale", c.do_rescale, origin);
  c.rescale_factor = get_number(ip, "rescale_factor", c.rescale_factor, origin);
  c.do_normalize = get_bool(ip, "do_normalize", c.do_normalize, origin);
  c.image_mean = get_triple(ip, "image_mean", c.image_mean, origin);
  c.image_std = get_triple(ip, "image_std", c.image_std, origin);
  c.do_pad = get_bool(ip, "do_pad", c.do_pad, origin);
  for (double s : c.image_std)
    if (c.do_normalize && s == 0.0) fail(origin, ": image_std: a standard deviation of 0 would divide by zero");

  switch (c.family) {
    case Family::kQwen2VL: {
      c.patch_size = get_int(ip, "patch_size", c.patch_size, origin);
      c.temporal_patch_size = get_int(ip, "temporal_patch_size", c.temporal_patch_size, origin);
      c.merge_size = get_int(ip, "merge_size", c.merge_size, origin);
      if (c.patch_size <= 0 || c.temporal_patch_size <= 0 || c.merge_size <= 0)
        fail(origin, ": patch_size, temporal_patch_size and merge_size must be positive");
      // Qwen2VLImageProcessorPil.__init__: top-level min_pixels / max_pixels override size.
      const int64_t from_size_min = c.size.shortest_edge ? c.size.shortest_edge : c.size.min_pixels;
      const int64_t from_size_max = c.size.longest_edge ? c.size.longest_edge : c.size.max_pixels;
      c.min_pixels = get_int(ip, "min_pixels", from_size_min, origin);
      c.max_pixels = get_int(ip, "max_pixels", from_size_max, origin);
      if (c.min_pixels <= 0 || c.max_pixels <= 0)
        fail(origin, ": size must give shortest_edge and longest_edge (or min_pixels and max_pixels)");
      c.size.shortest_edge = c.min_pixels;
      c.size.longest_edge = c.max_pixels;
      break;
    }
    case Family::kIdefics3:
    case Family::kSmolVLM: {
      c.do_image_splitting = get_bool(ip, "do_image_splitting", c.do_image_splitting, origin);
      SizeSpec tile;
      tile.longest_edge = c.max_image_size;
      tile = get_size(ip, "max_image_size", tile, false, origin);
      if (tile.longest_edge <= 0) fail(origin, ": max_image_size: expected {\"longest_edge\": N}");
      c.max_image_size = tile.longest_edge;
      c.image_seq_len = get_int(processor, "image_seq_len", get_int(ip, "image_seq_len", 169, origin), origin);
      break;
    }
    case Family::kGemma3:
      c.do_pan_and_scan = get_bool(ip, "do_pan_and_scan", false, origin);
      c.pan_and_scan_min_crop_size = get_int(ip, "pan_and_scan_min_crop_size", 0, origin);
      c.pan_and_scan_max_num_crops = get_int(ip, "pan_and_scan_max_num_crops", 0, origin);
      c.pan_and_scan_min_ratio_to_activate = get_number(ip, "pan_and_scan_min_ratio_to_activate", 0.0, origin);
      if (c.do_pan_and_scan && (c.pan_and_scan_min_crop_size <= 0 || c.pan_and_scan_max_num_crops <= 0))
        fail(origin, ": do_pan_and_scan needs pan_and_scan_min_crop_size and pan_and_scan_max_num_crops");
      c.image_seq_len = get_int(processor, "image_seq_length", get_int(ip, "image_seq_length", 256, origin), origin);
      break;
    case Family::kSiglip:
      c.image_seq_len = get_int(processor, "image_seq_length", get_int(ip, "image_seq_length", 0, origin), origin);
      break;
    case Family::kLlava:
      c.llava_patch_size = get_int(processor, "patch_size", 0, origin);
      c.num_additional_image_tokens = get_int(processor, "num_additional_image_tokens", 0, origin);
      c.vision_feature_select_strategy = get_string(processor, "vision_feature_select_strategy", origin);
      break;
    case Family::kClip:
      break;
  }
  return c;
}

ImageProcessorConfig load_image_processor_config(const std::string& model_dir) {
  const std::string flat_path = path_join(model_dir, "preprocessor_config.json");
  const std::string nested_path = path_join(model_dir, "processor_config.json");
  const bool has_flat = path_exists(flat_path), has_nested = path_exists(nested_path);
  if (!has_flat && !has_nested)
    fail(model_dir, ": neither preprocessor_config.json nor processor_config.json exists");
  Json image_processor = has_flat ? read_json_file(flat_path) : Json::object();
  Json processor = has_nested ? read_json_file(nested_path) : Json::object();
  if (!image_processor.is_object()) fail(flat_path, ": expected a JSON object");
  if (!processor.is_object()) fail(nested_path, ": expected a JSON object");
  std::string origin = has_flat ? flat_path : nested_path;
  if (const Json* nested = member(processor, "image_processor")) {
    if (!nested->is_object()) fail(nested_path, ": image_processor: expected an object, got ", json_type_name(*nested));
    for (auto it = nested->begin(); it != nested->end(); ++it) image_processor[it.key()] = *it;
    origin = has_flat ? str(flat_path, " + ", nested_path) : nested_path;
  }
  return parse_image_processor_config(image_processor, processor, origin);
}

}  // namespace vlm::image
