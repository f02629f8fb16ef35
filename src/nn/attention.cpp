#include "nn/attention.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/memory.h"
#include "core/torch_compat.h"
#include "kernels/ops.h"

namespace vlm::nn {

at::Tensor repeat_kv(const at::Tensor& x, int64_t n_rep) {
  if (n_rep == 1) return x;
  const auto b = x.size(0), h = x.size(1), l = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, h, n_rep, l, d}).reshape({b, h * n_rep, l, d});
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::optional<at::Tensor>& mask, bool causal, double scale) {
  return compat::scaled_dot_product_attention(q, k, v, mask, causal, scale);
}

AttentionMask packed_mask(const std::vector<int64_t>& lengths, const at::Device& device) {
  VLM_CHECK(!lengths.empty(), "a packed row needs at least one sample");
  std::vector<int32_t> cu{0};
  AttentionMask m;
  for (const int64_t n : lengths) {
    VLM_CHECK(n > 0, "a packed sample has no tokens");
    cu.push_back(cu.back() + static_cast<int32_t>(n));
    m.max_seqlen = std::max(m.max_seqlen, n);
  }
  m.cu_seqlens = to_device_async(at::tensor(cu, at::kInt), device);
  return m;
}

at::Tensor packed_causal_mask(const at::Tensor& cu_seqlens, int64_t n) {
  const at::Tensor pos = at::arange(n, cu_seqlens.options().dtype(at::kLong));
  // Segment of each position: the number of boundaries at or before it.
  const at::Tensor segment = at::searchsorted(cu_seqlens.to(at::kLong), pos, /*out_int32=*/false, /*right=*/true);
  const at::Tensor same = segment.unsqueeze(1) == segment.unsqueeze(0);  // [query, key]
  const at::Tensor causal = pos.unsqueeze(0) <= pos.unsqueeze(1);
  return (same & causal).view({1, 1, n, n});
}

at::Tensor gqa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMask& mask,
                         double scale) {
  const int64_t groups = q.size(1) / k.size(1);
  if (mask.cu_seqlens.defined()) {
    VLM_CHECK(q.size(0) == 1 && q.size(2) == k.size(2), "a packed row is one row of queries over its own keys");
    // [1, H, N, D] -> [N, H, D] and back.
    auto tokens_first = [](const at::Tensor& t) { return t.squeeze(0).transpose(0, 1).contiguous(); };
    if (auto out = compat::varlen_flash_attention(tokens_first(q), tokens_first(k), tokens_first(v), mask.cu_seqlens,
                                                  mask.max_seqlen, scale))
      return out->transpose(0, 1).unsqueeze(0);
    return attention(q, repeat_kv(k, groups), repeat_kv(v, groups), packed_causal_mask(mask.cu_seqlens, q.size(2)),
                     false, scale);
  }
  const auto& dense = mask.dense;
  if (q.is_cuda() && q.size(2) == 1 && dense && dense->dim() == 4 && dense->size(1) == 1 && dense->size(2) == 1 &&
      dense->scalar_type() == at::kBool && dense->size(0) == q.size(0))
    return ops::decode_attention(q, k, v, dense->reshape({q.size(0), dense->size(-1)}), scale);
  if (!dense && q.size(2) == k.size(2) && q.size(2) > 0) {
    // Causal rows without padding: each row is one segment of the variable-length flash kernel, which reads the KV
    // heads in place (no repeated copies to keep for backward). [B, H, L, D] -> [B * L, H, D] (a view when q, k, v
    // come from [B, L, H, D] projections) and back.
    const int64_t b = q.size(0), l = q.size(2);
    auto rows = [b, l](const at::Tensor& t) {
      return t.transpose(1, 2).reshape({b * l, t.size(1), t.size(3)}).contiguous();
    };
    const at::Tensor cu = at::arange(0, (b + 1) * l, l, q.options().dtype(at::kInt));
    if (auto out = compat::varlen_flash_attention(rows(q), rows(k), rows(v), cu, l, scale))
      return out->view({b, l, q.size(1), q.size(3)}).transpose(1, 2);
  }
  return attention(q, repeat_kv(k, groups), repeat_kv(v, groups), dense, /*causal=*/!dense.has_value(), scale);
}

