// Runs decoding steps for a Generation. Eager by default; on CUDA with a fixed-capacity cache (see DecodeState)
// one step is captured as a CUDA graph after two eager warm-up steps and replayed from then on, so a token costs
// one graph launch instead of several hundred kernel launches from the host.
#pragma once

#include <memory>

#include "models/model.h"

namespace vlm::ops {
struct GreedyHead;
}  // namespace vlm::ops

namespace vlm::gen {

class DecodeRunner {
 public:
  // greedy_feedback: the captured step also takes the argmax of its logits and writes it to its own input, so that
  // greedy decoding can queue steps without a round trip through the host (advance()).
  DecodeRunner(Model& model, DecodeState& state, bool cuda_graph, bool greedy_feedback = false);
  ~DecodeRunner();
  DecodeRunner(const DecodeRunner&) = delete;
  DecodeRunner& operator=(const DecodeRunner&) = delete;

  // tokens [B, 1] on the model's device -> logits [B, V] for the next position. With a graph the result is a
  // buffer that the next step overwrites: use it before calling step() again. A graph with greedy feedback at batch
  // 1 may take its argmax without all the logits (ops::greedy_next_token): it then returns an undefined tensor.
  at::Tensor step(const at::Tensor& tokens);
  bool graphed() const;

  // Chained greedy steps, once a graph with greedy feedback is captured. queue_next() starts copying the argmax of
  // the last step to the host; advance() runs one more step on that argmax and queues its own; take() waits for the
  // oldest queued tokens ([B] ids). Steps queue up on the device while the host handles earlier tokens.
  bool chains() const;
  void queue_next();
  void advance();
  std::vector<int64_t> take();
  size_t queued() const;

 private:
  struct Graph;
  Model& model_;
  DecodeState& state_;
  bool want_graph_, greedy_feedback_;
  int64_t eager_steps_ = 0;
  std::unique_ptr<Graph> graph_;
  std::shared_ptr<ops::GreedyHead> greedy_head_;
};

// Whether this build can capture CUDA graphs (a CUDA libtorch).
bool cuda_graphs_available();

}  // namespace vlm::gen
