#include "core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "core/utf8.h"

namespace vlm::safetensors {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

struct DTypeDesc {
  DType dtype;
  const char* name;
  int bits;
};
constexpr DTypeDesc kDTypes[] = {
    {DType::kBool, "BOOL", 8},      {DType::kU8, "U8", 8},           {DType::kI8, "I8", 8},
    {DType::kI16, "I16", 16},       {DType::kU16, "U16", 16},        {DType::kF16, "F16", 16},
    {DType::kBF16, "BF16", 16},     {DType::kI32, "I32", 32},        {DType::kU32, "U32", 32},
    {DType::kF32, "F32", 32},       {DType::kF64, "F64", 64},        {DType::kI64, "I64", 64},
    {DType::kU64, "U64", 64},       {DType::kC64, "C64", 64},        {DType::kF8_E5M2, "F8_E5M2", 8},
    {DType::kF8_E4M3, "F8_E4M3", 8}, {DType::kF8_E8M0, "F8_E8M0", 8}, {DType::kF4, "F4", 4},
    {DType::kF6_E2M3, "F6_E2M3", 6}, {DType::kF6_E3M2, "F6_E3M2", 6},
};

const DTypeDesc& desc(DType d) {
  for (const auto& x : kDTypes)
    if (x.dtype == d) return x;
  VLM_ASSERT(false);
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// nlohmann keeps the last of duplicate keys silently; the format forbids duplicates, and deep nesting is never
// valid, so a parse callback rejects both while parsing.
struct HeaderGuard {
  std::string origin;
  std::vector<std::set<std::string>> keys;
  bool operator()(int depth, Json::parse_event_t event, Json& parsed) {
    using E = Json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      if (depth > 3) fail(origin, ": header nests deeper than the format allows");
      if (event == E::object_start) keys.emplace_back();
    } else if (event == E::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == E::key && !keys.empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(k).second)
        fail(origin, ": header has duplicate key ", quote(k), " (keys must be unique)");
    }
    return true;
  }
};

bool is_nonneg_integer(const Json& v) {
  if (v.is_number_unsigned()) return true;
  return v.is_number_integer() && v.get<int64_t>() >= 0;
}

TensorInfo parse_entry(const std::string& name, const Json& v, const std::string& origin) {
  const std::string where = origin + ": tensor " + quote(name);
  if (!v.is_object()) fail(where, ": expected an object with dtype, shape and data_offsets, got ", json_type_name(v));
  TensorInfo t;
  t.name = name;

  auto it = v.find("dtype");
  if (it == v.end()) fail(where, ": missing \"dtype\"");
  if (!it->is_string()) fail(where, ": \"dtype\" must be a string, got ", json_type_name(*it));
  const auto dt = dtype_from_name(it->get_ref<const std::string&>());
  if (!dt) fail(where, ": unknown dtype ", quote(it->get<std::string>()));
  t.dtype = *dt;

  it = v.find("shape");
  if (it == v.end()) fail(where, ": missing \"shape\"");
  if (!it->is_array()) fail(where, ": \"shape\" must be a list of integers, got ", json_type_name(*it));
  uint64_t numel = 1;
  for (const Json& d : *it) {
    if (!is_nonneg_integer(d))
      fail(where, ": shape entries must be non-negative integers, got ", d.is_number() ? d.dump() : json_type_name(d));
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(INT64_MAX)) fail(where, ": shape entry ", dim, " is too large");
    if (__builtin_mul_overflow(numel, dim, &numel))
      fail(where, ": element count overflows (shape ", it->dump(), ")");
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  if (numel > static_cast<uint64_t>(INT64_MAX)) fail(where, ": element count overflows (shape ", it->dump(), ")");
  t.numel = numel;

  it = v.find("data_offsets");
  if (it == v.end()) fail(where, ": missing \"data_offsets\"");
  if (!it->is_array() || it->size() != 2 || !is_nonneg_integer((*it)[0]) || !is_nonneg_integer((*it)[1]))
    fail(where, ": \"data_offsets\" must be [begin, end] with non-negative integers, got ", it->dump());
  t.begin = (*it)[0].get<uint64_t>();
  t.end = (*it)[1].get<uint64_t>();
  if (t.begin > t.end) fail(where, ": data_offsets begin ", t.begin, " is after end ", t.end);

  uint64_t bits;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_bits(t.dtype)), &bits))
    fail(where, ": byte size overflows (shape ", it->dump(), ")");
  if (bits % 8 != 0)
    fail(where, ": ", numel, " elements of ", dtype_name(t.dtype), " do not fill whole bytes");
  if (bits / 8 != t.end - t.begin)
    fail(where, ": size mismatch: ", dtype_name(t.dtype), " ", v.at("shape").dump(), " needs ", bits / 8,
         " bytes but data_offsets span ", t.end - t.begin);
  return t;
}

}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& x : kDTypes)
    if (name == x.name) return x.dtype;
  return std::nullopt;
}
const char* dtype_name(DType d) { return desc(d).name; }
int dtype_bits(DType d) { return desc(d).bits; }