at::Tensor segment_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const std::vector<int64_t>& cu_seqlens, double scale) {
  // Segments of equal length run as one batched attention call: images of one size (and the windows of one image)
  // share a length, so a batch of many images costs a few calls rather than one per image.
  std::map<int64_t, std::vector<int64_t>> starts_by_length;
  for (size_t i = 0; i + 1 < cu_seqlens.size(); ++i)
    if (cu_seqlens[i + 1] > cu_seqlens[i]) starts_by_length[cu_seqlens[i + 1] - cu_seqlens[i]].push_back(cu_seqlens[i]);
  const int64_t n = q.size(0), heads = q.size(1), d = q.size(2);
  // [m * len, H, D] rows -> [m, H, len, D] and back.
  auto batched = [&](const at::Tensor& t, int64_t m, int64_t len) {
    return t.view({m, len, heads, d}).transpose(1, 2);
  };
  auto attend = [&](const at::Tensor& qs, const at::Tensor& ks, const at::Tensor& vs, int64_t m, int64_t len) {
    return attention(batched(qs, m, len), batched(ks, m, len), batched(vs, m, len), std::nullopt, false, scale)
        .transpose(1, 2)
        .reshape({m * len, heads, d});
  };
  if (starts_by_length.size() == 1) {
    const auto& [len, starts] = *starts_by_length.begin();
    const auto m = static_cast<int64_t>(starts.size());
    if (m * len == n) return attend(q.contiguous(), k.contiguous(), v.contiguous(), m, len);  // every row, in order
  }
  bool covers = !starts_by_length.empty() && cu_seqlens.front() == 0 && cu_seqlens.back() == n;
  for (size_t i = 1; covers && i < cu_seqlens.size(); ++i) covers = cu_seqlens[i] >= cu_seqlens[i - 1];
  if (covers) {
    // Segments of several lengths covering every row: one call of the variable-length flash kernel where there is
    // one (images of several sizes), rather than gathering and scattering each length's rows.
    std::vector<int32_t> cu{0};
    for (size_t i = 1; i < cu_seqlens.size(); ++i)
      if (cu_seqlens[i] > cu.back()) cu.push_back(static_cast<int32_t>(cu_seqlens[i]));
    const int64_t longest = starts_by_length.rbegin()->first;
    if (q.is_cuda() && n < (int64_t{1} << 31))
      if (auto out = compat::varlen_flash_attention(q.contiguous(), k.contiguous(), v.contiguous(),
                                                    to_device_async(at::tensor(cu, at::kInt), q.device()), longest,
                                                    scale, /*causal=*/false))
        return *out;
  }
  at::Tensor out = at::zeros_like(q);
  for (const auto& [len, starts] : starts_by_length) {
    const auto m = static_cast<int64_t>(starts.size());
    const auto longs = at::TensorOptions().dtype(at::kLong).device(q.device());
    const at::Tensor first = to_device_async(at::tensor(starts, at::kLong), q.device());
    const at::Tensor rows = (first.view({m, 1}) + at::arange(len, longs).view({1, len})).flatten();
    out = out.index_copy(0, rows, attend(q.index_select(0, rows), k.index_select(0, rows), v.index_select(0, rows), m,
                                         len));
  }
  return out;
}

std::pair<at::Tensor, at::Tensor> KVCache::update(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  auto& ck = k_.at(static_cast<size_t>(layer));
  auto& cv = v_.at(static_cast<size_t>(layer));
  if (slot_.defined()) {
    VLM_CHECK(ck.defined() && k.size(2) == 1, "a fixed KV cache decodes one token per step after its prompt");
    ck.index_copy_(2, slot_, k);
    cv.index_copy_(2, slot_, v);
    return {ck, cv};
  }
  // Every layer of one forward writes the same range; the last one commits it.
  const int64_t start = length_, end = start + k.size(2);
  if (layer + 1 == static_cast<int64_t>(k_.size())) length_ = end;
  if (!fixed()) {
    ck = ck.defined() ? at::cat({ck, k}, 2) : k;
    cv = cv.defined() ? at::cat({cv, v}, 2) : v;
    return {ck, cv};
  }
  VLM_CHECK(end <= capacity_, "KV cache overflow: ", end, " positions for a capacity of ", capacity_);
  if (!ck.defined()) {
    ck = at::zeros({k.size(0), k.size(1), capacity_, k.size(3)}, k.options());
    cv = at::zeros({v.size(0), v.size(1), capacity_, v.size(3)}, v.options());
  }
  ck.narrow(2, start, k.size(2)).copy_(k);
  cv.narrow(2, start, v.size(2)).copy_(v);
  return {ck.narrow(2, 0, end), cv.narrow(2, 0, end)};
}

}  // namespace vlm::nn
