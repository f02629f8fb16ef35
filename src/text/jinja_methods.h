// Attribute and item access with the rules of jinja2's ImmutableSandboxedEnvironment:
//   x.name   Python attribute first (str/list/dict methods, loop.index, namespace attributes), then
//   x['name']; x[key]   item first, then (for a str key) the attribute; missing  an Undefined naming what was
//   missing ("'dict object' has no attribute 'foo'"); mutating methods (list.append, dict.pop, ...) and
//   dunder attributes are refused by the sandbox: they
//            evaluate to an Undefined that raises a security error when called.
// Accessing anything on an Undefined raises its undefined error.
#pragma once

#include <string>

#include "text/jinja_value.h"

namespace vlm::text::jinja {

// A method of a builtin type: `self` is the receiver.
using MethodFn = Value (*)(Interpreter&, const Value& self, CallArgs& args);
// The str method `name` (upper, split, startswith, format, ...); nullptr when str has none by that name.
MethodFn find_str_method(const std::string& name);

Value get_attribute(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);

}  // namespace vlm::text::jinja
