#include "sdk/chat/jinja_access.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_map>

#include "sdk/chat/jinja_text.h"
#include "sdk/core/utf8.h"
#include "sdk/tokenizer/unicode.h"

namespace krait::jinja {

namespace {

// How Jinja names an object in its messages: 'int object'. (Built by appending: GCC 12 warns
// falsely, -Wrestrict, about "'" + string.)
std::string object_name(const Value& v) {
    std::string name = "'";
    name += v.type_name();
    name += " object'";
    return name;
}

bool matches_affix(const std::string& text, const Value& affix, bool prefix, const std::string& what) {
    const auto one = [&](const Value& a) {
        const std::string& s = require_string(a, what);
        if (s.size() > text.size()) return false;
        return prefix ? text.compare(0, s.size(), s) == 0 : text.compare(text.size() - s.size(), s.size(), s) == 0;
    };
    if (affix.is_list()) {
        return std::any_of(affix.as_list().begin(), affix.as_list().end(), one);
    }
    return one(affix);
}

Value make_method(const Value& self, const std::string& name, std::function<Value(const Value&, CallArgs&)> body) {
    auto fn = std::make_shared<Function>();
    fn->name = name;
    fn->call = [self, body = std::move(body)](CallArgs& args) { return body(self, args); };
    return Value(std::move(fn));
}

// self.name for a str: the bound method, or Undefined (as Jinja's getattr gives) for other names.
Value string_method(const Value& self, const std::string& name) {
    using Method = std::function<Value(const Value&, CallArgs&)>;
    static const std::unordered_map<std::string, Method> methods = {
        {"strip",
         [](const Value& s, CallArgs& a) {
             return Value(
                 python_strip(s.as_string(), Signature(a, "strip", {"chars"}).get_or(0, Value::none()), true, true));
         }},
        {"lstrip",
         [](const Value& s, CallArgs& a) {
             return Value(
                 python_strip(s.as_string(), Signature(a, "lstrip", {"chars"}).get_or(0, Value::none()), true, false));
         }},
        {"rstrip",
         [](const Value& s, CallArgs& a) {
             return Value(
                 python_strip(s.as_string(), Signature(a, "rstrip", {"chars"}).get_or(0, Value::none()), false, true));
         }},
        {"upper",
         [](const Value& s, CallArgs& a) {
             Signature(a, "upper", {});
             return Value(python_upper(s.as_string()));
         }},
        {"lower",
         [](const Value& s, CallArgs& a) {
             Signature(a, "lower", {});
             return Value(python_lower(s.as_string()));
         }},
        {"title",
         [](const Value& s, CallArgs& a) {
             Signature(a, "title", {});
             return Value(python_title(s.as_string()));
         }},
        {"capitalize",
         [](const Value& s, CallArgs& a) {
             Signature(a, "capitalize", {});
             return Value(python_capitalize(s.as_string()));
         }},
        {"split",
         [](const Value& s, CallArgs& a) {
             Signature sig(a, "split", {"sep", "maxsplit"});
             return Value(
                 python_split(s.as_string(), sig.get_or(0, Value::none()), sig.get_or(1, Value(-1)).to_int_exact()));
         }},
        {"splitlines",
         [](const Value& s, CallArgs& a) {
             Signature(a, "splitlines", {});
             return Value(python_splitlines(s.as_string()));
         }},
        {"startswith",
         [](const Value& s, CallArgs& a) {
             return Value(matches_affix(s.as_string(), Signature(a, "startswith", {"prefix"}).require(0, "startswith"),
                                        true, "startswith"));
         }},
        {"endswith",
         [](const Value& s, CallArgs& a) {
             return Value(matches_affix(s.as_string(), Signature(a, "endswith", {"suffix"}).require(0, "endswith"),
                                        false, "endswith"));
         }},
        {"replace",
         [](const Value& s, CallArgs& a) {
             Signature sig(a, "replace", {"old", "new", "count"});
             return Value(python_replace(s.as_string(), require_string(sig.require(0, "replace"), "replace"),
                                         require_string(sig.require(1, "replace"), "replace"),
                                         sig.get_or(2, Value(-1)).to_int_exact()));
         }},
        {"find",
         [](const Value& s, CallArgs& a) {
             const std::string& sub = require_string(Signature(a, "find", {"sub"}).require(0, "find"), "find");
             const size_t at = s.as_string().find(sub);
             return Value(at == std::string::npos ? int64_t{-1} : code_point_index(s.as_string(), at));
         }},
        {"rfind",
         [](const Value& s, CallArgs& a) {
             const std::string& sub = require_string(Signature(a, "rfind", {"sub"}).require(0, "rfind"), "rfind");
             const size_t at = s.as_string().rfind(sub);
             return Value(at == std::string::npos ? int64_t{-1} : code_point_index(s.as_string(), at));
         }},
        {"count",
         [](const Value& s, CallArgs& a) {
             return Value(count_occurrences(
                 s.as_string(), require_string(Signature(a, "count", {"sub"}).require(0, "count"), "count")));
         }},
        {"join",
         [](const Value& s, CallArgs& a) {
             std::string out;
             bool first = true;
             for (const Value& item : Signature(a, "join", {"iterable"}).require(0, "join").iterate()) {
                 if (!first) out += s.as_string();
                 first = false;
                 out += require_string(item, "join");
                 check_value_bytes(out.size());
             }
             return Value(std::move(out));
         }},
        {"isdigit",
         [](const Value& s, CallArgs& a) {
             Signature(a, "isdigit", {});
             const std::vector<char32_t> cps = code_points(s.as_string());
             return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), [](char32_t c) {
                 // Python: Numeric_Type Digit or Decimal.
                 const int type = u_getIntPropertyValue(static_cast<UChar32>(c), UCHAR_NUMERIC_TYPE);
                 return type == U_NT_DECIMAL || type == U_NT_DIGIT;
             }));
         }},
        {"isspace",
         [](const Value& s, CallArgs& a) {
             Signature(a, "isspace", {});
             const std::vector<char32_t> cps = code_points(s.as_string());
             return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), python_isspace));
         }},
    };
    const auto it = methods.find(name);
    if (it == methods.end()) {
        // Python has these, so a template may call them; this interpreter does not implement them.
        static const std::set<std::string> python_methods = {
            "format",    "format_map", "center",    "ljust",        "rjust",        "zfill",
            "partition", "rpartition", "rsplit",    "casefold",     "swapcase",     "expandtabs",
            "encode",    "index",      "rindex",    "isalpha",      "isalnum",      "isupper",
            "islower",   "istitle",    "isnumeric", "isdecimal",    "isidentifier", "isprintable",
            "isascii",   "translate",  "maketrans", "removeprefix", "removesuffix"};
        if (python_methods.count(name)) fail_unsupported_use("the string method " + quote(name) + "()");
        return Value::undefined("'str object' has no attribute '" + name + "'");
    }
    return make_method(self, name, it->second);
}

