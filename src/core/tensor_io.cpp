#include "core/tensor_io.h"

#include <cstring>

#include "core/error.h"
#include "core/torch_compat.h"

namespace vlm {
namespace st = safetensors;
namespace {

// Decodes 8-bit floats to float32 (libtorch builds without native float8 types).
float decode_f8(uint8_t v, int exp_bits, int man_bits, int bias, bool e4m3fn) {
  const int sign = v >> 7;
  const int e = (v >> man_bits) & ((1 << exp_bits) - 1);
  const int m = v & ((1 << man_bits) - 1);
  float out;
  if (e4m3fn && e == 15 && m == 7) {
    out = NAN;
  } else if (!e4m3fn && e == (1 << exp_bits) - 1) {
    out = m ? NAN : INFINITY;
  } else if (e == 0) {
    out = std::ldexp(static_cast<float>(m), 1 - bias - man_bits);
  } else {
    out = std::ldexp(1.0f + static_cast<float>(m) / (1 << man_bits), e - bias);
  }
  return sign ? -out : out;
}

std::optional<at::ScalarType> native_type(st::DType d) {
  using D = st::DType;
  switch (d) {
    case D::kBool: return at::kBool;
    case D::kU8: return at::kByte;
    case D::kI8: return at::kChar;
    case D::kI16: return at::kShort;
    case D::kF16: return at::kHalf;
    case D::kBF16: return at::kBFloat16;
    case D::kI32: return at::kInt;
    case D::kF32: return at::kFloat;
    case D::kF64: return at::kDouble;
    case D::kI64: return at::kLong;
    case D::kC64: return at::kComplexFloat;
#if VLM_HAS_UINT_WIDE
    case D::kU16: return at::kUInt16;
    case D::kU32: return at::kUInt32;
    case D::kU64: return at::kUInt64;
#endif
#if VLM_HAS_FLOAT8
    case D::kF8_E5M2: return at::kFloat8_e5m2;
    case D::kF8_E4M3: return at::kFloat8_e4m3fn;
#endif
#if VLM_HAS_FLOAT8_E8M0
    case D::kF8_E8M0: return at::kFloat8_e8m0fnu;
#endif
    default: return std::nullopt;
  }
}

// Converts dtypes this libtorch has no type for (see the header).
at::Tensor convert_fallback(const st::File& file, const st::TensorInfo& t) {
  using D = st::DType;
  const uint8_t* p = file.data(t);
  const auto n = static_cast<int64_t>(t.numel);
  auto make = [&](at::ScalarType type) { return at::empty(t.shape, at::TensorOptions().dtype(type)); };
  switch (t.dtype) {
    case D::kU16: {
      at::Tensor out = make(at::kInt);
      auto* o = out.data_ptr<int32_t>();
      for (int64_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        o[i] = v;
      }
      return out;
    }
    case D::kU32: {
      at::Tensor out = make(at::kLong);
      auto* o = out.data_ptr<int64_t>();
      for (int64_t i = 0; i < n; ++i) {
        uint32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        o[i] = v;
      }
      return out;
    }
    case D::kU64: {
      at::Tensor out = make(at::kLong);
      auto* o = out.data_ptr<int64_t>();
      for (int64_t i = 0; i < n; ++i) {
        uint64_t v;
        std::memcpy(&v, p + 8 * i, 8);
        if (v > static_cast<uint64_t>(INT64_MAX))
          fail(file.path(), ": tensor ", quote(t.name), ": U64 value ", v, " does not fit int64 in this libtorch");
        o[i] = static_cast<int64_t>(v);
      }
      return out;
    }
    case D::kF8_E4M3:
    case D::kF8_E5M2:
    case D::kF8_E8M0: {
      at::Tensor out = make(at::kFloat);
      auto* o = out.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        if (t.dtype == D::kF8_E4M3)
          o[i] = decode_f8(p[i], 4, 3, 7, true);
        else if (t.dtype == D::kF8_E5M2)
          o[i] = decode_f8(p[i], 5, 2, 15, false);
        else
          o[i] = p[i] == 0xFF ? NAN : std::ldexp(1.0f, int(p[i]) - 127);
      }
      return out;
    }
    default:
      fail(file.path(), ": tensor ", quote(t.name), ": dtype ", st::dtype_name(t.dtype),
           " has no torch equivalent; it cannot be loaded as a tensor");
  }
}

}  // namespace

at::Tensor to_torch(const st::File& file, const st::TensorInfo& t) {
  const auto type = native_type(t.dtype);
  if (!type) return convert_fallback(file, t);
  const auto options = at::TensorOptions().dtype(*type);
  if (t.numel == 0) return at::empty(t.shape, options);
  uint8_t* p = file.data(t);
  const size_t align = static_cast<size_t>(st::dtype_bits(t.dtype) / 8);
  if (align > 1 && reinterpret_cast<uintptr_t>(p) % align != 0) {
    // Misaligned in the file (a writer that does not sort by alignment): copy into an aligned tensor.
    at::Tensor out = at::empty(t.shape, options);
    std::memcpy(out.data_ptr(), p, t.nbytes());
    return out;
  }
  std::shared_ptr<MappedFile> keep = file.mapping();
  return at::from_blob(p, t.shape, [keep](void*) mutable { keep.reset(); }, options);
}

at::Tensor to_torch(const st::Checkpoint& ckpt, const std::string& name) {
  const auto& e = ckpt.at(name);
  return to_torch(*e.file, *e.info);
}

st::DType dtype_of(at::ScalarType type) {
  using D = st::DType;
  switch (type) {
    case at::kBool: return D::kBool;
    case at::kByte: return D::kU8;
    case at::kChar: return D::kI8;
    case at::kShort: return D::kI16;
    case at::kHalf: return D::kF16;
    case at::kBFloat16: return D::kBF16;
    case at::kInt: return D::kI32;
    case at::kFloat: return D::kF32;
    case at::kDouble: return D::kF64;
    case at::kLong: return D::kI64;
    case at::kComplexFloat: return D::kC64;
#if VLM_HAS_UINT_WIDE
    case at::kUInt16: return D::kU16;
    case at::kUInt32: return D::kU32;
    case at::kUInt64: return D::kU64;
#endif
#if VLM_HAS_FLOAT8
    case at::kFloat8_e5m2: return D::kF8_E5M2;
    case at::kFloat8_e4m3fn: return D::kF8_E4M3;
#endif
#if VLM_HAS_FLOAT8_E8M0
    case at::kFloat8_e8m0fnu: return D::kF8_E8M0;
#endif
    default: fail("safetensors cannot store torch dtype ", c10::toString(type));
  }
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;
  std::vector<st::TensorView> views;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(at::kCPU).contiguous());
    const at::Tensor& c = keep.back();
    views.push_back(st::TensorView{name, dtype_of(c.scalar_type()), c.sizes().vec(), c.data_ptr(), c.nbytes()});
  }
  st::write(path, views, metadata);
}

}  // namespace vlm
