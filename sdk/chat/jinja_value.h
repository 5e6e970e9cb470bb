// The values a chat template computes with, and the Python semantics Jinja gives them.
//
// Jinja runs on Python objects, so a template's output depends on Python's rules: str(True) is
// "True", 1 == 1.0 == True, '%r'-style reprs of lists and dicts, code-point (not byte) string
// lengths and slices, json.dumps spacing. Value reproduces exactly those rules for the types a chat
// template sees (JSON data, plus what the template builds: namespaces, macros, loop objects).
//
// Strings are UTF-8 (validated where they enter); lists, dicts and namespaces are shared by
// reference as in Python, which is what makes `{% set ns.found = true %}` inside a loop visible
// after it. Dicts keep insertion order (Python 3.7+), which tojson and items() depend on.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sdk/core/json.h"

#include "krait/krait.h"

namespace krait::jinja {

// A failure inside an operation on values (a type error, an unknown filter, ...). It carries no
// position: the renderer turns it into krait::Error with the template line of the expression.
class EvalError : public std::runtime_error {
public:
    EvalError(krait_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    krait_status status() const noexcept { return status_; }

private:
    krait_status status_;
};

// The longest string or list an operation may build, so that a runaway template (a string doubled
// in a loop, 'x' * 10**9) fails cleanly instead of exhausting memory.
constexpr size_t kMaxValueBytes = size_t{64} << 20;

// How deeply lists, dicts and namespaces may nest, in the caller's data and in what a template
// builds: far beyond real chat data, and shallow enough that recursive printing, comparison and
// destruction stay well within the stack.
constexpr int kMaxValueDepth = 256;

[[noreturn]] void fail_type(const std::string& message);             // KRAIT_ERR_INVALID_ARGUMENT
[[noreturn]] void fail_unsupported_use(const std::string& message);  // KRAIT_ERR_UNSUPPORTED

class Value;
using List = std::vector<Value>;

// A Python dict with string keys, in insertion order. Chat data has few keys per dict, so a
// linear search beats hashing and keeps the order for free.
class Dict {
public:
    const Value* find(std::string_view key) const;
    Value* find(std::string_view key);
    void set(const std::string& key, Value value);  // replaces in place or appends
    const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
    size_t size() const;  // defined below Value (clang needs Value complete for pair<string, Value>)

private:
    std::vector<std::pair<std::string, Value>> entries_;
};

// Arguments of a call: f(a, b, key=c).
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
};

// Anything callable from a template: macros, caller(), globals such as range() and bound methods
// such as message.content.strip.
struct Function {
    std::string name;
    std::function<Value(CallArgs&)> call;
    std::string repr;  // how str() shows it (Jinja's "<Macro 'name'>"); empty: "<function name>"
};

// jinja2.utils.Namespace: a dict whose entries are read and assigned as attributes.
struct Namespace {
    Dict attributes;
};

// ns.name = value. A namespace may not hold another namespace, even nested in a list: that is
// what would let a template build reference cycles or unbounded nesting. Names starting with '_'
// are refused as transformers refuses them.
void set_attribute(Namespace& ns, const std::string& name, Value value);

// Jinja's default Undefined: prints as "", is falsy and iterates as empty, but any other use
// (attribute, item, arithmetic, call) fails with `hint`, e.g. "'foo' is undefined".
struct Undefined {
    std::string hint;
};

class Value {
public:
    enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };

    Value() : data_(jinja::Undefined{}) {}
    static Value undefined(std::string hint) { return Value(Data(jinja::Undefined{std::move(hint)})); }
    static Value none() { return Value(Data(nullptr)); }
    Value(bool b) : data_(b) {}
    Value(int64_t i) : data_(i) {}
    Value(int i) : data_(static_cast<int64_t>(i)) {}
    Value(double d) : data_(d) {}
    Value(std::string s) : data_(std::move(s)) {}
    Value(const char* s) : data_(std::string(s)) {}
    Value(List list);
    // A Python tuple: a list to everything but repr(), which writes (a, b) and (a,).
    static Value tuple(List items) {
        Value v(std::move(items));
        v.tuple_ = true;
        return v;
    }
    Value(jinja::Dict dict);
    Value(std::shared_ptr<jinja::Namespace> ns);
    Value(std::shared_ptr<jinja::Function> fn) : data_(std::move(fn)) {}

    // JSON data (messages, tools, extra variables) as template values; objects keep their order.
    // Throws krait::Error for binary values, which JSON text cannot hold.
    static Value from_json(const nlohmann::ordered_json& json, int depth = 0);

