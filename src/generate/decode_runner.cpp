#include "generate/decode_runner.h"

#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"

#ifdef VLM_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace vlm::gen {
namespace {

constexpr int64_t kWarmupSteps = 2;  // eager steps before capture: cuBLAS handles and workspaces get created
constexpr size_t kQueueSlots = 8;    // chained greedy steps whose tokens may wait for the host at once

}  // namespace

#ifdef VLM_WITH_CUDA
struct DecodeRunner::Graph {
  at::cuda::CUDAGraph graph;
  at::Tensor tokens, logits;  // the captured step's input and output buffers
  bool feedback = false;      // the step ends by writing the argmax of its logits to `tokens`
  // Queued tokens on their way to the host: a ring of pinned rows [kQueueSlots, B], each with the event that marks
  // its copy done. A row is reused only after take() has waited for it.
  at::Tensor host;
  std::vector<at::cuda::CUDAEvent> copied;
  size_t head = 0, count = 0;
};
bool cuda_graphs_available() { return true; }
#else
struct DecodeRunner::Graph {};
bool cuda_graphs_available() { return false; }
#endif

DecodeRunner::DecodeRunner(Model& model, DecodeState& state, bool cuda_graph, bool greedy_feedback)
    : model_(model),
      state_(state),
      want_graph_(cuda_graph && cuda_graphs_available()),
      greedy_feedback_(greedy_feedback) {
  if (const char* env = std::getenv("VLM_CUDA_GRAPHS"); env && std::string(env) == "0") want_graph_ = false;
}

DecodeRunner::~DecodeRunner() {
#ifdef VLM_WITH_CUDA
  // Steps queued past the end may still run: let them finish before the graph and its buffers go.
  if (graph_ && graph_->count > 0) c10::cuda::device_synchronize();
#endif
}

bool DecodeRunner::graphed() const { return graph_ != nullptr; }

at::Tensor DecodeRunner::step(const at::Tensor& tokens) {
  const ops::SettledWeights settled;  // a step writes no weight (captured into the graph's kernels too)
#ifdef VLM_WITH_CUDA
  if (graph_) {
    VLM_CHECK(tokens.sizes() == graph_->tokens.sizes(), "decode batch shape changed under a captured CUDA graph");
    state_.require_room();
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
    // Greedy feedback at batch 1 takes the argmax without all the logits, where the head allows (built before the
    // capture: the int8 copy is made once, outside the graph).
    if (greedy_feedback_ && tokens.size(0) == 1 && !greedy_head_)
      greedy_head_ = ops::make_greedy_head(model_.plain_lm_head_weight());
    try {
      // Capture on a side stream (capture is not allowed on the legacy default stream); nothing may be pending.
      c10::cuda::device_synchronize();
      {
        const c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromPool(false, tokens.device().index()));
        g->graph.capture_begin();
        const at::Tensor hidden = model_.decode_hidden(g->tokens, state_);
        at::Tensor next = g->tokens.view({-1});  // the argmax written in place: no copy kernel
        if (!(greedy_head_ && ops::greedy_next_token(hidden, *greedy_head_, next))) {
          g->logits = model_.logits(hidden).select(1, 0);
          if (greedy_feedback_) at::argmax_out(next, g->logits, -1);
        }
        g->graph.capture_end();
      }
      // Capturing recorded the step without running it (decode_hidden's host-side length was counted): run it.
      g->graph.replay();
      if (greedy_feedback_) {
        g->feedback = true;
        g->host = at::empty({static_cast<int64_t>(kQueueSlots), tokens.size(0)},
                            at::TensorOptions().dtype(at::kLong).pinned_memory(true));
        g->copied.resize(kQueueSlots);
      }
      graph_ = std::move(g);
      return graph_->logits;
    } catch (const std::exception& e) {
      // Some op on this path could not be captured: decode eagerly from here on (the captured step never ran).
      log::warn("CUDA graph capture failed, decoding without it: ", e.what());
      state_.length = length;
      want_graph_ = false;
      greedy_head_.reset();  // only a captured step uses it
    }
  }
#endif
  ++eager_steps_;
  return model_.logits(model_.decode_hidden(tokens, state_)).select(1, 0);
}

bool DecodeRunner::chains() const {
#ifdef VLM_WITH_CUDA
  return graph_ && graph_->feedback;
#else
  return false;
#endif
}

size_t DecodeRunner::queued() const {
#ifdef VLM_WITH_CUDA
  if (graph_) return graph_->count;
#endif
  return 0;
}

void DecodeRunner::queue_next() {
  VLM_CHECK(chains(), "chained decoding steps need a CUDA graph captured with greedy feedback");
#ifdef VLM_WITH_CUDA
  Graph& g = *graph_;
  VLM_CHECK(g.count < kQueueSlots, "more than ", kQueueSlots, " decoding steps queued");
  const size_t slot = (g.head + g.count) % kQueueSlots;
  g.host[static_cast<int64_t>(slot)].copy_(g.tokens.view(-1), /*non_blocking=*/true);
  g.copied[slot].record();
  ++g.count;
#endif
}

void DecodeRunner::advance() {
  VLM_CHECK(chains(), "chained decoding steps need a CUDA graph captured with greedy feedback");
#ifdef VLM_WITH_CUDA
  state_.require_room();
  graph_->graph.replay();
  state_.length += graph_->tokens.size(1);
  queue_next();
#endif
}

std::vector<int64_t> DecodeRunner::take() {
  VLM_CHECK(queued() > 0, "no decoding step is queued");
  std::vector<int64_t> out;
#ifdef VLM_WITH_CUDA
  Graph& g = *graph_;
  g.copied[g.head].synchronize();
  const at::Tensor row = g.host[static_cast<int64_t>(g.head)];
  out.assign(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  g.head = (g.head + 1) % kQueueSlots;
  --g.count;
#endif
  return out;
}

}  // namespace vlm::gen
