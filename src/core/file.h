// Files: whole-file reads with a size bound, read-only memory maps that stay alive while anything uses them, and
// atomic writes (temporary file in the same folder, fsync, rename, fsync of the folder): a reader sees the old
// file or the new one, never a torn one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vlm {

// Reads a whole file; errors name the path. Files larger than max_bytes are an error.
std::string read_file(const std::string& path, size_t max_bytes);

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);
std::string path_parent(const std::string& path);
std::string path_filename(const std::string& path);

// A private, copy-on-write memory map of a whole file. Writes through data() change only this process's copy.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Writes a file atomically: `write(fd)` fills a temporary file in the target's folder, which is then fsynced
// and renamed over `path`. On any failure the temporary file is removed and the target is untouched.
void atomic_write(const std::string& path, const std::function<void(int fd)>& write);
void atomic_write_string(const std::string& path, const std::string& contents);
// Writes all of `size` bytes to fd, retrying short writes; errors name `path`.
void write_all(int fd, const void* data, size_t size, const std::string& path);
// fsyncs a folder so that a rename inside it is durable.
void fsync_directory(const std::string& dir);

// Folders, with POSIX calls (std::filesystem is not usable: binaries linked with PyTorch 2.11's libtorch crashed
// in it). mkdir -p; errors name the path.
void make_directories(const std::string& dir);
// The names in a folder (not "." or ".."), sorted.
std::vector<std::string> list_directory(const std::string& dir);
// rm -rf (symbolic links are removed, never followed). A missing path is not an error.
void remove_tree(const std::string& path);
// rename(2); errors name both paths.
void rename_path(const std::string& from, const std::string& to);

}  // namespace vlm
