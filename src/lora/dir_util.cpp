// Folder helpers for adapter and fused-checkpoint output, with POSIX calls (std::filesystem crashed in binaries
// linked with PyTorch 2.11's libtorch).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "lora/adapter_formats.h"

namespace vlm::lora::detail {

std::vector<std::string> regular_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) fail(dir, ": cannot list folder: ", std::strerror(errno));
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    // stat follows symlinks: a Hugging Face cache snapshot is a folder of links into blobs/.
    if (::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace vlm::lora::detail
