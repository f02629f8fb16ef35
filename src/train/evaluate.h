// Evaluation of a model (with or without an adapter) on a dataset: teacher-forced loss and token accuracy over
// the learned tokens (the same labels training uses), and optionally exact-match accuracy of greedy answers: the
// conversation up to its last assistant turn is the prompt, and the generated text must equal that turn's text
// (both with surrounding whitespace removed).
#pragma once

#include <string>
#include <vector>

#include "train/collator.h"
#include "train/dataset.h"
#include "vlm.h"

namespace vlm::train {

struct EvalOptions {
  int64_t batch_size = 8;
  CollateOptions collate;
  bool exact_match = false;
  int64_t max_new_tokens = 64;
  int64_t limit = 0;  // evaluate only the first N samples (0 = all)
};

struct EvalSample {
  std::string origin, prompt, expected, generated;
  bool correct = false;
};

struct EvalReport {
  double loss = 0, token_accuracy = 0, exact_match = 0;
  int64_t tokens = 0, samples = 0, skipped = 0;
  std::vector<EvalSample> answers;  // with exact_match: every sample's answer
};

// Leaves the model in eval mode.
EvalReport evaluate(VLM& vlm, const Dataset& data, const EvalOptions& options);

}  // namespace vlm::train