// self.name for a dict: the bound method, or Undefined when dicts have none of that name (the
// caller then looks the name up as a key).
Value dict_method(const Value& self, const std::string& name) {
    if (name == "items") {
        return make_method(self, name, [](const Value& d, CallArgs& a) {
            Signature(a, "items", {});
            List pairs;
            for (const auto& [k, v] : d.as_dict().entries()) pairs.push_back(Value::tuple(List{Value(k), v}));
            return Value(std::move(pairs));
        });
    }
    if (name == "keys" || name == "values") {
        const bool keys = name == "keys";
        return make_method(self, name, [keys](const Value& d, CallArgs& a) {
            Signature(a, keys ? "keys" : "values", {});
            List out;
            for (const auto& [k, v] : d.as_dict().entries()) out.push_back(keys ? Value(k) : v);
            return Value(std::move(out));
        });
    }
    if (name == "get") {
        return make_method(self, name, [](const Value& d, CallArgs& a) {
            Signature sig(a, "get", {"key", "default"});
            const Value& key = sig.require(0, "get");
            const Value* found = key.is_string() ? d.as_dict().find(key.as_string()) : nullptr;
            return found ? *found : sig.get_or(1, Value::none());
        });
    }
    static const std::set<std::string> mutators = {"pop", "popitem", "setdefault", "update", "clear"};
    if (mutators.count(name)) fail_type("access to attribute '" + name + "' of 'dict' object is unsafe");
    return Value();
}