    Kind kind() const { return static_cast<Kind>(data_.index()); }
    bool is_undefined() const { return kind() == Kind::Undefined; }
    bool is_none() const { return kind() == Kind::None; }
    bool is_bool() const { return kind() == Kind::Bool; }
    bool is_int() const { return kind() == Kind::Int; }
    bool is_float() const { return kind() == Kind::Float; }
    bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
    bool is_string() const { return kind() == Kind::String; }
    bool is_list() const { return kind() == Kind::List; }
    bool is_tuple() const { return tuple_; }
    // Nesting of lists, dicts and namespaces: 0 for scalars, 1 + the deepest element otherwise
    // (a namespace's as when it was made; namespaces cannot hold namespaces, see set_attribute).
    int depth() const { return depth_; }
    bool is_dict() const { return kind() == Kind::Dict; }
    bool is_namespace() const { return kind() == Kind::Namespace; }
    bool is_function() const { return kind() == Kind::Function; }

    bool as_bool() const { return std::get<bool>(data_); }
    int64_t as_int() const { return std::get<int64_t>(data_); }
    double as_float() const { return std::get<double>(data_); }
    const std::string& as_string() const { return std::get<std::string>(data_); }
    const List& as_list() const { return *std::get<std::shared_ptr<jinja::List>>(data_); }
    const Dict& as_dict() const { return *std::get<std::shared_ptr<jinja::Dict>>(data_); }
    Namespace& as_namespace() const { return *std::get<std::shared_ptr<jinja::Namespace>>(data_); }
    const Function& as_function() const { return *std::get<std::shared_ptr<jinja::Function>>(data_); }
    const std::string& undefined_hint() const { return std::get<jinja::Undefined>(data_).hint; }

    // A number as double / as an integer (bool counts as 0 or 1, as in Python).
    double to_double() const;
    int64_t to_int_exact() const;  // Int or Bool only

    // Python truthiness; Undefined is falsy.
    bool truthy() const;
    // Python str() (Undefined is ""), and repr() as used inside the str() of lists and dicts.
    std::string str() const;
    std::string repr() const;
    // Python's type name for messages: "str", "int", "dict", "list", "undefined", ...
    std::string type_name() const;

    // The elements `for x in value` visits: a list's items, a dict's keys, a string's characters;
    // Undefined iterates as empty. Anything else is a type error.
    List iterate() const;
    // len(): code points of a string, items of a list or dict.
    int64_t length() const;

    // json.dumps(value, ensure_ascii=False, indent=indent, separators=..., sort_keys=...), which is
    // what transformers installs as the tojson filter. indent < 0 means None.
    std::string to_json(int indent, const std::string& item_separator, const std::string& key_separator,
                        bool sort_keys) const;

private:
    using Data =
        std::variant<jinja::Undefined, std::nullptr_t, bool, int64_t, double, std::string, std::shared_ptr<jinja::List>,
                     std::shared_ptr<jinja::Dict>, std::shared_ptr<jinja::Namespace>, std::shared_ptr<jinja::Function>>;
    explicit Value(Data data) : data_(std::move(data)) {}
    Data data_;
    bool tuple_ = false;
    int depth_ = 0;
};

inline size_t Dict::size() const { return entries_.size(); }

// Helpers for the functions templates call (filters, tests, methods, globals).
void check_value_bytes(size_t bytes);              // fails beyond kMaxValueBytes
[[noreturn]] void fail_undefined(const Value& v);  // with the Undefined's hint
const std::string& require_string(const Value& v, const std::string& what);

// Binds a call's arguments to a Python-style signature: positional arguments fill the parameters
// in order, keywords by name. Unknown or surplus arguments are errors, as in Python.
class Signature {
public:
    Signature(CallArgs& call, const std::string& what, std::initializer_list<const char*> names)
        : bound_(names.size()) {
        const std::vector<const char*> params(names);
        if (call.positional.size() > params.size()) {
            fail_type(what + "() takes at most " + std::to_string(params.size()) + " argument(s), got " +
                      std::to_string(call.positional.size()));
        }
        for (size_t i = 0; i < call.positional.size(); ++i) bound_[i] = &call.positional[i];
        for (auto& [key, value] : call.keyword) {
            size_t i = 0;
            while (i < params.size() && key != params[i]) ++i;
            if (i == params.size()) fail_type(what + "() got an unexpected keyword argument '" + key + "'");
            if (bound_[i]) fail_type(what + "() got multiple values for argument '" + key + "'");
            bound_[i] = &value;
        }
    }
    const Value* get(size_t i) const { return bound_[i]; }
    Value get_or(size_t i, Value fallback) const { return bound_[i] ? *bound_[i] : std::move(fallback); }
    const Value& require(size_t i, const std::string& what) const {
        if (!bound_[i]) fail_type(what + "() is missing a required argument");
        return *bound_[i];
    }

private:
    std::vector<const Value*> bound_;
};

// Python ==, and <, <=, >, >= (those raise a type error between unordered types, as in Python).
bool values_equal(const Value& a, const Value& b);
int compare_values(const Value& a, const Value& b);  // -1, 0, 1

// Unicode helpers with Python's str semantics (code points, str.isspace).
bool python_isspace(char32_t cp);
std::vector<char32_t> code_points(std::string_view text);
std::string from_code_points(const std::vector<char32_t>& cps, size_t begin, size_t end);

}  // namespace krait::jinja
