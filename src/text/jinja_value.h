// Values of the Jinja interpreter, with the Python semantics transformers' jinja2 environment gives them:
// None/True/False, 64-bit ints, floats, str (UTF-8, with provenance), list, tuple, dict (insertion-ordered),
// jinja2's Undefined (prints empty, is falsy, iterates as empty, raises on attribute access, calls and
// arithmetic), namespace objects, callables (macros, builtins, bound methods) and the `loop` object.
//
// Values are cheap to copy: strings, lists and dicts are shared and immutable (the sandbox is immutable);
// namespaces and loop objects are shared and mutable, as in Python.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "text/jinja_error.h"
#include "text/jinja_string.h"

namespace vlm::text::jinja {

class Interpreter;
class Value;
class Dict;
class Callable;
using ValueList = std::vector<Value>;

// A one-shot Python generator (what jinja2's map/select/... filters return): iterating consumes it.
struct GeneratorState {
  ValueList items;
  size_t pos = 0;
  std::string name;  // the generator function, for repr
};

// What an Undefined raises when used, e.g. "'foo' is undefined" or "'dict object' has no attribute 'x'".
struct UndefinedInfo {
  std::string message;
  ErrorKind kind = ErrorKind::kUndefined;
};

// State of a running for loop, seen by the template as `loop`.
struct LoopInfo {
  std::shared_ptr<const ValueList> items;
  size_t index0 = 0;
  std::optional<ValueList> last_changed;  // loop.changed() memory
};

class Value {
 public:
  enum class Type : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kNamespace,
    kCallable,
    kLoop,
    kGenerator
  };

  Value() : type_(Type::kUndefined) {}
  static Value undefined(std::string message = "", ErrorKind kind = ErrorKind::kUndefined);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(TrackedString s);
  static Value string(std::string s, bool content = false);
  static Value list(ValueList items);
  static Value tuple(ValueList items);
  static Value dict(Dict d);
  static Value new_namespace(Dict attrs);
  static Value callable(std::shared_ptr<const Callable> c);
  static Value loop(std::shared_ptr<LoopInfo> l);
  static Value generator(ValueList items, std::string name);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }  // not bool
  bool is_float() const { return type_ == Type::kFloat; }
  bool is_number() const { return type_ == Type::kBool || type_ == Type::kInt || type_ == Type::kFloat; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_tuple() const { return type_ == Type::kTuple; }
  bool is_sequence() const { return type_ == Type::kList || type_ == Type::kTuple; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_namespace() const { return type_ == Type::kNamespace; }
  bool is_callable() const { return type_ == Type::kCallable; }
  bool is_loop() const { return type_ == Type::kLoop; }
  bool is_generator() const { return type_ == Type::kGenerator; }

  bool as_bool() const { return scalar_.b; }
  int64_t as_int() const { return type_ == Type::kBool ? (scalar_.b ? 1 : 0) : scalar_.i; }
  // Numeric value of a bool, int or float.
  double as_double() const;
  const TrackedString& as_tracked() const { return *static_cast<const TrackedString*>(ref_.get()); }
  const std::string& as_string() const { return as_tracked().text(); }
  const ValueList& as_list() const { return *static_cast<const ValueList*>(ref_.get()); }
  const Dict& as_dict() const { return *static_cast<const Dict*>(ref_.get()); }
  Dict& namespace_attrs() const { return *static_cast<Dict*>(ref_.get()); }
  const Callable& as_callable() const { return *static_cast<const Callable*>(ref_.get()); }
  LoopInfo& as_loop() const { return *static_cast<LoopInfo*>(ref_.get()); }
  GeneratorState& as_generator() const { return *static_cast<GeneratorState*>(ref_.get()); }
  // nullptr for a plain Undefined without a message.
  const UndefinedInfo* undefined_info() const { return static_cast<const UndefinedInfo*>(ref_.get()); }
  // Identity of shared objects (Python `is`).
  const void* identity() const { return ref_.get(); }
  std::weak_ptr<void> weak_ref() const { return ref_; }

 private:
  Type type_;
  union {
    bool b;
    int64_t i;
    double f;
  } scalar_{};
  std::shared_ptr<void> ref_;
};

// An insertion-ordered dict. String keys are indexed; other keys (ints, tuples, ...) are found by equality.
class Dict {
 public:
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts, or replaces the value keeping the key's original position (Python semantics).
  void set(Value key, Value value);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }
  void clear();

 private:
  std::vector<std::pair<Value, Value>> items_;
  std::unordered_map<std::string, size_t> string_index_;
};

// Arguments of a call, as written: positional first, then keywords.
struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

class Callable {
 public:
  virtual ~Callable() = default;
  virtual Value call(Interpreter& interpreter, CallArgs args) const = 0;
  // What Python's str() would print for it.
  virtual std::string repr() const = 0;
};

// Binds call arguments to a parameter list like Python does, for builtins: positional, then by name, then
// defaults. Errors read like Python's ("indent() got an unexpected keyword argument 'x'").
struct Param {
  const char* name;
  std::optional<Value> default_value;  // nullopt: required
};
ValueList bind_args(const char* function, CallArgs& args, const std::vector<Param>& params);

// Bounds the recursion of algorithms that walk nested values (repr, ==, ordering, tojson, JSON input);
// past the limit they raise kLimit instead of exhausting the stack. The interpreter sets the limit from
// JinjaLimits::max_data_depth for the duration of a render.
class NestingGuard {
 public:
  NestingGuard();
  ~NestingGuard();
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
  static int set_limit(int limit);  // returns the previous limit
};

// Limits on the strings and lists that value operations build (repr, tojson, split, repetition, +, iteration
// over characters), so no single operation can exhaust memory before the interpreter's checks run. The
// interpreter sets them from JinjaLimits (max_output_bytes, max_loop_iterations) for a render.
struct ValueBudget {
  size_t max_bytes = size_t{32} << 20;
  uint64_t max_items = 1'000'000;
  static ValueBudget set(ValueBudget budget);  // returns the previous budget
  static void check_bytes(size_t bytes);       // raises kLimit past max_bytes
  static void check_items(size_t items);       // raises kLimit past max_items
};

// Containers and scopes are freed through a queue rather than recursively, so dropping a deeply nested
// value cannot overflow the stack.
void deferred_delete(void* object, void (*destroy)(void*));
template <typename T>
std::shared_ptr<T> make_deferred(T&& object) {
  return std::shared_ptr<T>(new T(std::move(object)),
                            [](T* p) { deferred_delete(p, [](void* q) { delete static_cast<T*>(q); }); });
}

// ---- Python semantics -------------------------------------------------------------------------------------
bool truthy(const Value& v);
// Python str(v); content provenance of contained strings is kept.
TrackedString to_str(const Value& v);
// Python repr(v).
TrackedString to_repr(const Value& v);
// Python ==.
bool equals(const Value& a, const Value& b);
// Python ordering: <0, 0, >0; raises a runtime error for unorderable types (op names the operator).
int compare(const Value& a, const Value& b, const char* op);
// Python's type name ('str', 'int', 'dict', ...).
std::string type_name(const Value& v);
// jinja2's object_type_repr: "None" or "<type> object".
std::string object_type_repr(const Value& v);
// Raises the Undefined's error (an Undefined was used where jinja2's Undefined raises).
[[noreturn]] void fail_undefined(const Value& v);

}  // namespace vlm::text::jinja
