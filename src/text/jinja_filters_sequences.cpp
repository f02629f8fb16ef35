// jinja2's filters over sequences: length, first/last, join, sort, unique, min/max, sum, batch, reverse,
// items, dictsort, and the generator filters map, select, reject, selectattr, rejectattr.
#include <algorithm>

#include "text/jinja_builtins.h"
#include "text/jinja_interpreter.h"
#include "text/jinja_operators.h"
#include "text/jinja_strings.h"

namespace vlm::text::jinja {

namespace {

Value none() {
  return Value::none();
}
Value integer(int64_t i) {
  return Value::integer(i);
}
Value boolean(bool b) {
  return Value::boolean(b);
}
int64_t need_int(const Value& v, const char* what) {
  return filter_int_arg(v, what);
}

// ignore_case postprocess: lower-case strings for case-insensitive comparisons.
Value ignore_case(const Value& v) {
  return v.is_string() ? Value::string(change_case(v.as_tracked(), CaseMap::kLower)) : v;
}

// make_attrgetter with optional default and case folding.
Value get_key(const Value& item, const Value& attribute, bool case_sensitive, const Value* dflt = nullptr) {
  Value v = attribute.is_none() ? item : lookup_attribute_path(item, attribute);
  if (dflt && !dflt->is_none() && v.is_undefined()) v = *dflt;
  return case_sensitive ? v : ignore_case(v);
}

// ---- sequences --------------------------------------------------------------------------------------------

Value f_length(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("length", a, {});
  return integer(static_cast<int64_t>(length(v)));
}

Value f_list(Interpreter& in, const Value& v, CallArgs& a) {
  bind_args("list", a, {});
  ValueList items = iterate(v);
  in.count_steps(items.size());
  return Value::list(std::move(items));
}

Value f_first(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("first", a, {});
  if (v.is_generator()) {
    auto& g = v.as_generator();
    if (g.pos < g.items.size()) return g.items[g.pos++];
  } else {
    ValueList items = iterate(v);
    if (!items.empty()) return items.front();
  }
  return Value::undefined("No first item, sequence was empty.");
}

Value f_last(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("last", a, {});
  if (v.is_generator()) type_error("'generator' object is not reversible");
  ValueList items = iterate(v);
  if (!items.empty()) return items.back();
  return Value::undefined("No last item, sequence was empty.");
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  auto args = bind_args("join", a, {{"d", Value::string("")}, {"attribute", none()}});
  const TrackedString sep = to_str(args[0]);
  TrackedString out;
  const ValueList items = iterate(v);
  in.count_steps(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out.append(sep);
    out.append(to_str(args[1].is_none() ? items[i] : lookup_attribute_path(items[i], args[1])));
    in.check_string_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_reverse(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("reverse", a, {});
  if (v.is_string()) return *slice(v, std::nullopt, std::nullopt, -1);
  if (v.is_number() || v.is_none() || v.is_namespace() || v.is_callable())
    type_error("argument must be iterable");
  ValueList items = iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.is_generator()) return Value::list(std::move(items));  // list(value); rv.reverse()
  return Value::generator(std::move(items), "reversed");
}

Value f_items(Interpreter&, const Value& v, CallArgs& a) {
  bind_args("items", a, {});
  if (v.is_undefined()) return Value::generator({}, "do_items");
  if (!v.is_dict()) type_error("Can only get item pairs from a mapping.");
  ValueList out;
  for (const auto& [k, x] : v.as_dict().items()) out.push_back(Value::tuple({k, x}));
  return Value::generator(std::move(out), "do_items");
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args(
      "dictsort", a,
      {{"case_sensitive", boolean(false)}, {"by", Value::string("key")}, {"reverse", boolean(false)}});
  if (!v.is_dict()) type_error("'" + type_name(v) + "' object has no attribute 'items'");
  const std::string by = args[1].is_string() ? args[1].as_string() : "";
  if (by != "key" && by != "value") type_error("You can only sort by either \"key\" or \"value\"");
  const size_t pos = by == "key" ? 0 : 1;
  const bool cs = truthy(args[0]), rev = truthy(args[2]);
  std::vector<std::pair<Value, Value>> items = v.as_dict().items();
  std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
    const Value kx = cs ? (pos ? x.second : x.first) : ignore_case(pos ? x.second : x.first);
    const Value ky = cs ? (pos ? y.second : y.first) : ignore_case(pos ? y.second : y.first);
    const int c = rev ? compare(ky, kx, "<") : compare(kx, ky, "<");
    return c == -1;
  });
  ValueList out;
  for (auto& [k, x] : items) out.push_back(Value::tuple({k, x}));
  return Value::list(std::move(out));
}

// Keys for sort/unique/min/max: one attribute, or several separated by commas (make_multi_attrgetter).
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {
    ValueList keys;
    for (const auto& part : split(attribute.as_tracked(), std::string(","), -1, false))
      keys.push_back(get_key(item, part, case_sensitive));
    return Value::list(std::move(keys));
  }
  return get_key(item, attribute, case_sensitive);
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  auto args = bind_args(
      "sort", a, {{"reverse", boolean(false)}, {"case_sensitive", boolean(false)}, {"attribute", none()}});
  ValueList items = iterate(v);
  in.count_steps(items.size());
  const bool rev = truthy(args[0]), cs = truthy(args[1]);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) keyed.push_back({sort_key(items[i], args[2], cs), i});
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return (rev ? compare(y.first, x.first, "<") : compare(x.first, y.first, "<")) == -1;
  });
  ValueList out;
  for (const auto& [k, i] : keyed) out.push_back(items[i]);
  return Value::list(std::move(out));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  auto args = bind_args("unique", a, {{"case_sensitive", boolean(false)}, {"attribute", none()}});
  const ValueList items = iterate(v);
  in.count_steps(items.size() * 4);
  ValueList seen, out;
  for (const auto& item : items) {
    const Value key = get_key(item, args[1], truthy(args[0]));
    if (key.is_list() || key.is_dict()) type_error("unhashable type: '" + type_name(key) + "'");
    bool dup = false;
    for (const auto& s : seen) dup = dup || equals(s, key);
    in.count_steps(seen.size());
    if (!dup) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::generator(std::move(out), "do_unique");
}

