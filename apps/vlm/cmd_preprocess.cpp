// vlm preprocess --model DIR --image FILE... [--out FILE]: what the model's image processor makes of images.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "apps/vlm/commands.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "image/decode.h"
#include "image/processor.h"

namespace vlm::cli {
namespace {

struct PreprocessArgs {
  std::string model, out;
  std::vector<std::string> images;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void run_preprocess(const PreprocessArgs& a) {
  const auto processor = image::load_image_processor(a.model);
  std::vector<image::Image> images;
  for (const auto& path : a.images) images.push_back(image::load_image_file(path));
  // One image per call, so each line describes one image.
  std::vector<safetensors::TensorView> views;
  std::vector<image::ProcessedImages> results;
  results.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    results.push_back(processor->process({images[i]}));
    const auto& r = results.back();
    const auto& p = r.images.at(0);
    double sum = 0;
    for (float v : r.pixel_values.data) sum += v;
    std::printf("%s: %dx%d, pixel_values %s, grid_thw [%lld, %lld, %lld], image tokens %lld, sum %.6f\n",
                a.images[i].c_str(), images[i].width, images[i].height, shape_text(r.pixel_values.shape).c_str(),
                static_cast<long long>(p.grid_thw[0]), static_cast<long long>(p.grid_thw[1]),
                static_cast<long long>(p.grid_thw[2]), static_cast<long long>(p.num_tokens), sum);
    views.push_back({"pixel_values." + std::to_string(i), safetensors::DType::kF32, r.pixel_values.shape,
                     r.pixel_values.data.data(), r.pixel_values.data.size() * sizeof(float)});
  }
  if (!a.out.empty()) safetensors::write(a.out, views, {{"model", a.model}});
}

}  // namespace

Command add_preprocess(CLI::App& app) {
  auto* cmd = app.add_subcommand("preprocess", "Run the model's image processor on images");
  auto a = std::make_shared<PreprocessArgs>();
  cmd->add_option("--model", a->model, "Model folder with preprocessor_config.json")->required();
  cmd->add_option("--image", a->images, "Image file (repeat for several)")->required();
  cmd->add_option("--out", a->out, "Write the pixel values as .safetensors");
  return {cmd, [a] { run_preprocess(*a); }};
}

}  // namespace vlm::cli
