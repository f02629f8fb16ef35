// safetensors: reading (memory-mapped, zero-copy, every rule of the format checked with checked arithmetic),
// sharded checkpoints (model.safetensors.index.json), and atomic writing.
//
// Layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON header, then the data buffer. The header maps tensor
// names to {"dtype", "shape", "data_offsets": [begin, end)} relative to the buffer, plus optional
// "__metadata__": {string: string}. Offsets must tile the buffer exactly: no gaps, no overlaps, no trailing bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/file.h"

namespace vlm::safetensors {

enum class DType : uint8_t {
  kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64, kC64,
  kF8_E5M2, kF8_E4M3, kF8_E8M0, kF4, kF6_E2M3, kF6_E3M2,
};

std::optional<DType> dtype_from_name(std::string_view name);
const char* dtype_name(DType dtype);
int dtype_bits(DType dtype);  // 4 for F4, 6 for F6_*, 8 * bytes otherwise

// Limits of the reference reader.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // every dim >= 0; empty for a 0-d tensor
  uint64_t begin = 0, end = 0;  // byte range in the data buffer, end exclusive
  uint64_t numel = 0;
  uint64_t nbytes() const { return end - begin; }
};

struct Header {
  std::vector<TensorInfo> tensors;  // sorted by offset
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data buffer starts in the file: 8 + N
};

// Parses and validates a whole safetensors file held in memory. Errors begin with `origin` and name the rule.
Header parse(const uint8_t* data, size_t size, const std::string& origin);

// One mapped .safetensors file.
class File {
 public:
  static std::shared_ptr<File> open(const std::string& path);

  const std::string& path() const { return map_->path(); }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const TensorInfo* find(const std::string& name) const;
  const TensorInfo& at(const std::string& name) const;  // error naming the file if absent
  // Pointer to the tensor's bytes inside the mapping (valid while the File or mapping() lives).
  uint8_t* data(const TensorInfo& t) const { return map_->data() + header_.data_offset + t.begin; }
  const std::shared_ptr<MappedFile>& mapping() const { return map_; }

 private:
  std::shared_ptr<MappedFile> map_;
  Header header_;
  std::map<std::string, size_t> index_;
};

// A checkpoint: a .safetensors file, a model.safetensors.index.json, or a folder holding either.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& path);

  struct Entry {
    std::shared_ptr<File> file;
    const TensorInfo* info;
  };
  const std::map<std::string, Entry>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const { return tensors_.count(name) > 0; }
  const Entry& at(const std::string& name) const;
  const std::vector<std::shared_ptr<File>>& files() const { return files_; }
  // The index's "metadata" for a sharded checkpoint, else the file's __metadata__.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The folder holding the checkpoint (config.json and friends live there).
  const std::string& folder() const { return folder_; }
  const std::string& origin() const { return origin_; }  // the path given to open()

 private:
  std::map<std::string, Entry> tensors_;
  std::vector<std::shared_ptr<File>> files_;
  std::map<std::string, std::string> metadata_;
  std::string folder_, origin_;
};

// Writing. Each view's bytes must be dtype-size * numel; names must be unique and not "__metadata__".
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// The whole file as bytes (tensors laid out by alignment, then name; header padded with spaces to 8 bytes).
std::string serialize(const std::vector<TensorView>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Writes atomically (temporary file in the same folder, fsync, rename).
void write(const std::string& path, const std::vector<TensorView>& tensors,
           const std::map<std::string, std::string>& metadata = {});

}  // namespace vlm::safetensors
