#include "sdk/chat/jinja_render.h"

#include <cmath>
#include <ctime>
#include <unordered_map>

#include "sdk/chat/jinja_access.h"
#include "sdk/chat/jinja_builtins.h"

namespace krait::jinja {

namespace {

// The sandbox's limit on range() (jinja2.sandbox.MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

struct Scope {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Scope> parent;

    const Value* find(const std::string& name) const {
        for (const Scope* s = this; s; s = s->parent.get()) {
            const auto it = s->vars.find(name);
            if (it != s->vars.end()) return &it->second;
        }
        return nullptr;
    }
};
using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child_scope(const ScopePtr& parent) {
    auto s = std::make_shared<Scope>();
    s->parent = parent;
    return s;
}

enum class Flow { Normal, Break, Continue };

// Every value an expression yields is checked, so no runaway template builds huge or deeply nested
// data (whose printing and destruction recurse).
void check_value_bounds(const Value& v) {
    if ((v.is_string() && v.as_string().size() > kMaxValueBytes) ||
        (v.is_list() && v.as_list().size() > kMaxValueBytes / 16)) {
        fail_type("the template builds a value larger than " + std::to_string(kMaxValueBytes >> 20) + " MiB");
    }
    if (v.depth() > kMaxValueDepth) {
        fail_type("the template builds values nested deeper than " + std::to_string(kMaxValueDepth) + " levels");
    }
}

// Python integers do not overflow; int64 ones do, and then the template fails cleanly.
int64_t add_int(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) fail_type("integer overflow");
    return r;
}
int64_t sub_int(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) fail_type("integer overflow");
    return r;
}
int64_t mul_int(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) fail_type("integer overflow");
    return r;
}

Value repeat(const Value& sequence, int64_t count) {
    if (count <= 0) return sequence.is_string() ? Value(std::string()) : Value(List{});
    if (sequence.is_string()) {
        const std::string& s = sequence.as_string();
        if (!s.empty() && static_cast<uint64_t>(count) > kMaxValueBytes / s.size()) {
            fail_type("the template builds a string longer than " + std::to_string(kMaxValueBytes >> 20) + " MiB");
        }
        std::string out;
        out.reserve(s.size() * static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) out += s;
        return Value(std::move(out));
    }
    const List& l = sequence.as_list();
    if (!l.empty() && static_cast<uint64_t>(count) > kMaxValueBytes / 16 / l.size()) {
        fail_type("the template builds a list that is too long");
    }
    List out;
    for (int64_t i = 0; i < count; ++i) out.insert(out.end(), l.begin(), l.end());
    return Value(std::move(out));
}

