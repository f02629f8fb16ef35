#include "train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/file.h"

namespace vlm::train {
namespace {

constexpr const char* kPrefix = "step-";
constexpr const char* kTmpPrefix = ".tmp-step-";

// fsyncs every regular file of a folder (the writers used may not have).
void fsync_files(const std::string& dir) {
  for (const auto& name : list_directory(dir)) {
    const std::string path = path_join(dir, name);
    if (is_directory(path)) continue;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail(path, ": cannot open to fsync");
    const int rc = ::fsync(fileno(f));
    std::fclose(f);
    VLM_CHECK(rc == 0, path, ": fsync failed");
  }
  fsync_directory(dir);
}

}  // namespace

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%06lld", kPrefix, static_cast<long long>(step));
  return buf;
}

std::string write_checkpoint(const std::string& output_dir, int64_t step,
                             const std::function<void(const std::string& dir)>& fill) {
  const std::string root = path_join(output_dir, "checkpoints");
  make_directories(root);
  for (const auto& name : list_directory(root))
    if (name.rfind(kTmpPrefix, 0) == 0) remove_tree(path_join(root, name));
  const std::string final_dir = path_join(root, checkpoint_name(step));
  const std::string tmp = path_join(root, kTmpPrefix + checkpoint_name(step).substr(5));
  make_directories(tmp);
  try {
    fill(tmp);
    fsync_files(tmp);
    remove_tree(final_dir);  // a checkpoint of the same step from an earlier run of this output folder
    rename_path(tmp, final_dir);
    fsync_directory(root);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  return final_dir;
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& output_dir) {
  const std::string root = path_join(output_dir, "checkpoints");
  std::vector<std::pair<int64_t, std::string>> out;
  if (!is_directory(root)) return out;
  for (const auto& name : list_directory(root)) {
    if (name.rfind(kPrefix, 0) != 0) continue;
    char* end = nullptr;
    const long long step = std::strtoll(name.c_str() + 5, &end, 10);
    if (end && *end == '\0' && step >= 0) out.emplace_back(step, path_join(root, name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void prune_checkpoints(const std::string& output_dir, int64_t keep) {
  if (keep <= 0) return;
  const auto all = list_checkpoints(output_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) remove_tree(all[i].second);
}

}  // namespace vlm::train
