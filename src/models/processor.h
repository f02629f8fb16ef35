// The processor: chat template + tokenizer + image processor, shared by generation, training and serving, so a
// model is trained on exactly what it later sees.
//
// Tokenization renders the chat template and encodes template markup with special tokens enabled but message
// content with special tokens disabled: a user who types "<|im_end|>" gets ordinary text, not a control token.
// This is the one place we differ from transformers, which tokenizes the whole rendered string (and so turns
// special-token strings inside content into control tokens). For content free of special-token strings the ids
// are identical.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/json.h"
#include "image/image.h"
#include "image/processor.h"
#include "models/model.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace vlm {

// One conversation in transformers' chat format: [{"role": ..., "content": "text" | [{"type": "text", "text": ...},
// {"type": "image"}, ...]}], with the images of its {"type": "image"} parts in order.
struct Conversation {
  Json messages = Json::array();
  std::vector<image::Image> images;
  bool add_generation_prompt = true;
  // Compute EncodedConversation::assistant (training): from the template's {% generation %} blocks, or, for
  // templates without them, by rendering each assistant turn's prefix (see processor.cpp).
  bool label_assistant = false;
};

// Token ids of one conversation before batching, and which of them belong to assistant turns.
struct EncodedConversation {
  std::vector<int32_t> ids;
  std::vector<uint8_t> assistant;  // 1 where the token lies in an assistant turn (with label_assistant)
  image::ProcessedImages images;
};

class Processor {
 public:
  // Reads the model folder's tokenizer, chat template and image processor config.
  static std::shared_ptr<Processor> load(const std::string& model_dir, const Json& model_config);

  EncodedConversation encode(const Conversation& c) const;
  // Encodes and left-pads a batch of conversations into model inputs on `device`.
  Batch prepare(const std::vector<Conversation>& conversations, const at::Device& device) const;

  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  const text::ChatTemplate& chat_template() const { return *template_; }
  int32_t image_token_id() const { return image_token_id_; }

 private:
  std::shared_ptr<text::Tokenizer> tokenizer_;
  std::shared_ptr<text::ChatTemplate> template_;
  std::shared_ptr<image::ImageProcessor> images_;
  Json special_variables_ = Json::object();  // bos_token, eos_token, ... for the template
  int32_t image_token_id_ = -1;
  int64_t merge_ = 2;
};

}  // namespace vlm