[[noreturn]] void fail_operands(const std::string& op, const Value& a, const Value& b) {
    fail_type("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

// Python's arithmetic operators on template values.
Value arithmetic(const std::string& op, const Value& a, const Value& b) {
    if (a.is_undefined()) fail_undefined(a);
    if (b.is_undefined()) fail_undefined(b);
    const bool numbers = a.is_number() && b.is_number();
    const bool floats = numbers && (a.is_float() || b.is_float());
    if (op == "+") {
        if (floats) return Value(a.to_double() + b.to_double());
        if (numbers) return Value(add_int(a.to_int_exact(), b.to_int_exact()));
        if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
        if (a.is_list() && b.is_list()) {
            List out = a.as_list();
            out.insert(out.end(), b.as_list().begin(), b.as_list().end());
            return Value(std::move(out));
        }
        fail_operands(op, a, b);
    }
    if (op == "*") {
        if (floats) return Value(a.to_double() * b.to_double());
        if (numbers) return Value(mul_int(a.to_int_exact(), b.to_int_exact()));
        if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.to_int_exact());
        if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.to_int_exact());
        fail_operands(op, a, b);
    }
    if (op == "%" && a.is_string()) fail_unsupported_use("printf-style string formatting ('...' % value)");
    if (!numbers) fail_operands(op, a, b);
    if (op == "-") {
        if (floats) return Value(a.to_double() - b.to_double());
        return Value(sub_int(a.to_int_exact(), b.to_int_exact()));
    }
    if (op == "/") {
        if (b.to_double() == 0.0) fail_type("division by zero");
        return Value(a.to_double() / b.to_double());
    }
    if (op == "//" || op == "%") {
        if (b.to_double() == 0.0) fail_type(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
        if (floats) {
            // CPython's float_divmod, signed zeros included.
            const double x = a.to_double(), y = b.to_double();
            double mod = std::fmod(x, y);
            double div = (x - mod) / y;
            if (mod != 0.0) {
                if ((y < 0) != (mod < 0)) {
                    mod += y;
                    div -= 1.0;
                }
            } else {
                mod = std::copysign(0.0, y);
            }
            double floordiv;
            if (div != 0.0) {
                floordiv = std::floor(div);
                if (div - floordiv > 0.5) floordiv += 1.0;
            } else {
                floordiv = std::copysign(0.0, x / y);
            }
            return op == "%" ? Value(mod) : Value(floordiv);
        }
        const int64_t x = a.to_int_exact(), y = b.to_int_exact();
        if (x == INT64_MIN && y == -1) fail_type("integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
            --q;
            m += y;
        }
        return op == "%" ? Value(m) : Value(q);
    }
    if (op == "**") {
        if (!floats && b.to_int_exact() >= 0) {
            int64_t base = a.to_int_exact(), exponent = b.to_int_exact(), result = 1;
            while (exponent > 0) {
                if (exponent & 1) result = mul_int(result, base);
                exponent >>= 1;
                if (exponent > 0) base = mul_int(base, base);
            }
            return Value(result);
        }
        if (a.to_double() == 0.0 && b.to_double() < 0) fail_type("0.0 cannot be raised to a negative power");
        return Value(std::pow(a.to_double(), b.to_double()));
    }
    fail_unsupported_use("the operator '" + op + "'");
}

bool contains(const Value& container, const Value& item) {
    if (container.is_string() && !item.is_string()) fail_type("'in <string>' requires string as left operand");
    CallArgs args;
    args.positional.push_back(container);
    return apply_test("in", item, args);
}

bool compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return values_equal(a, b);
    if (op == "!=") return !values_equal(a, b);
    if (op == "in") return contains(b, a);
    if (op == "notin") return !contains(b, a);
    if (a.is_undefined()) fail_undefined(a);
    if (b.is_undefined()) fail_undefined(b);
    const int c = compare_values(a, b);
    if (op == "<") return c < 0;
    if (op == "<=") return c <= 0;
    if (op == ">") return c > 0;
    return c >= 0;
}

class Renderer {
public:
    Renderer(const Dict& variables, const RenderOptions& options) : options_(options) {
        auto globals = std::make_shared<Scope>();
        install_globals(*globals);
        root_ = child_scope(globals);
        for (const auto& [name, value] : variables.entries()) root_->vars[name] = value;
    }

    std::string run(const Body& body) {
        std::string out;
        render_body(body, root_, out);
        return out;
    }

private:
    // ---- Statements ------------------------------------------------------------------------
    Flow render_body(const Body& body, const ScopePtr& scope, std::string& out) {
        for (const NodePtr& node : body) {
            const Flow flow = render_node(*node, scope, out);
            if (flow != Flow::Normal) return flow;
        }
        return Flow::Normal;
    }

    void emit(std::string& out, const std::string& text) {
        output_bytes_ += text.size();
        if (output_bytes_ > options_.max_output_bytes) {
            fail_argument("chat template: the output exceeds " + std::to_string(options_.max_output_bytes) + " bytes");
        }
        out += text;
    }

    void count_step(int line) {
        if (++steps_ > options_.max_loop_iterations) {
            fail_argument("chat template line " + std::to_string(line) + ": more than " +
                          std::to_string(options_.max_loop_iterations) + " loop iterations and macro calls");
        }
    }

