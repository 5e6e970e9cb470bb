// The syntax tree of a parsed template: expressions and statements, each with its source line
// for error messages. The parser (jinja_parser) builds it; the renderer (jinja_render) walks it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sdk/chat/jinja_value.h"

namespace krait::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        Literal,    // value
        Name,       // name
        ListLit,    // children: the items
        TupleLit,   // children: the items (a tuple is a list to the renderer)
        DictLit,    // children: key, value, key, value, ...
        GetAttr,    // children[0].name
        GetItem,    // children[0][children[1]]
        Slice,      // children[0][children[1] : children[2] : children[3]], absent parts are null
        Call,       // children[0](children[1..], keywords)
        Filter,     // children[0] | name(children[1..], keywords)
        Test,       // children[0] is [not] name(children[1..]); `negated` for `is not`
        Unary,      // name ("-", "+", "not") children[0]
        Binary,     // children[0] name children[1]: + - * / // % ** ~ and or
        Compare,    // children[0] ops[0] children[1] ops[1] children[2] ...: == != < <= > >= in notin
        Condition,  // children[1] if children[0] else children[2] (children[2] null: undefined)
    };
    Kind kind;
    int line = 0;
    Value value;
    std::string name;
    std::vector<ExprPtr> children;
    std::vector<std::pair<std::string, ExprPtr>> keywords;
    std::vector<std::string> ops;
    bool negated = false;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

// A macro's parameter: its name and default (null when required).
struct Parameter {
    std::string name;
    ExprPtr default_value;
};

struct Node {
    enum class Kind {
        Text,         // text
        Output,       // {{ expr }}
        If,           // branches: (condition, body)...; else_body
        For,          // targets in expr [if condition]: body [else else_body]
        Set,          // targets = expr (or, with expr null, the rendered body); attribute: ns.attr
        Macro,        // name(parameters): body
        CallBlock,    // {% call(parameters) expr %} body: caller() renders body
        FilterBlock,  // {% filter expr %} body, expr being a Filter chain on an empty Literal
        Break,
        Continue,
        Generation,  // transformers' {% generation %} body: rendered as is
    };
    Kind kind;
    int line = 0;
    std::string text;
    ExprPtr expr;
    ExprPtr condition;
    std::vector<std::string> targets;
    std::string attribute;
    std::vector<Parameter> parameters;
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body body;
    Body else_body;
    // A macro's body reads `varargs`, `kwargs` or `caller`: as in Jinja, only then does the macro
    // accept extra positional arguments, unknown keywords or a call block.
    bool reads_varargs = false;
    bool reads_kwargs = false;
    bool reads_caller = false;
};

}  // namespace krait::jinja
