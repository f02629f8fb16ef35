#include "train/collator.h"

#include <algorithm>

#include "core/error.h"
#include "image/decode.h"

namespace vlm::train {

std::optional<EncodedSample> encode_sample(const Processor& processor, const DatasetSample& sample,
                                           const CollateOptions& options, std::string* why) {
  Conversation c;
  c.messages = sample.messages;
  c.add_generation_prompt = false;
  c.label_assistant = true;
  for (const auto& path : sample.images) {
    try {
      c.images.push_back(image::load_image_file(path));
    } catch (const Error& e) {
      fail(sample.origin, ": image ", quote(path), ": ", e.what());
    }
  }
  EncodedConversation enc;
  try {
    enc = processor.encode(c);
  } catch (const Error& e) {
    fail(sample.origin, ": ", e.what());
  }
  EncodedSample s;
  s.origin = sample.origin;
  s.ids = std::move(enc.ids);
  s.images = std::move(enc.images);
  const int32_t image_id = processor.image_token_id();
  s.labels.resize(s.ids.size(), kIgnoreIndex);
  for (size_t i = 0; i < s.ids.size(); ++i)
    if (s.ids[i] != image_id && (options.train_on_prompt || enc.assistant[i])) s.labels[i] = s.ids[i];

  const auto limit = static_cast<size_t>(options.max_seq_len);
  if (s.ids.size() > limit) {
    const auto last_image = std::find(s.ids.rbegin(), s.ids.rend(), image_id);
    const size_t image_end = last_image == s.ids.rend() ? 0 : static_cast<size_t>(s.ids.rend() - last_image);
    // A label at position i is predicted from position i - 1, so the first position cannot count.
    const bool labels_left = std::any_of(s.labels.begin() + 1, s.labels.begin() + static_cast<std::ptrdiff_t>(limit),
                                         [](int64_t l) { return l != kIgnoreIndex; });
    if (image_end > limit || !labels_left) {
      if (why)
        *why = str(sample.origin, ": ", s.ids.size(), " tokens do not fit --max-seq-len ", limit,
                   image_end > limit ? " without cutting image tokens" : " with any answer token left");
      return std::nullopt;
    }
    s.ids.resize(limit);
    s.labels.resize(limit);
  }
  s.label_tokens = std::count_if(s.labels.begin() + (s.labels.empty() ? 0 : 1), s.labels.end(),
                                 [](int64_t l) { return l != kIgnoreIndex; });
  if (s.label_tokens == 0) {
    if (why) *why = str(sample.origin, ": no token to learn (the assistant turns are empty)");
    return std::nullopt;
  }
  return s;
}

namespace {

// The images of the samples, in order: pixel values concatenated over patches, grids stacked.
void add_images(const std::vector<const EncodedSample*>& samples, const at::Device& device, Batch& batch) {
  std::vector<at::Tensor> pixels, grids;
  for (const EncodedSample* s : samples) {
    if (s->images.images.empty()) continue;
    pixels.push_back(at::tensor(s->images.pixel_values.data).view(s->images.pixel_values.shape));
    for (const auto& im : s->images.images)
      grids.push_back(at::tensor(std::vector<int64_t>{im.grid_thw[0], im.grid_thw[1], im.grid_thw[2]}));
  }
  if (pixels.empty()) return;
  batch.pixel_values = at::cat(pixels, 0).to(device);
  batch.image_grid_thw = at::stack(grids, 0).to(device);
}

}  // namespace

TrainBatch collate_packed(const std::vector<const EncodedSample*>& samples, const at::Device& device) {
  VLM_CHECK(!samples.empty(), "collate: empty batch");
  std::vector<int64_t> ids, labels;
  TrainBatch out;
  for (const EncodedSample* s : samples) {
    VLM_CHECK(!s->ids.empty(), s->origin, ": a sample without tokens");
    ids.insert(ids.end(), s->ids.begin(), s->ids.end());
    labels.push_back(kIgnoreIndex);
    labels.insert(labels.end(), s->labels.begin() + 1, s->labels.end());
    out.batch.packed_lengths.push_back(static_cast<int64_t>(s->ids.size()));
    out.label_tokens += s->label_tokens;
    out.tokens += static_cast<int64_t>(s->ids.size());
    out.origins.push_back(s->origin);
  }
  const auto n = static_cast<int64_t>(ids.size());
  out.batch.input_ids = at::tensor(ids).view({1, n}).to(device);
  out.labels = at::tensor(labels).view({1, n});
  add_images(samples, device, out.batch);
  return out;
}

TrainBatch collate(const std::vector<const EncodedSample*>& samples, int32_t pad_id, const at::Device& device) {
  VLM_CHECK(!samples.empty(), "collate: empty batch");
  size_t width = 0;
  for (const auto* s : samples) width = std::max(width, s->ids.size());
  const auto b = static_cast<int64_t>(samples.size()), l = static_cast<int64_t>(width);
  std::vector<int64_t> ids(static_cast<size_t>(b * l), pad_id), mask(static_cast<size_t>(b * l), 0),
      labels(static_cast<size_t>(b * l), kIgnoreIndex);
  TrainBatch out;
  for (size_t i = 0; i < samples.size(); ++i) {
    const EncodedSample& s = *samples[i];
    const size_t row = i * width;
    std::copy(s.ids.begin(), s.ids.end(), ids.begin() + static_cast<std::ptrdiff_t>(row));
    std::fill_n(mask.begin() + static_cast<std::ptrdiff_t>(row), s.ids.size(), 1);
    std::copy(s.labels.begin(), s.labels.end(), labels.begin() + static_cast<std::ptrdiff_t>(row));
    out.label_tokens += s.label_tokens;
    out.tokens += static_cast<int64_t>(s.ids.size());
    out.origins.push_back(s.origin);
  }
  out.batch.input_ids = at::tensor(ids).view({b, l}).to(device);
  out.batch.attention_mask = at::tensor(mask).view({b, l}).to(device);
  out.labels = at::tensor(labels).view({b, l});
  add_images(samples, device, out.batch);
  return out;
}

}  // namespace vlm::train