    Flow render_node(const Node& node, const ScopePtr& scope, std::string& out) {
        switch (node.kind) {
            case Node::Kind::Text: emit(out, node.text); return Flow::Normal;
            case Node::Kind::Output: emit(out, eval(*node.expr, scope).str()); return Flow::Normal;
            case Node::Kind::If:
                for (const auto& [condition, body] : node.branches) {
                    if (eval(*condition, scope).truthy()) return render_body(body, scope, out);
                }
                return render_body(node.else_body, scope, out);
            case Node::Kind::For: return render_for(node, scope, out);
            case Node::Kind::Set: render_set(node, scope); return Flow::Normal;
            case Node::Kind::Macro: scope->vars[node.text] = make_macro(node, scope); return Flow::Normal;
            case Node::Kind::CallBlock: {
                const Expr& call = *node.expr;
                Value caller = make_macro(node, scope, "caller");
                emit(out, with_line(node.line, [&] { return call_expression(call, scope, &caller); }).str());
                return Flow::Normal;
            }
            case Node::Kind::FilterBlock: {
                std::string text;
                render_body(node.body, scope, text);
                emit(out, apply_filter_chain(*node.expr, Value(std::move(text)), scope).str());
                return Flow::Normal;
            }
            case Node::Kind::Break: return Flow::Break;
            case Node::Kind::Continue: return Flow::Continue;
            case Node::Kind::Generation: return render_body(node.body, scope, out);
        }
        return Flow::Normal;
    }

    void bind_targets(Scope& scope, const std::vector<std::string>& targets, const Value& value, int line) {
        if (targets.size() == 1) {
            scope.vars[targets[0]] = value;
            return;
        }
        const List items = with_line(line, [&] { return value.iterate(); });
        if (items.size() != targets.size()) {
            fail_argument("chat template line " + std::to_string(line) + ": cannot unpack " +
                          std::to_string(items.size()) + " values into " + std::to_string(targets.size()) + " names");
        }
        for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = items[i];
    }

    Flow render_for(const Node& node, const ScopePtr& scope, std::string& out) {
        const Value iterable = eval(*node.expr, scope);
        List items = with_line(node.line, [&] { return iterable.iterate(); });
        if (node.condition) {
            List kept;
            for (Value& item : items) {
                count_step(node.line);
                auto filter_scope = child_scope(scope);
                bind_targets(*filter_scope, node.targets, item, node.line);
                if (eval(*node.condition, filter_scope).truthy()) kept.push_back(std::move(item));
            }
            items = std::move(kept);
        }
        if (items.empty()) return render_body(node.else_body, scope, out);
        const auto length = static_cast<int64_t>(items.size());
        for (int64_t i = 0; i < length; ++i) {
            count_step(node.line);
            auto body_scope = child_scope(scope);
            bind_targets(*body_scope, node.targets, items[static_cast<size_t>(i)], node.line);
            body_scope->vars["loop"] = loop_object(items, i);
            if (render_body(node.body, body_scope, out) == Flow::Break) break;
        }
        return Flow::Normal;
    }

