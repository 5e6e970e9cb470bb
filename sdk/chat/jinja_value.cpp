#include "sdk/chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"
#include "sdk/tokenizer/unicode.h"

namespace krait::jinja {

void fail_type(const std::string& message) { throw EvalError(KRAIT_ERR_INVALID_ARGUMENT, message); }
void fail_unsupported_use(const std::string& message) { throw EvalError(KRAIT_ERR_UNSUPPORTED, message); }

void check_value_bytes(size_t bytes) {
    if (bytes > kMaxValueBytes) {
        fail_type("the template builds a value larger than " + std::to_string(kMaxValueBytes >> 20) + " MiB");
    }
}

void fail_undefined(const Value& v) { fail_type(v.undefined_hint()); }

const std::string& require_string(const Value& v, const std::string& what) {
    if (!v.is_string()) fail_type(what + " expects a string, got " + v.type_name());
    return v.as_string();
}

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : entries_) {
        if (k == key) return &v;
    }
    return nullptr;
}

Value* Dict::find(std::string_view key) {
    for (auto& [k, v] : entries_) {
        if (k == key) return &v;
    }
    return nullptr;
}

void Dict::set(const std::string& key, Value value) {
    if (Value* existing = find(key)) {
        *existing = std::move(value);
    } else {
        entries_.emplace_back(key, std::move(value));
    }
}

namespace {

int max_depth(const List& items) {
    int deepest = 0;
    for (const Value& v : items) deepest = std::max(deepest, v.depth());
    return deepest;
}

int max_depth(const Dict& dict) {
    int deepest = 0;
    for (const auto& entry : dict.entries()) deepest = std::max(deepest, entry.second.depth());
    return deepest;
}

bool holds_namespace(const Value& v) {
    if (v.is_namespace()) return true;
    if (v.is_list()) return std::any_of(v.as_list().begin(), v.as_list().end(), holds_namespace);
    if (v.is_dict()) {
        const auto& entries = v.as_dict().entries();
        return std::any_of(entries.begin(), entries.end(), [](const auto& e) { return holds_namespace(e.second); });
    }
    return false;
}

}  // namespace

Value::Value(List list) : depth_(1 + max_depth(list)) { data_ = std::make_shared<jinja::List>(std::move(list)); }

Value::Value(jinja::Dict dict) : depth_(1 + max_depth(dict)) { data_ = std::make_shared<jinja::Dict>(std::move(dict)); }

Value::Value(std::shared_ptr<jinja::Namespace> ns) : depth_(1 + max_depth(ns->attributes)) { data_ = std::move(ns); }

void set_attribute(Namespace& ns, const std::string& name, Value value) {
    if (!name.empty() && name[0] == '_') {
        fail_type("chat templates cannot store underscore-prefixed attributes on a namespace, got " + quote(name));
    }
    if (holds_namespace(value)) fail_unsupported_use("storing a namespace inside a namespace");
    ns.attributes.set(name, std::move(value));
}

