// Training datasets: JSONL files, one sample per line, normalised to the chat format transformers' processors
// take (apply_chat_template's `messages`), with the image paths in the order of the image parts.
//
// Accepted line forms (every one normalises to the same `messages` shape):
//   1. {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many?"}]},
//                    {"role": "assistant", "content": [{"type": "text", "text": "3"}]}],
//       "images": ["imgs/0001.png"]}
//      ("image": "path" is accepted for a single image; null values mean "absent", as in HF datasets'
//      exports)
//   2. the same with "content": "plain text", which becomes [{"type": "text", "text": "plain text"}]
//   3. inline paths: {"type": "image", "image": "imgs/0001.png"} inside content, normalised to
//      {"type": "image"} with the path pushed to `images`; a sample has either inline paths on every image
//      part or a top-level list
//   4. shorthand: {"image": "path"} or {"images": [...]}, "question": "...", "answer": "...", optional
//      "system": "..." -> [system,] user [image parts..., question text], assistant [answer text]
// Roles are "system", "user" and "assistant"; a sample needs at least one assistant turn (what is learned).
// Normalised messages hold only "role" and "content"; parts only "type" (and "text"). Other keys are ignored.
// Relative image paths are resolved against the JSONL file's folder; every image must exist as a file.
//
// Every error starts with "<file>:<line>: <field>: " (e.g. `data.jsonl:7: messages[1].content[0].type:
// expected "text" or "image", got "video"`). Empty lines are skipped; a line longer than 16 MiB is an error.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/json.h"

namespace vlm::train {

struct DatasetSample {
  // [{"role": "user"|"assistant"|"system", "content": [{"type": "image"} | {"type": "text", "text": ...}]}]
  Json messages;
  std::vector<std::string> images;  // resolved paths, one for each {"type": "image"} part, in message order
  std::string origin;               // "<file>:<line>", for messages about this sample later on
};

struct DatasetOptions {
  // Skip (and count) lines that fail to parse or validate instead of stopping at the first one. The file
  // itself missing, or no sample left at all, is still an error.
  bool skip_bad_samples = false;
};

struct Dataset {
  std::vector<DatasetSample> samples;
  std::string path;
  size_t skipped = 0;                     // bad lines skipped (skip_bad_samples only)
  std::vector<std::string> skip_reasons;  // the error messages of the first kMaxSkipReasons of them
};

constexpr size_t kMaxSkipReasons = 5;
constexpr size_t kMaxDatasetLineBytes = 16u << 20;

Dataset load_dataset(const std::string& path, const DatasetOptions& options = {});

// One line's sample. `origin` ("<file>:<line>") starts every error message; relative image paths are resolved
// against `base_dir` ("" or "." keeps them as given). Throws vlm::Error on anything malformed.
DatasetSample parse_dataset_line(const std::string& line, const std::string& origin,
                                 const std::string& base_dir);

}  // namespace vlm::train