Value min_or_max(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
  auto args =
      bind_args(want_max ? "max" : "min", a, {{"case_sensitive", boolean(false)}, {"attribute", none()}});
  const ValueList items = iterate(v);
  in.count_steps(items.size());
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = get_key(items[0], args[1], truthy(args[0]));
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = get_key(items[i], args[1], truthy(args[0]));
    const int c = compare(key, best_key, want_max ? ">" : "<");
    if ((want_max && c == 1) || (!want_max && c == -1)) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  auto args = bind_args("sum", a, {{"attribute", none()}, {"start", integer(0)}});
  if (args[1].is_string()) type_error("sum() can't sum strings [use ''.join(seq) instead]");
  Value total = args[1];
  const ValueList items = iterate(v);
  in.count_steps(items.size());
  for (const auto& item : items)
    total = binary_op("+", total, args[0].is_none() ? item : lookup_attribute_path(item, args[0]),
                      in.limits().max_output_bytes);
  return total;
}

Value f_batch(Interpreter&, const Value& v, CallArgs& a) {
  auto args = bind_args("batch", a, {{"linecount", std::nullopt}, {"fill_with", none()}});
  const int64_t n = need_int(args[0], "linecount");
  if (n <= 0) type_error("batch size must be positive");
  if (!args[1].is_none()) ValueBudget::check_items(static_cast<uint64_t>(n));
  ValueList out, tmp;
  for (auto& item : iterate(v)) {
    if (static_cast<int64_t>(tmp.size()) == n) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(std::move(item));
  }
  if (!tmp.empty()) {
    if (!args[1].is_none())
      while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(args[1]);
    out.push_back(Value::list(std::move(tmp)));
  }
  return Value::generator(std::move(out), "do_batch");
}

// ---- map / select -----------------------------------------------------------------------------------------

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  ValueList out;
  if (!truthy(v)) return Value::generator({}, "do_map");
  const ValueList items = iterate(v);
  in.count_steps(items.size());
  if (a.positional.empty()) {
    const Value* attribute = nullptr;
    Value dflt = none();
    for (const auto& [k, x] : a.keyword) {
      if (k == "attribute") {
        attribute = &x;
      } else if (k == "default") {
        dflt = x;
      } else {
        type_error("Unexpected keyword argument '" + k + "'");
      }
    }
    if (!attribute) type_error("map requires a filter argument");
    for (const auto& item : items) {
      Value x = lookup_attribute_path(item, *attribute);
      if (!dflt.is_none() && x.is_undefined()) x = dflt;
      out.push_back(std::move(x));
    }
    return Value::generator(std::move(out), "do_map");
  }
  if (!a.positional[0].is_string()) type_error("map filter name must be a string");
  const std::string name = a.positional[0].as_string();
  for (const auto& item : items) {
    CallArgs rest{ValueList(a.positional.begin() + 1, a.positional.end()), a.keyword};
    out.push_back(in.apply_filter(name, item, std::move(rest)));
  }
  return Value::generator(std::move(out), "do_map");
}

Value select_or_reject(Interpreter& in, const Value& v, CallArgs& a, bool select, bool by_attribute) {
  if (!truthy(v)) return Value::generator({}, "select_or_reject");
  size_t off = 0;
  Value attribute;
  if (by_attribute) {
    if (a.positional.empty()) type_error("Missing parameter for attribute name");
    attribute = a.positional[0];
    off = 1;
  }
  std::optional<std::string> test;
  if (a.positional.size() > off) {
    if (!a.positional[off].is_string()) type_error("test name must be a string");
    test = a.positional[off].as_string();
  }
  const ValueList items = iterate(v);
  in.count_steps(items.size());
  ValueList out;
  for (const auto& item : items) {
    const Value x = by_attribute ? lookup_attribute_path(item, attribute) : item;
    bool ok;
    if (test) {
      CallArgs rest{
          ValueList(a.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), a.positional.end()),
          a.keyword};
      ok = in.apply_test(*test, x, std::move(rest));
    } else {
      ok = truthy(x);
    }
    if (ok == select) out.push_back(item);
  }
  return Value::generator(std::move(out), "select_or_reject");
}

Value f_select(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, true, false);
}
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, false, false);
}
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, true, true);
}
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, false, true);
}

}  // namespace

void add_sequence_filters(std::unordered_map<std::string, FilterFn>& table) {
  const std::pair<const char*, FilterFn> filters[] = {
      {"batch", f_batch},
      {"count", f_length},
      {"dictsort", f_dictsort},
      {"first", f_first},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"map", f_map},
      {"max", [](Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, true); }},
      {"min", [](Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, false); }},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"reverse", f_reverse},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"sort", f_sort},
      {"sum", f_sum},
      {"unique", f_unique},
  };
  for (const auto& [name, fn] : filters) table[name] = fn;
}

}  // namespace vlm::text::jinja
