#include "text/jinja.h"

#include <unordered_map>

#include "text/jinja_interpreter.h"
#include "text/jinja_json.h"
#include "text/jinja_parser.h"

namespace vlm::text {

using jinja::Value;

// ---- context ----------------------------------------------------------------------------------------------

struct JinjaContext::Impl {
  std::unordered_map<std::string, Value> vars;
};

JinjaContext::JinjaContext() : impl_(std::make_unique<Impl>()) {}
JinjaContext::~JinjaContext() = default;
JinjaContext::JinjaContext(JinjaContext&&) noexcept = default;
JinjaContext& JinjaContext::operator=(JinjaContext&&) noexcept = default;

namespace {

template <typename J>
Value convert(const std::string& name, const J& value, bool content) {
  try {
    return jinja::value_from_json(value, content);
  } catch (const jinja::Failure& f) {
    throw JinjaError(f.kind, "variable '" + name + "'", {}, f.message);
  }
}

}  // namespace

void JinjaContext::set(const std::string& name, const nlohmann::ordered_json& value, bool content) {
  impl_->vars[name] = convert(name, value, content);
}

void JinjaContext::set(const std::string& name, const nlohmann::json& value, bool content) {
  impl_->vars[name] = convert(name, value, content);
}

void JinjaContext::set_string(const std::string& name, std::string value, bool content) {
  impl_->vars[name] = Value::string(std::move(value), content);
}

void JinjaContext::set_bool(const std::string& name, bool value) {
  impl_->vars[name] = Value::boolean(value);
}

void JinjaContext::set_none(const std::string& name) {
  impl_->vars[name] = Value::none();
}

// ---- template ---------------------------------------------------------------------------------------------

struct JinjaTemplate::Impl {
  jinja::SourceMap source;
  jinja::StmtList body;
  JinjaLimits limits;
};

JinjaTemplate::JinjaTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JinjaTemplate::JinjaTemplate(JinjaTemplate&&) noexcept = default;
JinjaTemplate& JinjaTemplate::operator=(JinjaTemplate&&) noexcept = default;
JinjaTemplate::~JinjaTemplate() = default;

JinjaTemplate JinjaTemplate::parse(std::string_view source, std::string origin, JinjaLimits limits) {
  if (source.size() > limits.max_template_bytes) {
    throw JinjaError(jinja::ErrorKind::kLimit, origin, {},
                     str("the template has ", source.size(), " bytes, more than the limit of ",
                         limits.max_template_bytes));
  }
  auto impl = std::make_unique<Impl>(
      Impl{jinja::SourceMap(std::move(origin), jinja::normalize_template_source(source)), {}, limits});
  const auto tokens = jinja::tokenize(impl->source);
  impl->body = jinja::parse_template(impl->source, tokens, jinja::ParseLimits{limits.max_parse_depth});
  return JinjaTemplate(std::move(impl));
}

RenderOutput JinjaTemplate::render(const JinjaContext& context) const {
  const std::time_t now = context.now() ? *context.now() : std::time(nullptr);
  jinja::Interpreter interpreter(impl_->source, impl_->limits, now);
  jinja::TrackedString out = interpreter.render(impl_->body, context.impl().vars);
  RenderOutput result;
  result.content_spans = out.content_spans();
  result.generation_spans = interpreter.generation_spans();
  result.text = out.text();
  return result;
}

const std::string& JinjaTemplate::origin() const {
  return impl_->source.origin();
}
const JinjaLimits& JinjaTemplate::limits() const {
  return impl_->limits;
}

}  // namespace vlm::text
