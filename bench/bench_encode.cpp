// Training-data throughput: how fast samples of a JSONL dataset are turned into model inputs (images decoded and
// preprocessed, the chat template rendered with assistant spans, tokenized), one thread, with the time split into
// image decoding and the rest.
//   bench_encode MODEL_DIR DATA.jsonl [--limit N]
#include <chrono>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "core/json.h"
#include "image/decode.h"
#include "models/processor.h"
#include "train/collator.h"
#include "train/dataset.h"

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, data;
  int64_t limit = 500;
  CLI::App app{"Training-data encoding throughput", "bench_encode"};
  app.add_option("model", model, "Model folder")->required();
  app.add_option("data", data, "Dataset (JSONL)")->required();
  app.add_option("--limit", limit, "Samples to encode (default 500)");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto processor = vlm::Processor::load(model, vlm::read_json_file(model + "/config.json"));
    const vlm::train::Dataset d = vlm::train::load_dataset(data);
    const size_t n = std::min(d.samples.size(), static_cast<size_t>(limit));
    double decode_ms = 0;
    auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i)
      for (const auto& path : d.samples[i].images) (void)vlm::image::load_image_file(path);
    decode_ms = ms_since(start);
    start = std::chrono::steady_clock::now();
    int64_t tokens = 0;
    for (size_t i = 0; i < n; ++i)
      if (auto s = vlm::train::encode_sample(*processor, d.samples[i], {}, nullptr)) tokens += s->ids.size();
    const double total_ms = ms_since(start);
    std::printf("{\"samples\": %zu, \"ms_per_sample\": %.3f, \"image_decode_ms_per_sample\": %.3f, "
                "\"tokens_per_sample\": %.1f}\n",
                n, total_ms / static_cast<double>(n), decode_ms / static_cast<double>(n),
                static_cast<double>(tokens) / static_cast<double>(n));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_encode: %s\n", e.what());
    return 1;
  }
  return 0;
}
