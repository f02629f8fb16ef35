// Runs decoding steps for a Generation. Eager by default; on CUDA with a fixed-capacity cache (see DecodeState)
// one step is captured as a CUDA graph after two eager warm-up steps and replayed from then on, so a token costs
// one graph launch instead of several hundred kernel launches from the host.
#pragma once

#include <memory>

#include "models/model.h"

namespace vlm::gen {

class DecodeRunner {
 public:
  DecodeRunner(Model& model, DecodeState& state, bool cuda_graph);
  ~DecodeRunner();
  DecodeRunner(const DecodeRunner&) = delete;
  DecodeRunner& operator=(const DecodeRunner&) = delete;

  // tokens [B, 1] on the model's device -> logits [B, V] for the next position. With a graph the result is a
  // buffer that the next step overwrites: use it before calling step() again.
  at::Tensor step(const at::Tensor& tokens);
  bool graphed() const;

 private:
  struct Graph;
  Model& model_;
  DecodeState& state_;
  bool want_graph_;
  int64_t eager_steps_ = 0;
  std::unique_ptr<Graph> graph_;
};

// Whether this build can capture CUDA graphs (a CUDA libtorch).
bool cuda_graphs_available();

}  // namespace vlm::gen
