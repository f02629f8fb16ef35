#include "text/jinja_operators.h"

#include <cmath>
#include <limits>

#include "text/jinja_pyformat.h"
#include "text/jinja_unicode.h"

namespace vlm::text::jinja {

namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  type_error(str("unsupported operand type(s) for ", op, ": '", type_name(a), "' and '", type_name(b), "'"));
}

[[noreturn]] void overflow() {
  raise(ErrorKind::kRuntime, "integer overflow (integers are limited to 64 bits)");
}

// a op b with overflow detection (op is one of the __builtin_*_overflow functions).
template <typename Op>
int64_t checked(Op op, int64_t a, int64_t b) {
  int64_t r = 0;
  if (op(a, b, &r)) overflow();
  return r;
}
bool add_ovf(int64_t a, int64_t b, int64_t* r) {
  return __builtin_add_overflow(a, b, r);
}
bool sub_ovf(int64_t a, int64_t b, int64_t* r) {
  return __builtin_sub_overflow(a, b, r);
}
bool mul_ovf(int64_t a, int64_t b, int64_t* r) {
  return __builtin_mul_overflow(a, b, r);
}

double py_float_mod(double x, double y) {
  double mod = std::fmod(x, y);
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

double py_float_floordiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div != 0.0) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return floordiv;
  }
  return std::copysign(0.0, x / y);
}

Value repeat(const Value& seq, int64_t n, size_t max_bytes) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const auto& s = seq.as_tracked();
    if (!s.empty() && static_cast<uint64_t>(n) > max_bytes / s.size())
      raise(ErrorKind::kLimit, str("string repetition would exceed ", max_bytes, " bytes"));
    TrackedString out;
    for (int64_t i = 0; i < n; ++i) out.append(s);
    return Value::string(std::move(out));
  }
  const auto& items = seq.as_list();
  if (!items.empty())
    ValueBudget::check_items(static_cast<uint64_t>(n) > UINT32_MAX ? UINT64_MAX
                                                                   : static_cast<uint64_t>(n) * items.size());
  ValueList out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

int64_t int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = checked(mul_ovf, result, base);
    exp >>= 1;
    if (exp) base = checked(mul_ovf, base, base);
  }
  return result;
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b, size_t max_string_bytes) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) {
      return Value::integer(checked(add_ovf, a.as_int(), b.as_int()));
    }
    if (nums) return Value::number(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      if (a.as_string().size() + b.as_string().size() > max_string_bytes)
        raise(ErrorKind::kLimit, str("string would exceed ", max_string_bytes, " bytes"));
      TrackedString out = a.as_tracked();
      out.append(b.as_tracked());
      return Value::string(std::move(out));
    }
    if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
      ValueBudget::check_items(a.as_list().size() + b.as_list().size());
      ValueList out = a.as_list();
      out.insert(out.end(), b.as_list().begin(), b.as_list().end());
      return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
    }
    if (a.is_string()) type_error(str("can only concatenate str (not \"", type_name(b), "\") to str"));
    if (a.is_list()) type_error(str("can only concatenate list (not \"", type_name(b), "\") to list"));
    unsupported("+", a, b);
  }
  if (op == "-") {
    if (ints) {
      return Value::integer(checked(sub_ovf, a.as_int(), b.as_int()));
    }
    if (nums) return Value::number(a.as_double() - b.as_double());
    unsupported("-", a, b);
  }
  if (op == "*") {
    if (ints) {
      return Value::integer(checked(mul_ovf, a.as_int(), b.as_int()));
    }
    if (nums) return Value::number(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_sequence()) && (b.is_int() || b.is_bool()))
      return repeat(a, b.as_int(), max_string_bytes);
    if ((b.is_string() || b.is_sequence()) && (a.is_int() || a.is_bool()))
      return repeat(b, a.as_int(), max_string_bytes);
    if (a.is_string() || b.is_string() || a.is_sequence() || b.is_sequence())
      type_error(str("can't multiply sequence by non-int of type '", type_name(a.is_number() ? a : b), "'"));
    unsupported("*", a, b);
  }
  if (op == "/") {
    if (!nums) unsupported("/", a, b);
    if (b.as_double() == 0.0) raise(ErrorKind::kRuntime, "ZeroDivisionError: division by zero");
    if (ints) {
      // Python divides ints exactly and rounds once.
      return Value::number(
          static_cast<double>(static_cast<long double>(a.as_int()) / static_cast<long double>(b.as_int())));
    }
    return Value::number(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (op == "%" && a.is_string()) return Value::string(percent_format(a.as_tracked(), b));
    if (!nums) unsupported(op, a, b);
    if (b.as_double() == 0.0) {
      raise(ErrorKind::kRuntime, op == "%" ? "ZeroDivisionError: integer modulo by zero"
                                           : "ZeroDivisionError: integer division or modulo by zero");
    }
    if (ints) {
      const int64_t x = a.as_int(), y = b.as_int();
      if (x == std::numeric_limits<int64_t>::min() && y == -1) {
        if (op == "%") return Value::integer(0);
        overflow();
      }
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        r += y;
        q -= 1;
      }
      return Value::integer(op == "%" ? r : q);
    }
    const double x = a.as_double(), y = b.as_double();
    return Value::number(op == "%" ? py_float_mod(x, y) : py_float_floordiv(x, y));
  }
  if (op == "**") {
    if (!nums) unsupported("** or pow()", a, b);
    if (ints && b.as_int() >= 0) return Value::integer(int_pow(a.as_int(), b.as_int()));
    const double x = a.as_double(), y = b.as_double();
    if (x == 0.0 && y < 0)
      raise(ErrorKind::kRuntime, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
    if (x < 0 && std::floor(y) != y) type_error("complex results are not supported");
    return Value::number(std::pow(x, y));
  }
  type_error("unknown operator " + op);
}

