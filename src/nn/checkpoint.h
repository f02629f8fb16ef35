// Activation (gradient) checkpointing, as PyTorch's reentrant torch.utils.checkpoint: run a block without keeping
// its autograd graph and recompute it during backward, trading about one extra forward per block for the memory of
// its intermediate activations.
#pragma once

#include <functional>

#include <ATen/ATen.h>

namespace vlm::nn {

// Returns fn(input). When grad mode is on, fn runs under no-grad and only `input` (and the random-number-generator
// states: the CPU default generator and, for a CUDA input, its device's default generator) are kept; backward
// restores those states (so dropout draws the same masks), reruns fn with grad enabled on a detached copy of the
// input, back-propagates the incoming gradient through it (accumulating the .grad of every parameter used inside fn
// exactly once, as a plain backward would), puts the generator states back as it found them and passes the input's
// gradient on when the input requires one. An input that needs no gradient (the output of a frozen embedding, say)
// is checkpointed too: the node hangs off an empty tensor that requires grad, so backward still reaches it.
// With `offload`, a CUDA input is kept in pinned CPU memory instead (copied out and back on the current stream,
// asynchronously), so the checkpoints of all layers take no GPU memory; the input must not change before backward.
// Without grad mode fn is just called. fn must be a pure function of `input` and what it captures (captured tensors
// must not change before backward); it is called once more per backward.
at::Tensor checkpoint(std::function<at::Tensor(const at::Tensor&)> fn, const at::Tensor& input, bool offload = false);

}  // namespace vlm::nn
