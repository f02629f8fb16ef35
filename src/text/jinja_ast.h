// The parsed form of a Jinja template: expression and statement nodes, as jinja2's parser builds them.
// Nodes keep the byte offset of their first token so errors can name line and column.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "text/jinja_value.h"

namespace vlm::text::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kConst,     // constant
  kName,      // name
  kGetattr,   // a.name
  kGetitem,   // a[b]
  kSlice,     // a:b:c inside [] (any part may be null)
  kCall,      // a(call)
  kFilter,    // a | name(call); a is null in {% filter %} and {% set x | f %}
  kTest,      // a is name(call)
  kNeg,       // -a
  kPos,       // +a
  kBinary,    // a name b, name in + - * / // % **
  kConcat,    // items joined with ~
  kCompare,   // items[0] ops[0] items[1] ops[1] items[2] ...
  kAnd,       // a and b
  kOr,        // a or b
  kNot,       // not a
  kCondExpr,  // b if a else c (c may be null)
  kList,      // [items]
  kTuple,     // (items)
  kDict,      // {items[i]: values[i]}
};

struct Keyword {
  std::string name;
  ExprPtr value;
};

struct CallSite {
  std::vector<ExprPtr> args;
  std::vector<Keyword> kwargs;
  ExprPtr dyn_args;    // *args
  ExprPtr dyn_kwargs;  // **kwargs
};

struct Expr {
  ExprKind kind;
  size_t offset = 0;
  int depth = 1;  // height of the subtree (bounded by the parser)
  Value constant;
  std::string name;
  ExprPtr a, b, c;
  std::vector<ExprPtr> items, values;
  std::vector<std::string> ops;
  CallSite call;
};

// Assignment targets: a name, a tuple of targets, or a namespace attribute (ns.attr).
struct Target {
  enum class Kind { kName, kTuple, kNamespaceAttr } kind = Kind::kName;
  std::string name, attr;
  std::vector<Target> items;
  size_t offset = 0;
};

struct Stmt;
using StmtList = std::vector<Stmt>;

enum class StmtKind {
  kOutput,       // template data and {{ expressions }}
  kFor,          // for target in expr [if filter_test]: body [else: else_body]
  kIf,           // if expr: body else: else_body (elif is a nested kIf in else_body)
  kSet,          // set target = expr
  kSetBlock,     // set target [| filter] ... endset
  kMacro,        // macro name(params=defaults): body
  kCallBlock,    // call(params) expr: body   (body becomes caller())
  kFilterBlock,  // filter expr: body
  kWith,         // with targets = values: body
  kBreak,
  kContinue,
  kGeneration,  // generation: body (transformers' AssistantTracker)
};

struct OutputPiece {
  std::string data;  // when expr is null
  ExprPtr expr;
};

struct Stmt {
  StmtKind kind;
  size_t offset = 0;
  std::vector<OutputPiece> output;
  Target target;
  ExprPtr expr;
  ExprPtr filter_test;  // for: the inline `if`; set block: the filter chain
  StmtList body, else_body;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // defaults for the last params
  std::vector<Target> with_targets;
  std::vector<ExprPtr> with_values;
};

}  // namespace vlm::text::jinja