Value negate(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == std::numeric_limits<int64_t>::min()) overflow();
    return Value::integer(-v.as_int());
  }
  if (v.is_float()) return Value::number(-v.as_double());
  type_error(str("bad operand type for unary -: '", type_name(v), "'"));
}

Value unary_plus(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_bool()) return Value::integer(v.as_int());
  if (v.is_int() || v.is_float()) return v;
  type_error(str("bad operand type for unary +: '", type_name(v), "'"));
}

bool contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kString:
      if (!item.is_string()) {
        type_error(str("'in <string>' requires string as left operand, not ", type_name(item)));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::kList:
    case Value::Type::kTuple:
      for (const auto& x : container.as_list())
        if (equals(x, item)) return true;
      return false;
    case Value::Type::kDict:
      if (item.is_list() || item.is_dict()) type_error(str("unhashable type: '", type_name(item), "'"));
      return container.as_dict().find(item) != nullptr;
    case Value::Type::kUndefined:
      return false;
    case Value::Type::kGenerator: {
      auto& g = container.as_generator();
      while (g.pos < g.items.size())
        if (equals(g.items[g.pos++], item)) return true;
      return false;
    }
    default:
      type_error(str("argument of type '", type_name(container), "' is not iterable"));
  }
}

size_t length(const Value& v) {
  switch (v.type()) {
    case Value::Type::kString:
      return unicode::count_code_points(v.as_string());
    case Value::Type::kList:
    case Value::Type::kTuple:
      return v.as_list().size();
    case Value::Type::kDict:
      return v.as_dict().size();
    case Value::Type::kUndefined:
      return 0;
    default:
      type_error(str("object of type '", type_name(v), "' has no len()"));
  }
}

ValueList iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::kList:
    case Value::Type::kTuple:
      return v.as_list();
    case Value::Type::kDict: {
      ValueList keys;
      keys.reserve(v.as_dict().size());
      for (const auto& [k, unused] : v.as_dict().items()) keys.push_back(k);
      return keys;
    }
    case Value::Type::kString: {
      ValueList chars;
      const auto& t = v.as_tracked();
      ValueBudget::check_items(unicode::count_code_points(t.text()));
      for (size_t i = 0; i < t.size();) {
        const size_t n = unicode::decode(t.text(), i).len;
        chars.push_back(Value::string(t.substr(i, i + n)));
        i += n;
      }
      return chars;
    }
    case Value::Type::kUndefined:
      return {};
    case Value::Type::kLoop:
      return *v.as_loop().items;
    case Value::Type::kGenerator: {
      auto& g = v.as_generator();
      ValueList rest(g.items.begin() + static_cast<std::ptrdiff_t>(std::min(g.pos, g.items.size())),
                     g.items.end());
      g.pos = g.items.size();
      return rest;
    }
    default:
      type_error(str("'", type_name(v), "' object is not iterable"));
  }
}

namespace {

// CPython's PySlice_AdjustIndices: the positions a slice visits in a sequence of `len` items.
std::vector<size_t> slice_positions(size_t len, std::optional<int64_t> start, std::optional<int64_t> stop,
                                    std::optional<int64_t> step_opt) {
  const int64_t step = step_opt.value_or(1);
  if (step == 0) raise(ErrorKind::kRuntime, "ValueError: slice step cannot be zero");
  const int64_t n = static_cast<int64_t>(len);
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= n) {
      x = step < 0 ? n - 1 : n;
    }
    return x;
  };
  const int64_t b = adjust(start, step < 0 ? n - 1 : 0);
  const int64_t e = adjust(stop, step < 0 ? -1 : n);
  std::vector<size_t> out;
  if (step > 0) {
    for (int64_t i = b; i < e; i += step) out.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = b; i > e; i += step) out.push_back(static_cast<size_t>(i));
  }
  return out;
}

}  // namespace

std::optional<Value> slice(const Value& v, std::optional<int64_t> start, std::optional<int64_t> stop,
                           std::optional<int64_t> step) {
  if (v.is_sequence()) {
    const auto& items = v.as_list();
    ValueList out;
    for (size_t i : slice_positions(items.size(), start, stop, step)) out.push_back(items[i]);
    return v.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }
  if (!v.is_string()) return std::nullopt;
  const auto& t = v.as_tracked();
  std::vector<size_t> offsets;  // byte offset of each code point, plus the end
  for (size_t i = 0; i < t.size(); i += unicode::decode(t.text(), i).len) offsets.push_back(i);
  offsets.push_back(t.size());
  const auto positions = slice_positions(offsets.size() - 1, start, stop, step);
  if (step.value_or(1) == 1) {
    if (positions.empty()) return Value::string("");
    return Value::string(t.substr(offsets[positions.front()], offsets[positions.back() + 1]));
  }
  TrackedString out;
  for (size_t i : positions) out.append(t.substr(offsets[i], offsets[i + 1]));
  return Value::string(std::move(out));
}

std::optional<Value> string_index(const Value& s, int64_t i) {
  const auto& t = s.as_tracked();
  const int64_t n = static_cast<int64_t>(unicode::count_code_points(t.text()));
  if (i < 0) i += n;
  if (i < 0 || i >= n) return std::nullopt;
  const size_t b = unicode::byte_offset(t.text(), static_cast<size_t>(i));
  return Value::string(t.substr(b, b + unicode::decode(t.text(), b).len));
}

}  // namespace vlm::text::jinja
