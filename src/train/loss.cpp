#include "train/loss.h"

#include "train/collator.h"

namespace vlm::train {

LossSums causal_lm_loss(Model& model, const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk) {
  const int64_t l = hidden.size(1);
  // Position i predicts token i + 1.
  const at::Tensor targets = labels.narrow(1, 1, l - 1).reshape({-1});
  const at::Tensor h = hidden.narrow(1, 0, l - 1).reshape({-1, hidden.size(-1)});
  const at::Tensor rows = targets.ne(kIgnoreIndex).nonzero().squeeze(1);
  LossSums out;
  out.tokens = rows.size(0);
  out.loss_sum = at::zeros({}, hidden.options().dtype(at::kFloat));
  for (int64_t start = 0; start < out.tokens; start += chunk) {
    const at::Tensor idx = rows.narrow(0, start, std::min(chunk, out.tokens - start));
    const at::Tensor logits = model.logits(h.index_select(0, idx)).to(at::kFloat);
    const at::Tensor t = targets.index_select(0, idx);
    out.loss_sum = out.loss_sum + at::cross_entropy_loss(logits, t, {}, at::Reduction::Sum);
    out.correct += logits.detach().argmax(-1).eq(t).sum().item<int64_t>();
  }
  return out;
}

}  // namespace vlm::train