Header parse(const uint8_t* data, size_t size, const std::string& origin) {
  if (size < 8) fail(origin, ": file is ", size, " bytes, too short for the 8-byte header length");
  const uint64_t n = read_u64_le(data);
  if (n > kMaxHeaderBytes)
    fail(origin, ": header length ", n, " exceeds the limit of ", kMaxHeaderBytes, " bytes");
  if (n > size - 8)
    fail(origin, ": header length ", n, " extends beyond the end of the file (", size, " bytes)");
  const std::string_view text(reinterpret_cast<const char*>(data + 8), n);
  size_t bad = 0;
  if (!utf8::is_valid(text, &bad)) fail(origin, ": header is not valid UTF-8 (byte ", 8 + bad, ")");

  Json j;
  try {
    HeaderGuard guard{origin, {}};
    j = Json::parse(text.begin(), text.end(), std::ref(guard));
  } catch (const Json::exception& e) {
    std::string what = e.what();
    const size_t pos = what.find("] ");
    fail(origin, ": header is not valid JSON: ", pos == std::string::npos ? what : what.substr(pos + 2));
  }
  if (!j.is_object()) fail(origin, ": header must be a JSON object, got ", json_type_name(j));

  Header h;
  h.data_offset = 8 + n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(origin, ": __metadata__ must be an object of strings, got ", json_type_name(*it));
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          fail(origin, ": __metadata__ value for ", quote(m.key()), " must be a string, got ", json_type_name(*m));
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(it.key(), *it, origin));
  }

  // The offsets must tile [0, buffer size) exactly.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t buffer = size - 8 - n;
  uint64_t pos = 0;
  for (const TensorInfo& t : h.tensors) {
    if (t.begin < pos)
      fail(origin, ": tensor ", quote(t.name), " data_offsets [", t.begin, ", ", t.end,
           ") overlap the previous tensor (which ends at ", pos, ")");
    if (t.begin > pos)
      fail(origin, ": gap in the data buffer: bytes [", pos, ", ", t.begin, ") before tensor ", quote(t.name),
           " belong to no tensor");
    if (t.end > buffer)
      fail(origin, ": tensor ", quote(t.name), " data_offsets end ", t.end, " lies beyond the data buffer (",
           buffer, " bytes)");
    pos = t.end;
  }
  if (pos != buffer)
    fail(origin, ": ", buffer - pos, " trailing bytes after the last tensor (data buffer is ", buffer,
         " bytes, tensors cover ", pos, ")");
  return h;
}

// ----------------------------------------------------------------------------------------------------------------
// File and Checkpoint

std::shared_ptr<File> File::open(const std::string& path) {
  auto f = std::make_shared<File>();
  f->map_ = MappedFile::open(path);
  f->header_ = parse(f->map_->data(), f->map_->size(), path);
  for (size_t i = 0; i < f->header_.tensors.size(); ++i) f->index_[f->header_.tensors[i].name] = i;
  return f;
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const TensorInfo& File::at(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) fail(path(), ": no tensor named ", quote(name));
  return *t;
}

const Checkpoint::Entry& Checkpoint::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(origin_, ": no tensor named ", quote(name));
  return it->second;
}