// self.name for a list: the bound method, or Undefined when lists have none of that name.
Value list_method(const Value& self, const std::string& name) {
    if (name == "index" || name == "count") {
        const bool index = name == "index";
        return make_method(self, name, [index](const Value& l, CallArgs& a) {
            const Value& needle = Signature(a, index ? "index" : "count", {"value"}).require(0, "index");
            const List& list = l.as_list();
            int64_t n = 0;
            for (size_t i = 0; i < list.size(); ++i) {
                if (!values_equal(list[i], needle)) continue;
                if (index) return Value(static_cast<int64_t>(i));
                ++n;
            }
            if (index) fail_type(needle.repr() + " is not in list");
            return Value(n);
        });
    }
    static const std::set<std::string> mutators = {"append", "extend", "insert", "pop",
                                                   "remove", "clear",  "sort",   "reverse"};
    if (mutators.count(name)) {
        // transformers renders in an ImmutableSandboxedEnvironment, which forbids this too.
        fail_type("access to attribute '" + name + "' of 'list' object is unsafe");
    }
    return Value();
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
    switch (object.kind()) {
        case Value::Kind::Undefined: fail_undefined(object);
        case Value::Kind::Dict: {
            Value method = dict_method(object, name);
            if (!method.is_undefined()) return method;
            if (const Value* v = object.as_dict().find(name)) return *v;
            return Value::undefined("'dict object' has no attribute '" + name + "'");
        }
        case Value::Kind::Namespace: {
            if (const Value* v = object.as_namespace().attributes.find(name)) return *v;
            return Value::undefined("'Namespace object' has no attribute '" + name + "'");
        }
        case Value::Kind::String: return string_method(object, name);
        case Value::Kind::List: {
            Value method = list_method(object, name);
            if (!method.is_undefined()) return method;
            return Value::undefined("'list object' has no attribute '" + name + "'");
        }
        default: return Value::undefined(object_name(object) + " has no attribute '" + name + "'");
    }
}

Value get_item(const Value& object, const Value& key) {
    if (object.is_undefined()) fail_undefined(object);
    if (object.is_dict()) {
        if (key.is_string()) {
            if (const Value* v = object.as_dict().find(key.as_string())) return *v;
            return get_attribute(object, key.as_string());
        }
        return Value::undefined("'dict object' has no attribute " + key.repr());
    }
    if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
        const int64_t length = object.length();
        int64_t index = key.to_int_exact();
        if (index < 0) index += length;
        if (index < 0 || index >= length) {
            return Value::undefined(object_name(object) + " has no element " + key.repr());
        }
        if (object.is_list()) return object.as_list()[static_cast<size_t>(index)];
        const std::vector<char32_t> cps = code_points(object.as_string());
        return Value(from_code_points(cps, static_cast<size_t>(index), static_cast<size_t>(index) + 1));
    }
    if (key.is_string()) return get_attribute(object, key.as_string());
    return Value::undefined(object_name(object) + " has no element " + key.repr());
}

Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step) {
    if (object.is_undefined()) fail_undefined(object);
    // Jinja compiles a slice to a plain Python subscript (not its forgiving getitem), so slicing
    // anything but a sequence is a TypeError.
    if (!object.is_list() && !object.is_string()) fail_type("'" + object.type_name() + "' object is not subscriptable");
    const int64_t length = object.length();
    const auto given = [](const Value& v) { return !v.is_undefined() && !v.is_none(); };
    const int64_t stride = given(step) ? step.to_int_exact() : 1;
    if (stride == 0) fail_type("slice step cannot be zero");
    // Python's slice.indices().
    const auto clamp_bound = [&](const Value& v, int64_t fallback) {
        if (!given(v)) return fallback;
        int64_t i = v.to_int_exact();
        if (i < 0) {
            i += length;
            if (i < 0) i = stride < 0 ? -1 : 0;
        } else if (i >= length) {
            i = stride < 0 ? length - 1 : length;
        }
        return i;
    };
    const int64_t begin = clamp_bound(start, stride < 0 ? length - 1 : 0);
    const int64_t end = clamp_bound(stop, stride < 0 ? -1 : length);
    std::vector<size_t> picks;
    for (int64_t i = begin; stride > 0 ? i < end : i > end; i += stride) picks.push_back(static_cast<size_t>(i));
    if (object.is_list()) {
        List out;
        for (const size_t i : picks) out.push_back(object.as_list()[i]);
        return Value(std::move(out));
    }
    const std::vector<char32_t> cps = code_points(object.as_string());
    std::string out;
    for (const size_t i : picks) tok::append_utf8(out, cps[i]);
    return Value(std::move(out));
}

}  // namespace krait::jinja
