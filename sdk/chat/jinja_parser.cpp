#include "sdk/chat/jinja_parser.h"

#include <cerrno>
#include <cstdlib>
#include <set>

#include "sdk/chat/jinja_builtins.h"
#include "sdk/core/error.h"

namespace krait::jinja {

namespace {

// Deeper nesting than any real template needs; it bounds the parser's and renderer's recursion.
constexpr int kMaxNesting = 100;

using Type = Token::Type;

// Whether `name` is read anywhere in an expression or a body (nested macros included, as Jinja's
// find_undeclared looks).
bool reads_name(const Expr* e, const std::string& name);

bool reads_name(const Body& body, const std::string& name) {
    for (const NodePtr& node : body) {
        if (reads_name(node->expr.get(), name) || reads_name(node->condition.get(), name) ||
            reads_name(node->body, name) || reads_name(node->else_body, name)) {
            return true;
        }
        for (const auto& [condition, branch] : node->branches) {
            if (reads_name(condition.get(), name) || reads_name(branch, name)) return true;
        }
        for (const Parameter& p : node->parameters) {
            if (reads_name(p.default_value.get(), name)) return true;
        }
    }
    return false;
}

bool reads_name(const Expr* e, const std::string& name) {
    if (!e) return false;
    if (e->kind == Expr::Kind::Name && e->name == name) return true;
    for (const ExprPtr& child : e->children) {
        if (reads_name(child.get(), name)) return true;
    }
    for (const auto& [key, value] : e->keywords) {
        if (reads_name(value.get(), name)) return true;
    }
    return false;
}

class Parser {
public:
    explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

