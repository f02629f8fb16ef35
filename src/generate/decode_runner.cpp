#include "generate/decode_runner.h"

#include <cstdlib>

#include "core/error.h"
#include "core/log.h"

#ifdef VLM_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace vlm::gen {
namespace {

constexpr int64_t kWarmupSteps = 2;  // eager steps before capture: cuBLAS handles and workspaces get created

}  // namespace

#ifdef VLM_WITH_CUDA
struct DecodeRunner::Graph {
  at::cuda::CUDAGraph graph;
  at::Tensor tokens, logits;  // the captured step's input and output buffers
};
bool cuda_graphs_available() { return true; }
#else
struct DecodeRunner::Graph {};
bool cuda_graphs_available() { return false; }
#endif

DecodeRunner::DecodeRunner(Model& model, DecodeState& state, bool cuda_graph)
    : model_(model), state_(state), want_graph_(cuda_graph && cuda_graphs_available()) {
  if (const char* env = std::getenv("VLM_CUDA_GRAPHS"); env && std::string(env) == "0") want_graph_ = false;
}

DecodeRunner::~DecodeRunner() = default;

bool DecodeRunner::graphed() const { return graph_ != nullptr; }

at::Tensor DecodeRunner::step(const at::Tensor& tokens) {
#ifdef VLM_WITH_CUDA
  if (graph_) {
    VLM_CHECK(tokens.sizes() == graph_->tokens.sizes(), "decode batch shape changed under a captured CUDA graph");
    graph_->tokens.copy_(tokens, /*non_blocking=*/true);
    graph_->graph.replay();
    state_.length += tokens.size(1);
    return graph_->logits;
  }
  const bool capture = want_graph_ && tokens.is_cuda() && state_.cache.fixed() && eager_steps_ >= kWarmupSteps;
  if (capture) {
    auto g = std::make_unique<Graph>();
    g->tokens = tokens.clone();
    const int64_t length = state_.length;
    try {
      // Capture on a side stream (capture is not allowed on the legacy default stream); nothing may be pending.
      c10::cuda::device_synchronize();
      {
        const c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromPool(false, tokens.device().index()));
        g->graph.capture_begin();
        g->logits = model_.logits(model_.decode_hidden(g->tokens, state_)).select(1, 0);
        g->graph.capture_end();
      }
      // Capturing recorded the step without running it (decode_hidden's host-side length was counted): run it.
      g->graph.replay();
      graph_ = std::move(g);
      return graph_->logits;
    } catch (const std::exception& e) {
      // Some op on this path could not be captured: decode eagerly from here on (the captured step never ran).
      log::warn("CUDA graph capture failed, decoding without it: ", e.what());
      state_.length = length;
      want_graph_ = false;
    }
  }
#endif
  ++eager_steps_;
  return model_.logits(model_.decode_hidden(tokens, state_)).select(1, 0);
}

}  // namespace vlm::gen
