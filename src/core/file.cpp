#include "core/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

// No std::filesystem here: libtorch (2.x wheels) exports its own copies of some std::filesystem symbols, and calls
// into them from our binaries crashed (remove_all, seen with PyTorch 2.11). POSIX calls are plain and safe.
namespace vlm {

namespace {
std::string errno_text() { return std::strerror(errno); }

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

std::string read_file(const std::string& path, size_t max_bytes) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail(path, ": cannot open: ", errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path, ": cannot stat: ", errno_text());
  if (S_ISDIR(st.st_mode)) fail(path, ": is a folder, expected a file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    fail(path, ": file is ", st.st_size, " bytes, more than the limit of ", max_bytes);
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(f.fd, &out[got], out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, ": read failed: ", errno_text());
    if (n == 0) break;  // the file shrank while reading
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}
bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty() || (!b.empty() && b[0] == '/')) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}
std::string path_parent(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}
std::string path_filename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail(path, ": cannot open: ", errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path, ": cannot stat: ", errno_text());
  if (!S_ISREG(st.st_mode)) fail(path, ": not a regular file");
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ == 0) return m;  // mmap of 0 bytes is invalid; an empty map has data() == nullptr
  void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, f.fd, 0);
  if (p == MAP_FAILED) fail(path, ": cannot map ", m->size_, " bytes: ", errno_text());
  m->data_ = static_cast<uint8_t*>(p);
  return m;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(path, ": write failed: ", errno_text());
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void fsync_directory(const std::string& dir) {
  Fd d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd < 0) fail(dir, ": cannot open folder: ", errno_text());
  if (::fsync(d.fd) != 0 && errno != EINVAL) fail(dir, ": fsync failed: ", errno_text());
}

void atomic_write(const std::string& path, const std::function<void(int fd)>& write) {
  const std::string dir = path_parent(path);
  std::string tmp = path_join(dir, "." + path_filename(path) + ".tmp.XXXXXX");
  Fd f;
  f.fd = ::mkostemp(&tmp[0], O_CLOEXEC);
  if (f.fd < 0) fail(path, ": cannot create a temporary file in ", dir, ": ", errno_text());
  try {
    write(f.fd);
    if (::fchmod(f.fd, 0644) != 0) fail(tmp, ": chmod failed: ", errno_text());
    if (::fsync(f.fd) != 0) fail(tmp, ": fsync failed: ", errno_text());
    if (::close(f.fd) != 0) {
      f.fd = -1;
      fail(tmp, ": close failed: ", errno_text());
    }
    f.fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail(path, ": rename failed: ", errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_directory(dir);
}

void make_directories(const std::string& dir) {
  VLM_CHECK(!dir.empty(), "an empty folder name");
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    const std::string partial = dir.substr(0, pos);
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) fail(partial, ": cannot create folder: ", errno_text());
    if (pos == std::string::npos) break;
  }
  VLM_CHECK(is_directory(dir), dir, ": exists and is not a folder");
}

std::vector<std::string> list_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) fail(dir, ": cannot list folder: ", errno_text());
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail(path, ": cannot remove: ", errno_text());
  }
  if (S_ISDIR(st.st_mode)) {
    for (const auto& name : list_directory(path)) remove_tree(path_join(path, name));
    if (::rmdir(path.c_str()) != 0) fail(path, ": cannot remove folder: ", errno_text());
  } else if (::unlink(path.c_str()) != 0) {
    fail(path, ": cannot remove: ", errno_text());
  }
}

void rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail("cannot rename ", from, " to ", to, ": ", errno_text());
}

void atomic_write_string(const std::string& path, const std::string& contents) {
  atomic_write(path, [&](int fd) { write_all(fd, contents.data(), contents.size(), path); });
}

}  // namespace vlm