    Body parse() {
        Body body = parse_body({});
        if (current().type != Type::End) fail_syntax("unexpected '" + current().text + "'");
        return body;
    }

private:
    // ---- Token access ----------------------------------------------------------------------
    const Token& current() const { return tokens_[pos_]; }
    const Token& peek(size_t ahead = 1) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
    const Token& next() {
        const Token& t = tokens_[pos_];
        if (t.type != Type::End) ++pos_;
        return t;
    }
    bool at_operator(const char* op) const { return current().type == Type::Operator && current().text == op; }
    bool at_name(const char* name) const { return current().type == Type::Name && current().text == name; }
    bool skip_operator(const char* op) {
        if (!at_operator(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* name) {
        if (!at_name(name)) return false;
        next();
        return true;
    }
    void expect_operator(const char* op) {
        if (!skip_operator(op)) fail_syntax(std::string("expected '") + op + "', got " + describe(current()));
    }
    std::string expect_name() {
        if (current().type != Type::Name) fail_syntax("expected a name, got " + describe(current()));
        return next().text;
    }
    void expect_block_end() {
        if (current().type != Type::BlockEnd) fail_syntax("expected '%}', got " + describe(current()));
        next();
    }

    static std::string describe(const Token& t) {
        switch (t.type) {
            case Type::End: return "the end of the template";
            case Type::BlockEnd: return "'%}'";
            case Type::VarEnd: return "'}}'";
            case Type::String: return "a string";
            default: return quote(t.text);
        }
    }

    [[noreturn]] void fail_syntax(const std::string& what) const {
        fail_argument("chat template line " + std::to_string(current().line) + ": " + what);
    }
    [[noreturn]] void fail_unsupported_construct(const std::string& what) const {
        fail_unsupported("chat template line " + std::to_string(current().line) + ": " + what +
                         " is not supported in chat templates");
    }

    struct NestingGuard {
        Parser& parser;
        explicit NestingGuard(Parser& p) : parser(p) {
            if (++parser.depth_ > kMaxNesting) parser.fail_syntax("the template nests too deeply");
        }
        ~NestingGuard() { --parser.depth_; }
    };

    ExprPtr make(Expr::Kind kind, int line) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = line;
        return e;
    }

    // ---- Statements ------------------------------------------------------------------------
    // Parses until a block tag whose keyword is in `end_keywords` (left unconsumed, after `{%`).
    Body parse_body(const std::set<std::string>& end_keywords) {
        NestingGuard guard(*this);
        Body body;
        while (true) {
            const Token& t = current();
            switch (t.type) {
                case Type::End:
                    if (!end_keywords.empty()) {
                        fail_syntax("unexpected end of template, expected " + join_keywords(end_keywords));
                    }
                    return body;
                case Type::Text: {
                    auto node = std::make_unique<Node>();
                    node->kind = Node::Kind::Text;
                    node->line = t.line;
                    node->text = next().text;
                    body.push_back(std::move(node));
                    break;
                }
                case Type::VarBegin: {
                    next();
                    auto node = std::make_unique<Node>();
                    node->kind = Node::Kind::Output;
                    node->line = t.line;
                    node->expr = parse_tuple(true);
                    if (current().type != Type::VarEnd) fail_syntax("expected '}}', got " + describe(current()));
                    next();
                    body.push_back(std::move(node));
                    break;
                }
                case Type::BlockBegin: {
                    const Token& keyword = peek();
                    if (keyword.type == Type::Name && end_keywords.count(keyword.text)) {
                        next();
                        return body;
                    }
                    next();
                    body.push_back(parse_statement());
                    break;
                }
                default: fail_syntax("unexpected " + describe(t));
            }
        }
    }

    static std::string join_keywords(const std::set<std::string>& keywords) {
        std::string out;
        for (const std::string& k : keywords) out += (out.empty() ? "'" : " or '") + k + "'";
        return out;
    }

    // The end keyword parse_body stopped at (after its `{%`).
    std::string take_keyword() { return expect_name(); }

    NodePtr parse_statement() {
        const int line = current().line;
        if (current().type != Type::Name) fail_syntax("expected a statement name, got " + describe(current()));
        const std::string keyword = current().text;
        auto node = std::make_unique<Node>();
        node->line = line;
        if (keyword == "if") {
            next();
            node->kind = Node::Kind::If;
            while (true) {
                ExprPtr condition = parse_tuple(false);
                expect_block_end();
                Body body = parse_body({"elif", "else", "endif"});
                node->branches.emplace_back(std::move(condition), std::move(body));
                const std::string end = take_keyword();
                if (end == "elif") continue;
                if (end == "else") {
                    expect_block_end();
                    node->else_body = parse_body({"endif"});
                    take_keyword();
                }
                break;
            }
        } else if (keyword == "for") {
            next();
            node->kind = Node::Kind::For;
            node->targets.push_back(expect_name());
            while (skip_operator(",")) node->targets.push_back(expect_name());
            if (!skip_name("in")) fail_syntax("expected 'in' in for loop, got " + describe(current()));
            node->expr = parse_expression(/*with_condition=*/false);
            if (skip_name("if")) node->condition = parse_expression(true);
            if (at_name("recursive")) fail_unsupported_construct("a recursive for loop");
            expect_block_end();
            node->body = parse_body({"else", "endfor"});
            if (take_keyword() == "else") {
                expect_block_end();
                node->else_body = parse_body({"endfor"});
                take_keyword();
            }
        } else if (keyword == "set") {
            next();
            node->kind = Node::Kind::Set;
            node->targets.push_back(expect_name());
            if (skip_operator(".")) {
                node->attribute = expect_name();
            } else {
                while (skip_operator(",")) node->targets.push_back(expect_name());
            }
            if (skip_operator("=")) {
                node->expr = parse_tuple(true);
            } else {
                if (node->targets.size() != 1 || !node->attribute.empty()) fail_syntax("a block set assigns one name");
                if (at_operator("|")) fail_unsupported_construct("a filtered block set");
                expect_block_end();
                node->body = parse_body({"endset"});
                take_keyword();
            }
        } else if (keyword == "macro") {
            next();
            node->kind = Node::Kind::Macro;
            node->text = expect_name();
            node->parameters = parse_parameters();
            expect_block_end();
            node->body = parse_body({"endmacro"});
            take_keyword();
            if (current().type == Type::Name) next();  // {% endmacro name %}
            node->reads_varargs = reads_name(node->body, "varargs");
            node->reads_kwargs = reads_name(node->body, "kwargs");
            node->reads_caller = reads_name(node->body, "caller");
        } else if (keyword == "call") {
            next();
            node->kind = Node::Kind::CallBlock;
            if (at_operator("(")) node->parameters = parse_parameters();
            node->expr = parse_expression(true);
            if (node->expr->kind != Expr::Kind::Call) fail_syntax("expected a call after 'call'");
            expect_block_end();
            node->body = parse_body({"endcall"});
            take_keyword();
            node->reads_varargs = reads_name(node->body, "varargs");
            node->reads_kwargs = reads_name(node->body, "kwargs");
            node->reads_caller = reads_name(node->body, "caller");
        } else if (keyword == "filter") {
            next();
            node->kind = Node::Kind::FilterBlock;
            auto placeholder = make(Expr::Kind::Literal, line);
            placeholder->value = Value(std::string());
            node->expr = parse_filter_chain(std::move(placeholder), /*first_pipe_implicit=*/true);
            expect_block_end();
            node->body = parse_body({"endfilter"});
            take_keyword();
        } else if (keyword == "break" || keyword == "continue") {
            next();
            node->kind = keyword == "break" ? Node::Kind::Break : Node::Kind::Continue;
        } else if (keyword == "generation") {
            next();
            node->kind = Node::Kind::Generation;
            expect_block_end();
            node->body = parse_body({"endgeneration"});
            take_keyword();
        } else if (keyword == "include" || keyword == "import" || keyword == "from" || keyword == "extends" ||
                   keyword == "block" || keyword == "raw" || keyword == "with" || keyword == "autoescape" ||
                   keyword == "do" || keyword == "trans") {
            fail_unsupported_construct("the '" + keyword + "' statement");
        } else {
            fail_syntax("unknown statement " + quote(keyword));
        }
        expect_block_end();
        return node;
    }

    // (name, name=default, ...) of a macro or call block.
    std::vector<Parameter> parse_parameters() {
        std::vector<Parameter> parameters;
        expect_operator("(");
        while (!at_operator(")")) {
            if (!parameters.empty()) expect_operator(",");
            if (at_operator(")")) break;
            Parameter p;
            p.name = expect_name();
            if (skip_operator("=")) {
                p.default_value = parse_expression(true);
            } else if (!parameters.empty() && parameters.back().default_value) {
                fail_syntax("a parameter without a default follows one with a default");
            }
            parameters.push_back(std::move(p));
        }
        next();
        return parameters;
    }

    // ---- Expressions (jinja2/parser.py, same precedence) -------------------------------------
    // An expression, or a tuple of them when separated by commas (`{{ a, b }}`).
    ExprPtr parse_tuple(bool with_condition, bool allow_tuple = true) {
        const int line = current().line;
        ExprPtr first = parse_expression(with_condition);
        if (!allow_tuple || !at_operator(",")) return first;
        auto tuple = make(Expr::Kind::TupleLit, line);
        tuple->children.push_back(std::move(first));
        while (skip_operator(",")) {
            if (!starts_expression()) break;
            tuple->children.push_back(parse_expression(with_condition));
        }
        return tuple;
    }

    bool starts_expression() const {
        const Token& t = current();
        if (t.type == Type::Name || t.type == Type::String || t.type == Type::Integer || t.type == Type::Float) {
            return true;
        }
        return t.type == Type::Operator &&
               (t.text == "(" || t.text == "[" || t.text == "{" || t.text == "-" || t.text == "+");
    }

    ExprPtr parse_expression(bool with_condition) {
        NestingGuard guard(*this);
        if (!with_condition) return parse_or();
        const int line = current().line;
        ExprPtr expr = parse_or();
        while (at_name("if")) {
            next();
            auto cond = make(Expr::Kind::Condition, line);
            ExprPtr test = parse_or();
            ExprPtr otherwise = skip_name("else") ? parse_expression(true) : nullptr;
            cond->children.push_back(std::move(test));
            cond->children.push_back(std::move(expr));
            cond->children.push_back(std::move(otherwise));
            expr = std::move(cond);
        }
        return expr;
    }

    ExprPtr binary(const std::string& op, ExprPtr left, ExprPtr right, int line) {
        auto e = make(Expr::Kind::Binary, line);
        e->name = op;
        e->children.push_back(std::move(left));
        e->children.push_back(std::move(right));
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (at_name("or")) {
            const int line = next().line;
            left = binary("or", std::move(left), parse_and(), line);
        }
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (at_name("and")) {
            const int line = next().line;
            left = binary("and", std::move(left), parse_not(), line);
        }
        return left;
    }

    ExprPtr parse_not() {
        if (at_name("not")) {
            NestingGuard guard(*this);
            auto e = make(Expr::Kind::Unary, next().line);
            e->name = "not";
            e->children.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        const int line = current().line;
        ExprPtr first = parse_math1();
        ExprPtr compare;
        while (true) {
            std::string op;
            const Token& t = current();
            if (t.type == Type::Operator && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" ||
                                             t.text == ">" || t.text == ">=")) {
                op = t.text;
                next();
            } else if (at_name("in")) {
                op = "in";
                next();
            } else if (at_name("not") && peek().type == Type::Name && peek().text == "in") {
                op = "notin";
                next();
                next();
            } else {
                break;
            }
            if (!compare) {
                compare = make(Expr::Kind::Compare, line);
                compare->children.push_back(std::move(first));
            }
            compare->ops.push_back(op);
            compare->children.push_back(parse_math1());
        }
        return compare ? std::move(compare) : std::move(first);
    }

    ExprPtr parse_math1() {
        ExprPtr left = parse_concat();
        while (at_operator("+") || at_operator("-")) {
            const Token& op = next();
            left = binary(op.text, std::move(left), parse_concat(), op.line);
        }
        return left;
    }

    ExprPtr parse_concat() {
        ExprPtr left = parse_math2();
        while (at_operator("~")) {
            const int line = next().line;
            left = binary("~", std::move(left), parse_math2(), line);
        }
        return left;
    }

    ExprPtr parse_math2() {
        ExprPtr left = parse_pow();
        while (at_operator("*") || at_operator("/") || at_operator("//") || at_operator("%")) {
            const Token& op = next();
            left = binary(op.text, std::move(left), parse_pow(), op.line);
        }
        return left;
    }

    ExprPtr parse_pow() {
        ExprPtr left = parse_unary(true);
        while (at_operator("**")) {
            const int line = next().line;
            left = binary("**", std::move(left), parse_unary(true), line);
        }
        return left;
    }

    ExprPtr parse_unary(bool with_filter) {
        NestingGuard guard(*this);
        ExprPtr node;
        if (at_operator("-") || at_operator("+")) {
            const Token& op = next();
            node = make(Expr::Kind::Unary, op.line);
            node->name = op.text;
            node->children.push_back(parse_unary(false));
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filter_chain(std::move(node), false);
        return node;
    }

    ExprPtr parse_primary() {
        const Token& t = current();
        const int line = t.line;
        switch (t.type) {
            case Type::Name: {
                next();
                auto e = make(Expr::Kind::Literal, line);
                if (t.text == "true" || t.text == "True") {
                    e->value = Value(true);
                } else if (t.text == "false" || t.text == "False") {
                    e->value = Value(false);
                } else if (t.text == "none" || t.text == "None") {
                    e->value = Value::none();
                } else {
                    e->kind = Expr::Kind::Name;
                    e->name = t.text;
                }
                return e;
            }
            case Type::String: {
                auto e = make(Expr::Kind::Literal, line);
                std::string text;
                while (current().type == Type::String) text += next().text;  // 'a' 'b' concatenates
                e->value = Value(std::move(text));
                return e;
            }
            case Type::Integer: {
                auto e = make(Expr::Kind::Literal, line);
                errno = 0;
                char* end = nullptr;
                const long long v = std::strtoll(t.text.c_str(), &end, 10);
                if (errno == ERANGE || *end != '\0')
                    fail_syntax("integer literal " + quote(t.text) + " is out of range");
                e->value = Value(static_cast<int64_t>(v));
                next();
                return e;
            }
            case Type::Float: {
                auto e = make(Expr::Kind::Literal, line);
                e->value = Value(std::strtod(t.text.c_str(), nullptr));
                next();
                return e;
            }
            case Type::Operator:
                if (t.text == "(") {
                    next();
                    if (skip_operator(")")) return make(Expr::Kind::TupleLit, line);
                    ExprPtr inner = parse_expression(true);
                    if (at_operator(",")) {
                        auto tuple = make(Expr::Kind::TupleLit, line);
                        tuple->children.push_back(std::move(inner));
                        while (skip_operator(",") && !at_operator(")"))
                            tuple->children.push_back(parse_expression(true));
                        inner = std::move(tuple);
                    }
                    expect_operator(")");
                    return inner;
                }
                if (t.text == "[") {
                    next();
                    auto list = make(Expr::Kind::ListLit, line);
                    while (!at_operator("]")) {
                        if (!list->children.empty()) expect_operator(",");
                        if (at_operator("]")) break;
                        list->children.push_back(parse_expression(true));
                    }
                    next();
                    return list;
                }
                if (t.text == "{") {
                    next();
                    auto dict = make(Expr::Kind::DictLit, line);
                    while (!at_operator("}")) {
                        if (!dict->children.empty()) expect_operator(",");
                        if (at_operator("}")) break;
                        dict->children.push_back(parse_expression(true));
                        expect_operator(":");
                        dict->children.push_back(parse_expression(true));
                    }
                    next();
                    return dict;
                }
                [[fallthrough]];
            default: fail_syntax("unexpected " + describe(t));
        }
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            const int line = current().line;
            if (at_operator(".")) {
                next();
                auto e = make(Expr::Kind::GetAttr, line);
                if (current().type == Type::Name) {
                    e->name = next().text;
                } else if (current().type == Type::Integer) {
                    // `items.0` is items[0]
                    e->kind = Expr::Kind::GetItem;
                    auto index = make(Expr::Kind::Literal, line);
                    index->value = Value(static_cast<int64_t>(std::strtoll(next().text.c_str(), nullptr, 10)));
                    e->children.push_back(std::move(node));
                    e->children.push_back(std::move(index));
                    node = std::move(e);
                    continue;
                } else {
                    fail_syntax("expected an attribute name after '.', got " + describe(current()));
                }
                e->children.push_back(std::move(node));
                node = std::move(e);
            } else if (at_operator("[")) {
                next();
                node = parse_subscript(std::move(node), line);
            } else if (at_operator("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr object, int line) {
        ExprPtr parts[3];
        bool is_slice = false;
        for (int part = 0; part < 3; ++part) {
            if (!at_operator(":") && !at_operator("]")) parts[part] = parse_expression(true);
            if (part < 2 && skip_operator(":")) {
                is_slice = true;
                continue;
            }
            break;
        }
        if (!is_slice && !parts[0]) fail_syntax("expected an index inside '[]'");
        if (!is_slice && at_operator(",")) {
            // x[a, b] subscripts with the tuple (a, b), as in Python.
            auto tuple = make(Expr::Kind::TupleLit, line);
            tuple->children.push_back(std::move(parts[0]));
            while (skip_operator(",") && !at_operator("]")) tuple->children.push_back(parse_expression(true));
            parts[0] = std::move(tuple);
        }
        expect_operator("]");
        auto e = make(is_slice ? Expr::Kind::Slice : Expr::Kind::GetItem, line);
        e->children.push_back(std::move(object));
        for (int part = 0; part < (is_slice ? 3 : 1); ++part) e->children.push_back(std::move(parts[part]));
        return e;
    }

    // (args, name=value) after a callee, filter or test; appended to `call`'s children/keywords.
    void parse_arguments(Expr& call) {
        expect_operator("(");
        bool first = true;
        while (!at_operator(")")) {
            if (!first) {
                expect_operator(",");
                if (at_operator(")")) break;
            }
            first = false;
            if (at_operator("*") || at_operator("**")) fail_unsupported_construct("'*args' / '**kwargs' in a call");
            if (current().type == Type::Name && peek().type == Type::Operator && peek().text == "=") {
                std::string key = next().text;
                next();
                call.keywords.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!call.keywords.empty()) fail_syntax("a positional argument follows a keyword argument");
                call.children.push_back(parse_expression(true));
            }
        }
        next();
    }

    ExprPtr parse_call(ExprPtr callee) {
        auto e = make(Expr::Kind::Call, current().line);
        e->children.push_back(std::move(callee));
        parse_arguments(*e);
        return e;
    }

    // `| name(args)` filters and `is [not] name args` tests after an operand.
    ExprPtr parse_filter_chain(ExprPtr node, bool first_pipe_implicit) {
        bool implicit = first_pipe_implicit;
        while (true) {
            const int line = current().line;
            if (implicit || at_operator("|")) {
                if (!implicit) next();
                implicit = false;
                auto e = make(Expr::Kind::Filter, line);
                e->name = expect_name();
                while (skip_operator(".")) {
                    e->name += '.';  // appended apart: GCC 12 warns falsely (-Wrestrict) on "." + string
                    e->name += expect_name();
                }
                // Jinja refuses unknown filters when it compiles the template, even in branches
                // that never run; so does this parser.
                if (!is_known_filter(e->name)) fail_unsupported_construct("the filter " + quote(e->name));
                e->children.push_back(std::move(node));
                if (at_operator("(")) parse_arguments(*e);
                node = std::move(e);
            } else if (at_name("is")) {
                next();
                auto e = make(Expr::Kind::Test, line);
                e->negated = skip_name("not");
                e->name = expect_name();
                while (skip_operator(".")) {
                    e->name += '.';  // appended apart: GCC 12 warns falsely (-Wrestrict) on "." + string
                    e->name += expect_name();
                }
                if (!is_known_test(e->name)) fail_unsupported_construct("the test " + quote(e->name));
                e->children.push_back(std::move(node));
                if (at_operator("("))
                    parse_arguments(*e);
                else if ((current().type == Type::Name || current().type == Type::String ||
                          current().type == Type::Integer || current().type == Type::Float || at_operator("(") ||
                          at_operator("[") || at_operator("{")) &&
                         !at_name("else") && !at_name("or") && !at_name("and")) {
                    if (at_name("is")) fail_syntax("tests cannot be chained with 'is'");
                    e->children.push_back(parse_postfix(parse_primary()));
                }
                node = std::move(e);
            } else if (at_operator("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    const std::vector<Token>& tokens_;
    size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

Body parse_template(const std::vector<Token>& tokens) { return Parser(tokens).parse(); }

}  // namespace krait::jinja
