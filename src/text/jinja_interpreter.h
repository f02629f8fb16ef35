// The tree-walking evaluator behind JinjaTemplate::render.
//
// Scoping follows jinja2: each for-loop iteration, macro call, call block and {% with %} runs in a new
// scope whose parent is the enclosing one (so {% set %} inside a loop does not leak out, which is why
// templates use namespace()); {% if %} does not open a scope. Macros see their defining scope, late-bound.
//
// Output goes to a stack of buffers: the root output, and captures for macro bodies, {% set %} blocks,
// {% filter %} blocks and {% generation %} blocks. A generation block records (start, start + length of its
// text) where start is the size of the root output at that moment - exactly transformers' AssistantTracker,
// which measures the chunks the root template has yielded so far. At the root (also inside for/if) that is
// the block's true position; inside a macro or a captured block it is what transformers reports too.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/jinja.h"
#include "text/jinja_ast.h"
#include "text/jinja_lexer.h"

namespace vlm::text::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};
std::shared_ptr<Scope> make_scope(std::shared_ptr<Scope> parent);

class Interpreter {
 public:
  Interpreter(const SourceMap& source, const JinjaLimits& limits, std::time_t now);
  ~Interpreter();

  // Renders `body` with `variables` as the template's context.
  TrackedString render(const StmtList& body, std::unordered_map<std::string, Value> variables);
  // Byte spans of {% generation %} blocks in the order they finished (valid after render).
  const std::vector<ByteSpan>& generation_spans() const { return generation_spans_; }

  // ---- services for builtins (filters, tests, methods, callables) -----------------------------------------
  Value call(const Value& callee, CallArgs args);
  Value apply_filter(const std::string& name, Value subject, CallArgs args);
  bool apply_test(const std::string& name, const Value& subject, CallArgs args);
  // Counts evaluation work; raises kLimit past JinjaLimits::max_steps.
  void count_steps(uint64_t n);
  void count_iteration();
  // Raises kLimit if a string of `bytes` would exceed max_output_bytes.
  void check_string_size(size_t bytes) const;
  const JinjaLimits& limits() const { return limits_; }
  std::time_t now() const { return now_; }
  // A new namespace object, registered so reference cycles through it are broken after the render.
  Value make_namespace(Dict attrs);

  // Runs a macro body in a new scope (used by the Macro callable).
  TrackedString run_macro(const Stmt& macro, const std::shared_ptr<Scope>& closure, CallArgs args,
                          const Value* caller);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  Flow exec_block(const StmtList& body);
  Flow exec(const Stmt& s);
  void exec_output(const Stmt& s);
  Flow exec_for(const Stmt& s);
  void exec_set(const Stmt& s);
  void exec_set_block(const Stmt& s);
  void exec_macro(const Stmt& s);
  void exec_call_block(const Stmt& s);
  void exec_filter_block(const Stmt& s);
  void exec_with(const Stmt& s);
  void exec_generation(const Stmt& s);

  void assign(const Target& target, const Value& value);
  TrackedString capture(const StmtList& body);
  void emit(const TrackedString& s);
  void emit_text(const std::string& s);

  Value eval(const Expr& e);
  Value eval_node(const Expr& e);
  Value eval_name(const Expr& e);
  Value eval_call(const Expr& e);
  // Applies the filter of node e (not its subject) to subject.
  Value eval_filter(const Expr& e, Value subject);
  // Applies a subject-less chain ({% filter a|b %}, {% set x | a %}) innermost first.
  Value eval_filter_chain(const Expr& e, Value subject);
  Value eval_test(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_slice(const Value& subject, const Expr& slice);
  CallArgs eval_args(const CallSite& call);
  Value lookup(const std::string& name) const;

  [[noreturn]] void fail_at(size_t offset, ErrorKind kind, const std::string& message) const;

  const SourceMap& source_;
  JinjaLimits limits_;
  std::time_t now_;
  std::shared_ptr<Scope> scope_;
  std::unordered_map<std::string, Value> globals_;
  std::vector<TrackedString*> out_stack_;
  std::vector<ByteSpan> generation_spans_;
  uint64_t steps_ = 0;
  uint64_t iterations_ = 0;
  int call_depth_ = 0;
  std::vector<std::weak_ptr<Scope>> captured_scopes_;
  std::vector<std::weak_ptr<void>> namespaces_;
};

}  // namespace vlm::text::jinja
