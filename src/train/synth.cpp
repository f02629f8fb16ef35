// write_synth_dataset: folders, one PNG per sample, and the data.jsonl that load_dataset reads (form 1).
#include "train/synth.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"

namespace vlm::train {

namespace {

// mkdir -p with POSIX calls (std::filesystem crashes next to libtorch in this project; see core/file.cpp).
void make_folders(const std::string& path) {
  VLM_CHECK(!path.empty(), "synthetic data: the output folder is empty");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      fail(prefix, ": cannot create the folder: ", std::strerror(errno));
  }
  if (!is_directory(path)) fail(path, ": cannot create the folder: a file of that name is in the way");
}

std::string image_name(int64_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%06lld.png", static_cast<long long>(index));
  return name;
}

}  // namespace

int64_t write_synth_dataset(const SynthOptions& options) {
  VLM_CHECK(options.n >= 1 && options.n <= 10'000'000,
            "synthetic data: number of samples: expected 1..10000000, got ", options.n);
  make_synth_sample(options, 0);  // validates task and image size before anything is written
  const std::string images_dir = path_join(options.out_dir, "images");
  make_folders(images_dir);
  std::string jsonl;
  for (int64_t i = 0; i < options.n; ++i) {
    const SynthSample sample = make_synth_sample(options, i);
    const std::string relative = "images/" + image_name(i);
    write_png_rgb(path_join(options.out_dir, relative), render_synth_scene(sample.scene));
    const Json line = {
        {"messages",
         Json::array({Json{{"role", "user"},
                           {"content", Json::array({Json{{"type", "image"}},
                                                    Json{{"type", "text"}, {"text", sample.question}}})}},
                      Json{{"role", "assistant"},
                           {"content", Json::array({Json{{"type", "text"}, {"text", sample.answer}}})}}})},
        {"images", Json::array({relative})},
        {"task", sample.task}};
    jsonl += line.dump();
    jsonl += '\n';
  }
  // The JSONL last and atomically: a data.jsonl that exists always lists images that exist.
  atomic_write_string(path_join(options.out_dir, "data.jsonl"), jsonl);
  return options.n;
}

}  // namespace vlm::train