namespace {

// Shard names in an index must be plain file names inside the checkpoint folder.
void check_shard_name(const std::string& index_path, const std::string& tensor, const std::string& shard) {
  if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
      shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos)
    fail(index_path, ": weight_map[", quote(tensor), "] = ", quote(shard),
         ": shard must be a plain file name in the checkpoint folder");
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint c;
  c.origin_ = path;
  std::string index_path, single_path;
  if (is_directory(path)) {
    c.folder_ = path;
    const std::string idx = path_join(path, "model.safetensors.index.json");
    const std::string single = path_join(path, "model.safetensors");
    if (path_exists(idx))
      index_path = idx;
    else if (path_exists(single))
      single_path = single;
    else
      fail(path, ": no model.safetensors or model.safetensors.index.json in this folder");
  } else if (!path_exists(path)) {
    fail(path, ": no such file or folder");
  } else {
    c.folder_ = path_parent(path);
    const std::string name = path_filename(path);
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0)
      index_path = path;
    else
      single_path = path;
  }

  if (!single_path.empty()) {
    auto f = File::open(single_path);
    for (const TensorInfo& t : f->tensors()) c.tensors_[t.name] = Entry{f, &t};
    c.metadata_ = f->metadata();
    c.files_.push_back(std::move(f));
    return c;
  }

  const Json j = read_json_file(index_path);
  const JsonObject root(j, index_path);
  if (!root.has("weight_map")) fail(index_path, ": missing \"weight_map\"");
  const JsonObject map = root.object("weight_map");
  if (auto meta = root.maybe_object("metadata")) {
    for (auto it = meta->json().begin(); it != meta->json().end(); ++it)
      c.metadata_[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  std::map<std::string, std::shared_ptr<File>> shards;
  for (auto it = map.json().begin(); it != map.json().end(); ++it) {
    if (!it->is_string())
      fail(index_path, ": weight_map[", quote(it.key()), "] must be a file name, got ", json_type_name(*it));
    const std::string shard = it->get<std::string>();
    check_shard_name(index_path, it.key(), shard);
    auto& f = shards[shard];
    if (!f) {
      const std::string shard_path = path_join(c.folder_, shard);
      if (!path_exists(shard_path))
        fail(index_path, ": shard ", quote(shard), " (named for tensor ", quote(it.key()), ") does not exist");
      f = File::open(shard_path);
      c.files_.push_back(f);
    }
    const TensorInfo* t = f->find(it.key());
    if (!t) fail(index_path, ": names tensor ", quote(it.key()), " in shard ", quote(shard), ", which does not hold it");
    c.tensors_[it.key()] = Entry{f, t};
  }
  // Every tensor stored in a shard must be named by the index for that shard.
  for (const auto& [shard, f] : shards) {
    for (const TensorInfo& t : f->tensors()) {
      auto e = c.tensors_.find(t.name);
      if (e == c.tensors_.end() || e->second.file != f)
        fail(index_path, ": shard ", quote(shard), " holds tensor ", quote(t.name),
             e == c.tensors_.end() ? ", which the index does not name" : ", which the index places in another shard");
    }
  }
  return c;
}

// ----------------------------------------------------------------------------------------------------------------
// Writing

namespace {

// Validates the views and lays them out: larger elements first, then by name, so that every tensor stays aligned
// to its element size. Returns the 8-byte length plus the header padded with spaces to a multiple of 8.
std::string layout(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata,
                   std::vector<const TensorView*>& order) {
  std::set<std::string> names;
  for (const TensorView& t : tensors) {
    if (t.name == "__metadata__") fail("safetensors write: \"__metadata__\" cannot name a tensor");
    if (!names.insert(t.name).second) fail("safetensors write: duplicate tensor name ", quote(t.name));
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) fail("safetensors write: tensor ", quote(t.name), " has a negative dimension");
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel))
        fail("safetensors write: tensor ", quote(t.name), " element count overflows");
    }
    uint64_t bits;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_bits(t.dtype)), &bits) || bits % 8 != 0 ||
        bits / 8 != t.nbytes)
      fail("safetensors write: tensor ", quote(t.name), " has ", t.nbytes, " bytes, which does not match ",
           dtype_name(t.dtype), " of ", numel, " elements");
    if (t.nbytes > 0 && !t.data) fail("safetensors write: tensor ", quote(t.name), " has no data");
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) {
    const int ba = dtype_bits(a->dtype), bb = dtype_bits(b->dtype);
    return ba != bb ? ba > bb : a->name < b->name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorView* t : order) {
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + text;
}

}  // namespace

std::string serialize(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorView*> order;
  std::string out = layout(tensors, metadata, order);
  for (const TensorView* t : order) out.append(static_cast<const char*>(t->data), t->nbytes);
  return out;
}

void write(const std::string& path, const std::vector<TensorView>& tensors,
           const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorView*> order;
  const std::string header = layout(tensors, metadata, order);
  atomic_write(path, [&](int fd) {
    write_all(fd, header.data(), header.size(), path);
    for (const TensorView* t : order) write_all(fd, t->data, t->nbytes, path);
  });
}

}  // namespace vlm::safetensors
