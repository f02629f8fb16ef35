// tokenizer.json "post_processor": TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing and Sequence.
// Only the single-sequence case exists here. With add_special_tokens=false every processor leaves the ids as they
// are (as HF does); ByteLevel only ever changes offsets, which we do not report.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"

namespace vlm::text {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Turns the ids of one encoded sequence into the final ids.
  virtual void process(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const std::string& file, const std::string& path);

// "[prefix] $A [suffix]": what transformers installs when tokenizer_config.json sets add_bos_token/add_eos_token.
std::unique_ptr<PostProcessor> make_affix_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix);

}  // namespace vlm::text