Value Value::from_json(const nlohmann::ordered_json& json, int depth) {
    if (depth > kMaxValueDepth) {
        fail_argument("JSON data nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
    }
    switch (json.type()) {
        case nlohmann::ordered_json::value_t::null: return none();
        case nlohmann::ordered_json::value_t::boolean: return Value(json.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return Value(json.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const uint64_t u = json.get<uint64_t>();
            if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
            return Value(static_cast<int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float: return Value(json.get<double>());
        case nlohmann::ordered_json::value_t::string: return Value(json.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            List list;
            list.reserve(json.size());
            for (const auto& item : json) list.push_back(from_json(item, depth + 1));
            return Value(std::move(list));
        }
        case nlohmann::ordered_json::value_t::object: {
            Dict dict;
            for (auto it = json.begin(); it != json.end(); ++it) dict.set(it.key(), from_json(it.value(), depth + 1));
            return Value(std::move(dict));
        }
        default: fail_argument("binary JSON values cannot be passed to a chat template");
    }
}

double Value::to_double() const {
    switch (kind()) {
        case Kind::Bool: return as_bool() ? 1.0 : 0.0;
        case Kind::Int: return static_cast<double>(as_int());
        case Kind::Float: return as_float();
        default: fail_type("expected a number, got " + type_name());
    }
}

int64_t Value::to_int_exact() const {
    if (is_bool()) return as_bool() ? 1 : 0;
    if (is_int()) return as_int();
    fail_type("expected an integer, got " + type_name());
}

bool Value::truthy() const {
    switch (kind()) {
        case Kind::Undefined:
        case Kind::None: return false;
        case Kind::Bool: return as_bool();
        case Kind::Int: return as_int() != 0;
        case Kind::Float: return as_float() != 0.0;
        case Kind::String: return !as_string().empty();
        case Kind::List: return !as_list().empty();
        case Kind::Dict: return as_dict().size() != 0;
        case Kind::Namespace:
        case Kind::Function: return true;
    }
    return false;
}

std::string Value::type_name() const {
    switch (kind()) {
        case Kind::Undefined: return "undefined";
        case Kind::None: return "NoneType";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "str";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Namespace: return "Namespace";
        case Kind::Function: return "function";
    }
    return "object";
}

namespace {

// Python float repr: the shortest text that reads back as the same double ("0.1", "1e-05", "2.0").
std::string python_float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    // Shortest round-trip digits in scientific form, then laid out as Python's repr does:
    // positional for exponents in [-4, 16), scientific with a two-digit exponent otherwise.
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    std::string sign;
    if (sci[0] == '-') {
        sign = "-";
        sci.erase(0, 1);
    }
    const size_t e = sci.find('e');
    std::string digits = sci.substr(0, e);
    digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
    const int exponent = std::stoi(sci.substr(e + 1));
    if (exponent >= -4 && exponent < 16) {
        std::string out;
        if (exponent < 0) {
            out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
        } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
            out = digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
        } else {
            out = digits.substr(0, static_cast<size_t>(exponent) + 1) + "." +
                  digits.substr(static_cast<size_t>(exponent) + 1);
        }
        return sign + out;
    }
    std::string mantissa = digits.substr(0, 1);
    if (digits.size() > 1) mantissa += "." + digits.substr(1);
    char exp_text[16];
    std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return sign + mantissa + exp_text;
}

// Python's repr of a str: single quotes unless the text has ' and no ", escapes for \\, the quote,
// \n \r \t and other non-printable ASCII (non-ASCII printable text is kept as it is).
std::string python_string_repr(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    std::string out(1, quote);
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == quote || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", u);
            out += hex;
        } else {
            out += c;
        }
    }
    out += quote;
    return out;
}

// json.dumps string escaping with ensure_ascii=False.
void append_json_string(std::string& out, const std::string& s) {
    out += '"';
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (u < 0x20) {
                    char hex[8];
                    std::snprintf(hex, sizeof hex, "\\u%04x", u);
                    out += hex;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

void append_json(std::string& out, const Value& v, int indent, int depth, const std::string& item_sep,
                 const std::string& key_sep, bool sort_keys) {
    const auto newline = [&](int level) {
        if (indent < 0) return;
        out += '\n';
        out.append(static_cast<size_t>(indent) * static_cast<size_t>(level), ' ');
    };
    switch (v.kind()) {
        case Value::Kind::None: out += "null"; return;
        case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
        case Value::Kind::Int: out += std::to_string(v.as_int()); return;
        case Value::Kind::Float: {
            const double d = v.as_float();
            out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : python_float_repr(d);
            return;
        }
        case Value::Kind::String: append_json_string(out, v.as_string()); return;
        case Value::Kind::List: {
            const List& list = v.as_list();
            if (list.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < list.size(); ++i) {
                if (i) out += item_sep;
                newline(depth + 1);
                append_json(out, list[i], indent, depth + 1, item_sep, key_sep, sort_keys);
            }
            newline(depth);
            out += ']';
            return;
        }
        case Value::Kind::Dict:
        case Value::Kind::Namespace: {
            const Dict& dict = v.is_dict() ? v.as_dict() : v.as_namespace().attributes;
            if (dict.size() == 0) {
                out += "{}";
                return;
            }
            std::vector<const std::pair<std::string, Value>*> entries;
            for (const auto& entry : dict.entries()) entries.push_back(&entry);
            if (sort_keys) {
                std::stable_sort(entries.begin(), entries.end(),
                                 [](const auto* a, const auto* b) { return a->first < b->first; });
            }
            out += '{';
            for (size_t i = 0; i < entries.size(); ++i) {
                if (i) out += item_sep;
                newline(depth + 1);
                append_json_string(out, entries[i]->first);
                out += key_sep;
                append_json(out, entries[i]->second, indent, depth + 1, item_sep, key_sep, sort_keys);
            }
            newline(depth);
            out += '}';
            return;
        }
        case Value::Kind::Undefined: fail_type("Object of type Undefined is not JSON serializable");
        case Value::Kind::Function: fail_type("Object of type function is not JSON serializable");
    }
}

}  // namespace

std::string Value::repr() const {
    switch (kind()) {
        case Kind::String: return python_string_repr(as_string());
        case Kind::List: {
            std::string out = tuple_ ? "(" : "[";
            const List& list = as_list();
            for (size_t i = 0; i < list.size(); ++i) {
                if (i) out += ", ";
                out += list[i].repr();
            }
            if (tuple_) return out + (list.size() == 1 ? ",)" : ")");
            return out + "]";
        }
        case Kind::Dict: {
            std::string out = "{";
            bool first = true;
            for (const auto& [k, v] : as_dict().entries()) {
                if (!first) out += ", ";
                first = false;
                out += python_string_repr(k) + ": " + v.repr();
            }
            return out + "}";
        }
        case Kind::Undefined: return "Undefined";  // inside a list's or dict's str()
        default: return str();
    }
}

std::string Value::str() const {
    switch (kind()) {
        case Kind::Undefined: return "";
        case Kind::None: return "None";
        case Kind::Bool: return as_bool() ? "True" : "False";
        case Kind::Int: return std::to_string(as_int());
        case Kind::Float: return python_float_repr(as_float());
        case Kind::String: return as_string();
        case Kind::List:
        case Kind::Dict: return repr();
        case Kind::Namespace: return "<Namespace " + Value(as_namespace().attributes).repr() + ">";
        case Kind::Function: {
            const Function& f = as_function();
            return f.repr.empty() ? "<function " + f.name + ">" : f.repr;
        }
    }
    return "";
}

List Value::iterate() const {
    switch (kind()) {
        case Kind::Undefined: return {};
        case Kind::List: return as_list();
        case Kind::Dict: {
            List keys;
            for (const auto& entry : as_dict().entries()) keys.emplace_back(entry.first);
            return keys;
        }
        case Kind::String: {
            List chars;
            const std::string& s = as_string();
            for (size_t pos = 0; pos < s.size();) {
                const size_t start = pos;
                tok::next_code_point(s, pos);
                chars.emplace_back(s.substr(start, pos - start));
            }
            return chars;
        }
        default: fail_type("'" + type_name() + "' object is not iterable");
    }
}

int64_t Value::length() const {
    switch (kind()) {
        case Kind::Undefined: return 0;
        case Kind::String: {
            int64_t n = 0;
            for (const char c : as_string()) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
            return n;
        }
        case Kind::List: return static_cast<int64_t>(as_list().size());
        case Kind::Dict: return static_cast<int64_t>(as_dict().size());
        default: fail_type("object of type '" + type_name() + "' has no len()");
    }
}

std::string Value::to_json(int indent, const std::string& item_separator, const std::string& key_separator,
                           bool sort_keys) const {
    std::string out;
    append_json(out, *this, indent, 0, item_separator, key_separator, sort_keys);
    return out;
}

bool values_equal(const Value& a, const Value& b) {
    using K = Value::Kind;
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
        return a.to_int_exact() == b.to_int_exact();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case K::Undefined:
        case K::None: return true;
        case K::String: return a.as_string() == b.as_string();
        case K::List: {
            const List& x = a.as_list();
            const List& y = b.as_list();
            if (x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i) {
                if (!values_equal(x[i], y[i])) return false;
            }
            return true;
        }
        case K::Dict: {
            const Dict& x = a.as_dict();
            const Dict& y = b.as_dict();
            if (x.size() != y.size()) return false;
            for (const auto& [k, v] : x.entries()) {
                const Value* other = y.find(k);
                if (!other || !values_equal(v, *other)) return false;
            }
            return true;
        }
        case K::Namespace: return &a.as_namespace() == &b.as_namespace();
        case K::Function: return &a.as_function() == &b.as_function();
        default: return false;
    }
}

int compare_values(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            const double x = a.to_double(), y = b.to_double();
            return x < y ? -1 : x > y ? 1 : 0;
        }
        const int64_t x = a.to_int_exact(), y = b.to_int_exact();
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        // UTF-8 byte order is code point order, which is how Python orders str.
        const int c = a.as_string().compare(b.as_string());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_list() && b.is_list()) {
        const List& x = a.as_list();
        const List& y = b.as_list();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (!values_equal(x[i], y[i])) return compare_values(x[i], y[i]);
        }
        return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    fail_type("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

bool python_isspace(char32_t cp) {
    switch (cp) {
        case 0x09:
        case 0x0A:
        case 0x0B:
        case 0x0C:
        case 0x0D:
        case 0x1C:
        case 0x1D:
        case 0x1E:
        case 0x1F:
        case 0x20:
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000: return true;
        default: return cp >= 0x2000 && cp <= 0x200A;
    }
}

std::vector<char32_t> code_points(std::string_view text) {
    std::vector<char32_t> cps;
    cps.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) cps.push_back(tok::next_code_point(text, pos));
    return cps;
}

std::string from_code_points(const std::vector<char32_t>& cps, size_t begin, size_t end) {
    std::string out;
    for (size_t i = begin; i < end && i < cps.size(); ++i) tok::append_utf8(out, cps[i]);
    return out;
}

}  // namespace krait::jinja