    // Jinja's LoopContext, as a dict of its values (plus cycle()).
    static Value loop_object(const List& items, int64_t i) {
        const auto length = static_cast<int64_t>(items.size());
        Dict loop;
        loop.set("index", Value(i + 1));
        loop.set("index0", Value(i));
        loop.set("revindex", Value(length - i));
        loop.set("revindex0", Value(length - i - 1));
        loop.set("first", Value(i == 0));
        loop.set("last", Value(i == length - 1));
        loop.set("length", Value(length));
        loop.set("depth", Value(1));
        loop.set("depth0", Value(0));
        loop.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
        loop.set("nextitem",
                 i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
        auto cycle = std::make_shared<Function>();
        cycle->name = "loop.cycle";
        cycle->call = [i](CallArgs& args) {
            if (args.positional.empty()) fail_type("no items for cycling given");
            return args.positional[static_cast<size_t>(i) % args.positional.size()];
        };
        loop.set("cycle", Value(std::move(cycle)));
        return Value(std::move(loop));
    }

    void render_set(const Node& node, const ScopePtr& scope) {
        Value value;
        if (node.expr) {
            value = eval(*node.expr, scope);
        } else {
            std::string text;
            render_body(node.body, scope, text);
            value = Value(std::move(text));
        }
        if (!node.attribute.empty()) {
            const Value* target = scope->find(node.targets[0]);
            if (!target || !target->is_namespace()) {
                fail_argument("chat template line " + std::to_string(node.line) + ": cannot assign attribute on " +
                              quote(node.targets[0]) + ", which is not a namespace()");
            }
            with_line(node.line, [&] { set_attribute(target->as_namespace(), node.attribute, std::move(value)); });
            return;
        }
        bind_targets(*scope, node.targets, value, node.line);
    }

    // A macro (or a call block's caller) as a callable value. It keeps its defining scope weakly:
    // that scope holds the macro, and a strong reference would be a cycle.
    Value make_macro(const Node& node, const ScopePtr& scope, const std::string& name_override = "") {
        auto fn = std::make_shared<Function>();
        fn->name = name_override.empty() ? node.text : name_override;
        // A call block's caller is an anonymous macro in Jinja.
        fn->repr = name_override.empty() ? "<Macro " + Value(node.text).repr() + ">" : "<Macro anonymous>";
        std::weak_ptr<Scope> defining = scope;
        const Node* definition = &node;
        fn->call = [this, definition, defining, name = fn->name](CallArgs& args) {
            return call_macro(*definition, name, defining.lock(), args);
        };
        return Value(std::move(fn));
    }

    Value call_macro(const Node& node, const std::string& name, const ScopePtr& defining, CallArgs& args) {
        if (!defining) fail_type("macro " + quote(name) + " was called outside the scope it was defined in");
        count_step(node.line);
        if (depth_ >= options_.max_call_depth) {
            fail_type("macro calls nest deeper than " + std::to_string(options_.max_call_depth) + " levels");
        }
        const auto& params = node.parameters;
        if (args.positional.size() > params.size() && !node.reads_varargs) {
            fail_type("macro " + quote(name) + " takes not more than " + std::to_string(params.size()) +
                      " argument(s)");
        }
        auto scope = child_scope(defining);
        std::vector<bool> bound(params.size(), false);
        List varargs;
        for (size_t i = 0; i < args.positional.size(); ++i) {
            if (i < params.size()) {
                scope->vars[params[i].name] = args.positional[i];
                bound[i] = true;
            } else {
                varargs.push_back(args.positional[i]);
            }
        }
        Dict kwargs;
        bool has_caller = false;
        for (auto& [key, value] : args.keyword) {
            size_t i = 0;
            while (i < params.size() && params[i].name != key) ++i;
            if (i < params.size()) {
                scope->vars[key] = value;
                bound[i] = true;
            } else if (key == "caller" && node.reads_caller) {
                scope->vars["caller"] = value;
                has_caller = true;
            } else if (node.reads_kwargs) {
                kwargs.set(key, value);
            } else if (key == "caller") {
                fail_type("macro " + quote(name) + " was invoked with two values for the special caller argument");
            } else {
                fail_type("macro " + quote(name) + " takes no keyword argument " + quote(key));
            }
        }
        if (node.reads_varargs) scope->vars["varargs"] = Value::tuple(std::move(varargs));
        if (node.reads_kwargs) scope->vars["kwargs"] = Value(std::move(kwargs));
        if (node.reads_caller && !has_caller) scope->vars["caller"] = Value::undefined("No caller defined");
        for (size_t i = 0; i < params.size(); ++i) {
            if (bound[i]) continue;
            scope->vars[params[i].name] = params[i].default_value
                                              ? eval(*params[i].default_value, scope)
                                              : Value::undefined("parameter '" + params[i].name + "' was not provided");
        }
        ++depth_;
        std::string out;
        try {
            render_body(node.body, scope, out);
        } catch (...) {
            --depth_;
            throw;
        }
        --depth_;
        return Value(std::move(out));
    }

    // ---- Expressions -------------------------------------------------------------------------
    template <typename F>
    auto with_line(int line, F&& f) -> decltype(f()) {
        try {
            return f();
        } catch (const EvalError& e) {
            fail(e.status(), "chat template line " + std::to_string(line) + ": " + e.what());
        }
    }

    Value eval(const Expr& e, const ScopePtr& scope) {
        return with_line(e.line, [&] {
            Value v = eval_unchecked(e, scope);
            check_value_bounds(v);
            return v;
        });
    }

    CallArgs eval_arguments(const Expr& e, size_t first, const ScopePtr& scope) {
        CallArgs args;
        for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i], scope));
        for (const auto& [key, value] : e.keywords) args.keyword.emplace_back(key, eval(*value, scope));
        return args;
    }

    Value call_expression(const Expr& call, const ScopePtr& scope, const Value* caller) {
        const Value callee = eval(*call.children[0], scope);
        CallArgs args = eval_arguments(call, 1, scope);
        if (caller) args.keyword.emplace_back("caller", *caller);
        if (callee.is_undefined()) fail_undefined(callee);
        if (!callee.is_function()) fail_type("'" + callee.type_name() + "' object is not callable");
        const int saved_line = line_;
        line_ = call.line;
        Value result = callee.as_function().call(args);
        line_ = saved_line;
        return result;
    }

    Value apply_filter_chain(const Expr& chain, Value operand, const ScopePtr& scope) {
        if (chain.kind != Expr::Kind::Filter) return operand;
        Value inner = apply_filter_chain(*chain.children[0], std::move(operand), scope);
        CallArgs args = eval_arguments(chain, 1, scope);
        return with_line(chain.line, [&] { return apply_filter(chain.name, inner, args); });
    }

    Value eval_unchecked(const Expr& e, const ScopePtr& scope) {
        switch (e.kind) {
            case Expr::Kind::Literal: return e.value;
            case Expr::Kind::Name: {
                if (const Value* v = scope->find(e.name)) return *v;
                return Value::undefined("'" + e.name + "' is undefined");
            }
            case Expr::Kind::ListLit:
            case Expr::Kind::TupleLit: {
                List items;
                for (const ExprPtr& child : e.children) items.push_back(eval(*child, scope));
                return e.kind == Expr::Kind::TupleLit ? Value::tuple(std::move(items)) : Value(std::move(items));
            }
            case Expr::Kind::DictLit: {
                Dict dict;
                for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
                    const Value key = eval(*e.children[i], scope);
                    if (!key.is_string()) fail_unsupported_use("dict literals with keys that are not strings");
                    dict.set(key.as_string(), eval(*e.children[i + 1], scope));
                }
                return Value(std::move(dict));
            }
            case Expr::Kind::GetAttr: return get_attribute(eval(*e.children[0], scope), e.name);
            case Expr::Kind::GetItem: {
                const Value object = eval(*e.children[0], scope);
                return get_item(object, eval(*e.children[1], scope));
            }
            case Expr::Kind::Slice: {
                const Value object = eval(*e.children[0], scope);
                Value parts[3];
                for (int i = 0; i < 3; ++i) {
                    if (e.children[static_cast<size_t>(i) + 1])
                        parts[i] = eval(*e.children[static_cast<size_t>(i) + 1], scope);
                }
                return slice_value(object, parts[0], parts[1], parts[2]);
            }
            case Expr::Kind::Call: return call_expression(e, scope, nullptr);
            case Expr::Kind::Filter: {
                const Value operand = eval(*e.children[0], scope);
                CallArgs args = eval_arguments(e, 1, scope);
                return apply_filter(e.name, operand, args);
            }
            case Expr::Kind::Test: {
                const Value operand = eval(*e.children[0], scope);
                CallArgs args = eval_arguments(e, 1, scope);
                return Value(apply_test(e.name, operand, args) != e.negated);
            }
            case Expr::Kind::Unary: {
                const Value operand = eval(*e.children[0], scope);
                if (e.name == "not") return Value(!operand.truthy());
                if (operand.is_undefined()) fail_undefined(operand);
                if (!operand.is_number())
                    fail_type("bad operand type for unary " + e.name + ": '" + operand.type_name() + "'");
                if (e.name == "+") return operand.is_bool() ? Value(operand.to_int_exact()) : operand;
                if (operand.is_float()) return Value(-operand.as_float());
                return Value(sub_int(0, operand.to_int_exact()));
            }
            case Expr::Kind::Binary: {
                const Value left = eval(*e.children[0], scope);
                if (e.name == "and") return left.truthy() ? eval(*e.children[1], scope) : left;
                if (e.name == "or") return left.truthy() ? left : eval(*e.children[1], scope);
                const Value right = eval(*e.children[1], scope);
                if (e.name == "~") return Value(left.str() + right.str());
                return arithmetic(e.name, left, right);
            }
            case Expr::Kind::Compare: {
                Value left = eval(*e.children[0], scope);
                for (size_t i = 0; i < e.ops.size(); ++i) {
                    Value right = eval(*e.children[i + 1], scope);
                    if (!compare(e.ops[i], left, right)) return Value(false);
                    left = std::move(right);
                }
                return Value(true);
            }
            case Expr::Kind::Condition: {
                if (eval(*e.children[0], scope).truthy()) return eval(*e.children[1], scope);
                if (e.children[2]) return eval(*e.children[2], scope);
                return Value::undefined("the inline if expression evaluated to false and no else section was defined");
            }
        }
        fail_unsupported_use("this expression");
    }

    // ---- Globals: Jinja's and transformers' ----------------------------------------------------
    void define(Scope& globals, const std::string& name, std::function<Value(CallArgs&)> call) {
        auto fn = std::make_shared<Function>();
        fn->name = name;
        fn->call = std::move(call);
        globals.vars[name] = Value(std::move(fn));
    }

    static Dict dict_from_arguments(CallArgs& args, const std::string& what) {
        Dict dict;
        if (args.positional.size() > 1) fail_type(what + "() takes at most 1 positional argument");
        if (!args.positional.empty()) {
            const Value& source = args.positional[0];
            if (!source.is_dict()) fail_type(what + "(): expected a mapping, got " + source.type_name());
            for (const auto& [k, v] : source.as_dict().entries()) dict.set(k, v);
        }
        for (auto& [k, v] : args.keyword) dict.set(k, v);
        return dict;
    }

    void install_globals(Scope& globals) {
        define(globals, "range", [](CallArgs& args) {
            if (!args.keyword.empty() || args.positional.empty() || args.positional.size() > 3) {
                fail_type("range() takes 1 to 3 positional arguments");
            }
            int64_t start = 0, stop, step = 1;
            if (args.positional.size() == 1) {
                stop = args.positional[0].to_int_exact();
            } else {
                start = args.positional[0].to_int_exact();
                stop = args.positional[1].to_int_exact();
                if (args.positional.size() == 3) step = args.positional[2].to_int_exact();
            }
            if (step == 0) fail_type("range() arg 3 must not be zero");
            const double count =
                std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
            if (count > static_cast<double>(kMaxRange)) {
                fail_type("range too big: the sandbox blocks ranges larger than " + std::to_string(kMaxRange));
            }
            List items;
            for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
                items.emplace_back(i);
                if (__builtin_add_overflow(i, step, &i)) break;
            }
            return Value(std::move(items));
        });
        define(globals, "namespace", [](CallArgs& args) {
            auto ns = std::make_shared<Namespace>();
            const Dict attributes = dict_from_arguments(args, "namespace");
            for (const auto& [name, value] : attributes.entries()) set_attribute(*ns, name, value);
            return Value(std::move(ns));
        });
        define(globals, "dict", [](CallArgs& args) { return Value(dict_from_arguments(args, "dict")); });
        define(globals, "raise_exception", [this](CallArgs& args) -> Value {
            if (args.positional.size() != 1 || !args.keyword.empty()) fail_type("raise_exception() takes one message");
            throw TemplateRaisedError(args.positional[0].str(), line_);
        });
        define(globals, "strftime_now", [this](CallArgs& args) {
            if (args.positional.size() != 1 || !args.positional[0].is_string()) {
                fail_type("strftime_now() takes one format string");
            }
            const std::tm local = options_.now();
            const std::string& format = args.positional[0].as_string();
            if (format.empty()) return Value(std::string());
            std::string out(256 + format.size() * 8, '\0');
            const size_t n = std::strftime(out.data(), out.size(), format.c_str(), &local);
            out.resize(n);
            return Value(std::move(out));
        });
    }

    const RenderOptions& options_;
    ScopePtr root_;
    size_t output_bytes_ = 0;
    int64_t steps_ = 0;
    int depth_ = 0;
    int line_ = 0;  // the line of the call being made, for raise_exception
};

}  // namespace

std::string render_template(const Body& body, const Dict& variables, const RenderOptions& options) {
    return Renderer(variables, options).run(body);
}

}  // namespace krait::jinja
