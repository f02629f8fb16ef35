#include "text/post_processors.h"

#include <map>

#include "core/error.h"
#include "text/component_json.h"

namespace vlm::text {

namespace {

// ids before and after the sequence ($A).
class AffixProcessor : public PostProcessor {
 public:
  AffixProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_, suffix_;
};

class NoOpProcessor : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& step : steps_) step->process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// TemplateProcessing's "single" template: a list of {"SpecialToken": {"id": name, "type_id": n}} and
// {"Sequence": {"id": "A", "type_id": n}}; special token names resolve through "special_tokens"
// ({name: {"id": name, "ids": [...], "tokens": [...]}}).
std::unique_ptr<PostProcessor> make_template(const JsonObject& obj) {
  check_known_keys(obj, "post-processor TemplateProcessing", {"single", "pair", "special_tokens"});
  std::map<std::string, std::vector<int32_t>> specials;
  if (obj.has("special_tokens")) {
    const JsonObject table = obj.object("special_tokens");
    for (auto it = table.json().begin(); it != table.json().end(); ++it) {
      const JsonObject entry = table.object(it.key());
      specials[it.key()] = entry.get<std::vector<int>>("ids");
      for (int id : specials[it.key()])
        if (id < 0) fail(entry.where("ids"), ": token ids must not be negative");
    }
  }
  if (!obj.has("single") || !obj.json().at("single").is_array())
    fail(obj.where("single"), ": expected the list of template pieces");
  const Json& single = obj.json().at("single");
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const JsonObject piece(single[i], obj.file(), child_path(obj, str("single[", i, "]")));
    if (piece.has("Sequence")) {
      const JsonObject seq = piece.object("Sequence");
      const std::string id = seq.get<std::string>("id");
      if (id != "A") fail(seq.where("id"), ": the single template may only use sequence A, got ", quote(id));
      if (seen_sequence) fail(seq.where("id"), ": sequence A appears twice in the single template");
      seen_sequence = true;
    } else if (piece.has("SpecialToken")) {
      const JsonObject special = piece.object("SpecialToken");
      const std::string name = special.get<std::string>("id");
      auto it = specials.find(name);
      if (it == specials.end())
        fail(special.where("id"), ": special token ", quote(name), " is missing from special_tokens");
      auto& target = seen_sequence ? suffix : prefix;
      target.insert(target.end(), it->second.begin(), it->second.end());
    } else {
      fail(obj.where(str("single[", i, "]")), ": expected a Sequence or SpecialToken piece");
    }
  }
  if (!seen_sequence) fail(obj.where("single"), ": the template never places sequence A");
  return make_affix_processor(std::move(prefix), std::move(suffix));
}

// BertProcessing / RobertaProcessing: {"cls": [token, id], "sep": [token, id]} -> cls $A sep.
std::unique_ptr<PostProcessor> make_cls_sep(const JsonObject& obj, const std::string& what,
                                            std::initializer_list<const char*> keys) {
  check_known_keys(obj, what, keys);
  const auto read = [&](const std::string& key) {
    if (!obj.has(key)) fail(obj.where(key), ": required field is missing");
    const Json& v = obj.json().at(key);
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer() || v[1].get<int64_t>() < 0 ||
        v[1].get<int64_t>() > INT32_MAX)
      fail(obj.where(key), ": expected [token, id]");
    return static_cast<int32_t>(v[1].get<int64_t>());
  };
  return make_affix_processor({read("cls")}, {read("sep")});
}

}  // namespace

std::unique_ptr<PostProcessor> make_affix_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  return std::make_unique<AffixProcessor>(std::move(prefix), std::move(suffix));
}

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const std::string& file, const std::string& path) {
  const std::string type = component_type(j, file, path);
  const JsonObject obj(j, file, path);
  if (type == "TemplateProcessing") return make_template(obj);
  if (type == "ByteLevel") {
    check_known_keys(obj, "post-processor ByteLevel", {"add_prefix_space", "trim_offsets", "use_regex"});
    return std::make_unique<NoOpProcessor>();
  }
  if (type == "BertProcessing") return make_cls_sep(obj, "post-processor BertProcessing", {"cls", "sep"});
  if (type == "RobertaProcessing")
    return make_cls_sep(obj, "post-processor RobertaProcessing", {"cls", "sep", "trim_offsets", "add_prefix_space"});
  if (type == "Sequence") {
    check_known_keys(obj, "post-processor Sequence", {"processors"});
    return std::make_unique<SequenceProcessor>(
        sequence_steps(obj, "processors", file, path, "processors", make_post_processor));
  }
  fail(obj.where("type"), ": post-processor type ", quote(type),
       " is not supported (supported: TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence)");
}

}  // namespace vlm::text
