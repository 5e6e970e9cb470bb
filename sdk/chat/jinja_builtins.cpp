#include "sdk/chat/jinja_builtins.h"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "sdk/core/utf8.h"
#include "sdk/tokenizer/unicode.h"

namespace krait::jinja {

namespace {

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
            if (i == params.size()) fail_type(what + "() got an unexpected keyword argument " + quote(key));
            if (bound_[i]) fail_type(what + "() got multiple values for argument " + quote(key));
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

void check_size(size_t bytes) {
    if (bytes > kMaxValueBytes) {
        fail_type("the template builds a value larger than " + std::to_string(kMaxValueBytes >> 20) + " MiB");
    }
}

const std::string& require_string(const Value& v, const std::string& what) {
    if (!v.is_string()) fail_type(what + " expects a string, got " + v.type_name());
    return v.as_string();
}

// Jinja's soft_str: strings as they are, everything else through str() (Undefined is "").
std::string soft_str(const Value& v) { return v.is_string() ? v.as_string() : v.str(); }

[[noreturn]] void fail_undefined(const Value& v) { fail_type(v.undefined_hint()); }

std::string icu_case(const std::string& text, bool upper) {
    bool ascii = true;
    for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) {
        std::string out = text;
        for (char& c : out) {
            if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
            if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        }
        return out;
    }
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
    if (upper) {
        u.toUpper(icu::Locale::getRoot());
    } else {
        u.toLower(icu::Locale::getRoot());
    }
    std::string out;
    u.toUTF8String(out);
    return out;
}

// Python's str.upper() / str.lower() (full Unicode case mapping).
std::string python_upper(const std::string& text) { return icu_case(text, true); }
std::string python_lower(const std::string& text) { return icu_case(text, false); }

std::string title_case_char(char32_t cp) {
    std::string one;
    tok::append_utf8(one, cp);
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(one);
    u.toTitle(nullptr, icu::Locale::getRoot(), U_TITLECASE_NO_LOWERCASE | U_TITLECASE_NO_BREAK_ADJUSTMENT);
    std::string out;
    u.toUTF8String(out);
    return out;
}

bool is_cased(char32_t cp) {
    const auto c = static_cast<UChar32>(cp);
    return u_isULowercase(c) || u_isUUppercase(c) || u_istitle(c);
}

// Python's str.title(): a cased character after an uncased one is titlecased, others lowercased.
std::string python_title(const std::string& text) {
    std::string out;
    bool previous_cased = false;
    for (size_t pos = 0; pos < text.size();) {
        const size_t start = pos;
        const char32_t cp = tok::next_code_point(text, pos);
        const std::string ch = text.substr(start, pos - start);
        out += previous_cased ? python_lower(ch) : title_case_char(cp);
        previous_cased = is_cased(cp);
    }
    return out;
}

// Python's str.capitalize(): the first character titlecased, the rest lowercased.
std::string python_capitalize(const std::string& text) {
    if (text.empty()) return text;
    size_t pos = 0;
    const char32_t first = tok::next_code_point(text, pos);
    return title_case_char(first) + python_lower(text.substr(pos));
}

// Python's str.isupper() (upper) or str.islower(): at least one cased character, and none of the
// other case (titlecase letters count as neither).
bool python_has_case(const std::string& text, bool upper) {
    bool cased = false;
    for (const char32_t cp : code_points(text)) {
        const auto c = static_cast<UChar32>(cp);
        if (u_istitle(c) || (upper ? u_isULowercase(c) : u_isUUppercase(c))) return false;
        cased = cased || (upper ? u_isUUppercase(c) : u_isULowercase(c));
    }
    return cased;
}

// Dict keys and set members must be hashable in Python: lists, dicts and namespaces are not.
void require_hashable(const Value& v) {
    if (v.is_list() && !v.is_tuple()) fail_type("unhashable type: 'list'");
    if (v.is_dict()) fail_type("unhashable type: 'dict'");
    if (v.is_namespace()) fail_type("unhashable type: 'Namespace'");
}

bool is_any_of(char32_t cp, const std::vector<char32_t>& chars) {
    return std::find(chars.begin(), chars.end(), cp) != chars.end();
}

// str.strip / lstrip / rstrip: whitespace, or the characters of `chars` when given (not None).
std::string python_strip(const std::string& text, const Value& chars, bool left, bool right) {
    const std::vector<char32_t> cps = code_points(text);
    const bool whitespace = chars.is_none() || chars.is_undefined();
    const std::vector<char32_t> set =
        whitespace ? std::vector<char32_t>{} : code_points(require_string(chars, "strip"));
    const auto strip_it = [&](char32_t cp) { return whitespace ? python_isspace(cp) : is_any_of(cp, set); };
    size_t begin = 0, end = cps.size();
    if (left) {
        while (begin < end && strip_it(cps[begin])) ++begin;
    }
    if (right) {
        while (end > begin && strip_it(cps[end - 1])) --end;
    }
    return from_code_points(cps, begin, end);
}

// str.split(sep=None, maxsplit=-1).
List python_split(const std::string& text, const Value& sep, int64_t maxsplit) {
    List parts;
    if (sep.is_none() || sep.is_undefined()) {
        const std::vector<char32_t> cps = code_points(text);
        size_t i = 0;
        while (true) {
            while (i < cps.size() && python_isspace(cps[i])) ++i;
            if (i == cps.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
                size_t end = cps.size();
                while (end > i && python_isspace(cps[end - 1])) --end;
                parts.emplace_back(from_code_points(cps, i, end));
                break;
            }
            size_t j = i;
            while (j < cps.size() && !python_isspace(cps[j])) ++j;
            parts.emplace_back(from_code_points(cps, i, j));
            i = j;
        }
        return parts;
    }
    const std::string& separator = require_string(sep, "split");
    if (separator.empty()) fail_type("split(): empty separator");
    size_t start = 0;
    while (true) {
        const size_t at = text.find(separator, start);
        if (at == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
            parts.emplace_back(text.substr(start));
            return parts;
        }
        parts.emplace_back(text.substr(start, at - start));
        start = at + separator.size();
    }
}

// str.splitlines(): Python's line boundaries, without the line ends.
List python_splitlines(const std::string& text) {
    List lines;
    const std::vector<char32_t> cps = code_points(text);
    size_t start = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        const char32_t c = cps[i];
        const bool boundary = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                              c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!boundary) continue;
        lines.emplace_back(from_code_points(cps, start, i));
        if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
        start = i + 1;
    }
    if (start < cps.size()) lines.emplace_back(from_code_points(cps, start, cps.size()));
    return lines;
}

std::string python_replace(const std::string& text, const std::string& old_text, const std::string& new_text,
                           int64_t count) {
    std::string out;
    if (old_text.empty()) {
        // Python inserts `new` before every character and at the end.
        int64_t done = 0;
        for (size_t pos = 0; pos <= text.size();) {
            if (count < 0 || done < count) {
                out += new_text;
                ++done;
            }
            if (pos == text.size()) break;
            const size_t start = pos;
            tok::next_code_point(text, pos);
            out.append(text, start, pos - start);
            check_size(out.size());
        }
        return out;
    }
    size_t start = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const size_t at = text.find(old_text, start);
        if (at == std::string::npos) break;
        out.append(text, start, at - start);
        out += new_text;
        check_size(out.size());
        start = at + old_text.size();
        ++done;
    }
    out.append(text, start, std::string::npos);
    return out;
}

int64_t count_occurrences(const std::string& text, const std::string& sub) {
    if (sub.empty()) return Value(text).length() + 1;
    int64_t n = 0;
    for (size_t at = text.find(sub); at != std::string::npos; at = text.find(sub, at + sub.size())) ++n;
    return n;
}

// Byte offset -> code point index, for str.find results.
int64_t code_point_index(const std::string& text, size_t byte_offset) {
    return Value(text.substr(0, byte_offset)).length();
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

std::string html_escape(const std::string& text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
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
                 check_size(out.size());
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

// The value of `attribute` ("a.b", "0") of `item`, for map/selectattr/sort/... (Jinja's
// make_attrgetter: dots separate names, integer parts index).
Value attribute_of(const Value& item, const Value& attribute) {
    if (attribute.is_int()) return get_item(item, attribute);
    Value current = item;
    for (const Value& part : python_split(require_string(attribute, "attribute"), Value("."), -1)) {
        const std::string& p = part.as_string();
        const bool numeric = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
        current = numeric ? get_item(current, Value(static_cast<int64_t>(std::strtoll(p.c_str(), nullptr, 10))))
                          : get_item(current, Value(p));
    }
    return current;
}

// Sort key: strings lowercased unless case_sensitive (Jinja's ignore_case).
Value sort_key(const Value& v, bool case_sensitive) {
    return v.is_string() && !case_sensitive ? Value(python_lower(v.as_string())) : v;
}

// select / reject / selectattr / rejectattr: args are (test name, test args...) or nothing.
List filter_by_test(const Value& seq, CallArgs& args, bool by_attribute, bool keep_when) {
    if (by_attribute && args.positional.empty()) fail_type("selectattr/rejectattr need an attribute name");
    const Value attribute = by_attribute ? args.positional[0] : Value();
    const size_t test_at = by_attribute ? 1 : 0;
    std::string test;
    CallArgs test_args;
    if (args.positional.size() > test_at) {
        test = require_string(args.positional[test_at], "select");
        test_args.positional.assign(args.positional.begin() + static_cast<ptrdiff_t>(test_at) + 1,
                                    args.positional.end());
        test_args.keyword = args.keyword;
        if (!is_known_test(test)) fail_unsupported_use("unknown test " + quote(test));
    }
    List out;
    if (!seq.truthy()) return out;  // Jinja: `if value:` before iterating, so false/0/None give []
    for (const Value& item : seq.iterate()) {
        const Value subject = by_attribute ? attribute_of(item, attribute) : item;
        CallArgs a = test_args;
        const bool passed = test.empty() ? subject.truthy() : apply_test(test, subject, a);
        if (passed == keep_when) out.push_back(item);
    }
    return out;
}

Value to_int(const Value& v, const Value& fallback, int64_t base) {
    switch (v.kind()) {
        case Value::Kind::Undefined: fail_undefined(v);  // int(Undefined) raises, unlike int("x")
        case Value::Kind::Int: return v;
        case Value::Kind::Bool: return Value(v.to_int_exact());
        case Value::Kind::Float:
            if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) >= 9.2e18) return fallback;
            return Value(static_cast<int64_t>(v.as_float()));
        case Value::Kind::String: {
            std::string s = python_strip(v.as_string(), Value::none(), true, true);
            s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
            if (s.empty()) return fallback;
            errno = 0;
            char* end = nullptr;
            const long long i = std::strtoll(s.c_str(), &end, static_cast<int>(base));
            if (*end == '\0' && errno == 0) return Value(static_cast<int64_t>(i));
            // Jinja falls back to int(float(value)) for "3.5".
            const double d = std::strtod(s.c_str(), &end);
            if (*end == '\0' && std::isfinite(d) && std::fabs(d) < 9.2e18) return Value(static_cast<int64_t>(d));
            return fallback;
        }
        default: return fallback;
    }
}

Value to_float(const Value& v, const Value& fallback) {
    if (v.is_undefined()) fail_undefined(v);
    if (v.is_number()) return Value(v.to_double());
    if (v.is_string()) {
        const std::string s = python_strip(v.as_string(), Value::none(), true, true);
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && *end == '\0') return Value(d);
    }
    return fallback;
}

std::string indent_text(const std::string& text, const Value& width, bool first, bool blank) {
    const std::string indention =
        width.is_string()
            ? width.as_string()
            : std::string(static_cast<size_t>(std::clamp<int64_t>(width.to_int_exact(), 0, 1 << 16)), ' ');
    const List lines = python_splitlines(text + "\n");
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string& line = lines[i].as_string();
        if (i > 0) {
            out += '\n';
            if (blank || !line.empty()) out += indention;
        }
        out += line;
        check_size(out.size());
    }
    return first ? indention + out : out;
}

// Jinja's round filter: 'common' is Python's round() (exact, halves to even), or 'floor' / 'ceil'.
double round_value(double value, int64_t precision, const std::string& method) {
    const double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
    if (method == "ceil") return std::ceil(value * scale) / scale;
    if (method == "floor") return std::floor(value * scale) / scale;
    if (method != "common") fail_type("round(): method must be 'common', 'ceil' or 'floor'");
    if (!std::isfinite(value)) return value;
    if (precision < 0) return std::nearbyint(value / (1.0 / scale)) * (1.0 / scale);
    // Python's round(x, n) rounds the exact binary value half to even, as printf does.
    char text[400];
    std::snprintf(text, sizeof text, "%.*f", static_cast<int>(std::min<int64_t>(precision, 300)), value);
    return std::strtod(text, nullptr);
}

using FilterFn = std::function<Value(const Value&, CallArgs&)>;

const std::unordered_map<std::string, FilterFn>& filters() {
    static const std::unordered_map<std::string, FilterFn> table = [] {
        std::unordered_map<std::string, FilterFn> t;
        t["abs"] = [](const Value& v, CallArgs& a) {
            Signature(a, "abs", {});
            if (v.is_float()) return Value(std::fabs(v.as_float()));
            const int64_t i = v.to_int_exact();
            if (i == INT64_MIN) fail_type("integer overflow in abs");
            return Value(i < 0 ? -i : i);
        };
        t["capitalize"] = [](const Value& v, CallArgs& a) {
            Signature(a, "capitalize", {});
            return Value(python_capitalize(soft_str(v)));
        };
        t["upper"] = [](const Value& v, CallArgs& a) {
            Signature(a, "upper", {});
            return Value(python_upper(soft_str(v)));
        };
        t["lower"] = [](const Value& v, CallArgs& a) {
            Signature(a, "lower", {});
            return Value(python_lower(soft_str(v)));
        };
        t["title"] = [](const Value& v, CallArgs& a) {
            // Jinja's own title: words start after -, whitespace or ( { [ <.
            Signature(a, "title", {});
            const std::vector<char32_t> cps = code_points(soft_str(v));
            std::string out;
            bool word_start = true;
            for (const char32_t cp : cps) {
                const bool separator =
                    cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || python_isspace(cp);
                std::string ch;
                tok::append_utf8(ch, cp);
                out += separator ? ch : word_start ? python_upper(ch) : python_lower(ch);
                word_start = separator;
            }
            return Value(std::move(out));
        };
        t["trim"] = [](const Value& v, CallArgs& a) {
            return Value(
                python_strip(soft_str(v), Signature(a, "trim", {"chars"}).get_or(0, Value::none()), true, true));
        };
        t["length"] = [](const Value& v, CallArgs& a) {
            Signature(a, "length", {});
            return Value(v.length());
        };
        t["count"] = t["length"];
        t["string"] = [](const Value& v, CallArgs& a) {
            Signature(a, "string", {});
            return Value(soft_str(v));
        };
        t["safe"] = [](const Value& v, CallArgs& a) {
            Signature(a, "safe", {});
            return Value(soft_str(v));
        };
        t["escape"] = [](const Value& v, CallArgs& a) {
            Signature(a, "escape", {});
            return Value(html_escape(soft_str(v)));
        };
        t["e"] = t["escape"];
        t["forceescape"] = t["escape"];
        t["tojson"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
            if (sig.get(0) && sig.get(0)->truthy()) fail_unsupported_use("tojson(ensure_ascii=True)");
            const Value indent = sig.get_or(1, Value::none());
            const bool has_indent = !indent.is_none();
            std::string item_sep = has_indent ? "," : ", ", key_sep = ": ";
            if (const Value* seps = sig.get(2); seps && !seps->is_none()) {
                if (!seps->is_list() || seps->as_list().size() != 2) fail_type("tojson(): separators must be a pair");
                item_sep = require_string(seps->as_list()[0], "tojson");
                key_sep = require_string(seps->as_list()[1], "tojson");
            }
            int indent_width = -1;
            if (has_indent) {
                if (indent.is_string()) fail_unsupported_use("tojson() with a string indent");
                indent_width = static_cast<int>(std::clamp<int64_t>(indent.to_int_exact(), 0, 64));
            }
            return Value(v.to_json(indent_width, item_sep, key_sep, sig.get_or(3, Value(false)).truthy()));
        };
        t["default"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "default", {"default_value", "boolean"});
            const bool use_default = v.is_undefined() || (sig.get_or(1, Value(false)).truthy() && !v.truthy());
            return use_default ? sig.get_or(0, Value(std::string())) : v;
        };
        t["d"] = t["default"];
        t["join"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "join", {"d", "attribute"});
            const std::string sep = soft_str(sig.get_or(0, Value(std::string())));
            const Value* attribute = sig.get(1);
            std::string out;
            bool first = true;
            for (const Value& item : v.iterate()) {
                if (!first) out += sep;
                first = false;
                out += soft_str(attribute && !attribute->is_none() ? attribute_of(item, *attribute) : item);
                check_size(out.size());
            }
            return Value(std::move(out));
        };
        t["first"] = [](const Value& v, CallArgs& a) {
            Signature(a, "first", {});
            const List items = v.iterate();
            return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
        };
        t["last"] = [](const Value& v, CallArgs& a) {
            Signature(a, "last", {});
            const List items = v.iterate();
            return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
        };
        t["list"] = [](const Value& v, CallArgs& a) {
            Signature(a, "list", {});
            return Value(v.iterate());
        };
        t["items"] = [](const Value& v, CallArgs& a) {
            Signature(a, "items", {});
            if (v.is_undefined()) return Value(List{});
            if (!v.is_dict()) fail_type("items filter: can only get item pairs from a mapping");
            List pairs;
            for (const auto& [k, item] : v.as_dict().entries()) pairs.push_back(Value::tuple(List{Value(k), item}));
            return Value(std::move(pairs));
        };
        t["dictsort"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "dictsort", {"case_sensitive", "by", "reverse"});
            if (!v.is_dict()) fail_type("dictsort: expected a mapping, got " + v.type_name());
            const bool case_sensitive = sig.get_or(0, Value(false)).truthy();
            const std::string by = soft_str(sig.get_or(1, Value("key")));
            if (by != "key" && by != "value") fail_type("dictsort: 'by' must be 'key' or 'value'");
            List pairs;
            for (const auto& [k, item] : v.as_dict().entries()) pairs.push_back(Value::tuple(List{Value(k), item}));
            const size_t index = by == "key" ? 0 : 1;
            std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
                return compare_values(sort_key(x.as_list()[index], case_sensitive),
                                      sort_key(y.as_list()[index], case_sensitive)) < 0;
            });
            if (sig.get_or(2, Value(false)).truthy()) std::reverse(pairs.begin(), pairs.end());
            return Value(std::move(pairs));
        };
        t["replace"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "replace", {"old", "new", "count"});
            const Value count = sig.get_or(2, Value::none());
            return Value(python_replace(soft_str(v), soft_str(sig.require(0, "replace")),
                                        soft_str(sig.require(1, "replace")),
                                        count.is_none() ? -1 : count.to_int_exact()));
        };
        t["int"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "int", {"default", "base"});
            return to_int(v, sig.get_or(0, Value(0)), sig.get_or(1, Value(10)).to_int_exact());
        };
        t["float"] = [](const Value& v, CallArgs& a) {
            return to_float(v, Signature(a, "float", {"default"}).get_or(0, Value(0.0)));
        };
        t["round"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "round", {"precision", "method"});
            const int64_t precision = sig.get_or(0, Value(0)).to_int_exact();
            const std::string method = soft_str(sig.get_or(1, Value("common")));
            // Python's round() keeps an int an int (Jinja's 'common' is round(value, precision)).
            if (method == "common" && !v.is_float() && precision >= 0) return Value(v.to_int_exact());
            return Value(round_value(v.to_double(), precision, method));
        };
        t["reverse"] = [](const Value& v, CallArgs& a) {
            Signature(a, "reverse", {});
            if (v.is_string()) {
                std::vector<char32_t> cps = code_points(v.as_string());
                std::reverse(cps.begin(), cps.end());
                return Value(from_code_points(cps, 0, cps.size()));
            }
            List items = v.iterate();
            std::reverse(items.begin(), items.end());
            return Value(std::move(items));
        };
        t["sort"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "sort", {"reverse", "case_sensitive", "attribute"});
            const bool reverse = sig.get_or(0, Value(false)).truthy();
            const bool case_sensitive = sig.get_or(1, Value(false)).truthy();
            const Value attribute = sig.get_or(2, Value::none());
            // Jinja's make_multi_attrgetter: with attribute="a,b" the key is the list [item.a, item.b],
            // so items missing them compare equal (Undefined == Undefined) instead of failing.
            std::vector<Value> attributes;
            if (!attribute.is_none()) {
                if (attribute.is_string()) {
                    for (const Value& part : python_split(attribute.as_string(), Value(","), -1))
                        attributes.push_back(part);
                } else {
                    attributes.push_back(attribute);
                }
            }
            std::vector<std::pair<Value, Value>> keyed;  // (key, item)
            for (Value& item : v.iterate()) {
                if (attributes.empty()) {
                    keyed.emplace_back(sort_key(item, case_sensitive), std::move(item));
                    continue;
                }
                List key;
                for (const Value& part : attributes) key.push_back(sort_key(attribute_of(item, part), case_sensitive));
                keyed.emplace_back(Value(std::move(key)), std::move(item));
            }
            std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
                return reverse ? compare_values(y.first, x.first) < 0 : compare_values(x.first, y.first) < 0;
            });
            List items;
            for (auto& [key, item] : keyed) items.push_back(std::move(item));
            return Value(std::move(items));
        };
        t["batch"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "batch", {"linecount", "fill_with"});
            const int64_t size = sig.require(0, "batch").to_int_exact();
            const Value fill = sig.get_or(1, Value::none());
            List batches, current;
            for (Value& item : v.iterate()) {
                if (static_cast<int64_t>(current.size()) == size) {
                    batches.emplace_back(std::move(current));
                    current.clear();
                }
                current.push_back(std::move(item));
            }
            if (!current.empty()) {
                while (!fill.is_none() && static_cast<int64_t>(current.size()) < size) current.push_back(fill);
                batches.emplace_back(std::move(current));
            }
            return Value(std::move(batches));
        };
        t["slice"] = [](const Value& v, CallArgs& a) {
            // Jinja's do_slice: `slices` columns, the first length % slices of them one longer.
            Signature sig(a, "slice", {"slices", "fill_with"});
            const int64_t slices = sig.require(0, "slice").to_int_exact();
            if (slices <= 0) fail_type("slice(): the number of slices must be positive");
            if (slices > 100000) fail_type("slice(): too many slices");
            const Value fill = sig.get_or(1, Value::none());
            const List items = v.iterate();
            const auto length = static_cast<int64_t>(items.size());
            const int64_t per_slice = length / slices, with_extra = length % slices;
            List columns;
            int64_t offset = 0;
            for (int64_t number = 0; number < slices; ++number) {
                const int64_t start = offset + number * per_slice;
                if (number < with_extra) ++offset;
                const int64_t end = offset + (number + 1) * per_slice;
                List column(items.begin() + start, items.begin() + end);
                if (!fill.is_none() && number >= with_extra) column.push_back(fill);
                columns.emplace_back(std::move(column));
            }
            return Value(std::move(columns));
        };
        t["unique"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "unique", {"case_sensitive", "attribute"});
            const bool case_sensitive = sig.get_or(0, Value(false)).truthy();
            const Value attribute = sig.get_or(1, Value::none());
            List out, seen;
            for (const Value& item : v.iterate()) {
                const Value key = sort_key(attribute.is_none() ? item : attribute_of(item, attribute), case_sensitive);
                require_hashable(key);  // Jinja keeps the keys in a set
                if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return values_equal(s, key); })) {
                    seen.push_back(key);
                    out.push_back(item);
                }
            }
            return Value(std::move(out));
        };
        const auto extreme = [](bool want_max) {
            return [want_max](const Value& v, CallArgs& a) {
                Signature sig(a, want_max ? "max" : "min", {"case_sensitive", "attribute"});
                const bool case_sensitive = sig.get_or(0, Value(false)).truthy();
                const Value attribute = sig.get_or(1, Value::none());
                const List items = v.iterate();
                if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
                const auto key = [&](const Value& item) {
                    return sort_key(attribute.is_none() ? item : attribute_of(item, attribute), case_sensitive);
                };
                size_t best = 0;
                for (size_t i = 1; i < items.size(); ++i) {
                    const int c = compare_values(key(items[i]), key(items[best]));
                    if (want_max ? c > 0 : c < 0) best = i;
                }
                return items[best];
            };
        };
        t["max"] = extreme(true);
        t["min"] = extreme(false);
        t["sum"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "sum", {"attribute", "start"});
            const Value attribute = sig.get_or(0, Value::none());
            Value total = sig.get_or(1, Value(0));
            for (const Value& item : v.iterate()) {
                const Value x = attribute.is_none() ? item : attribute_of(item, attribute);
                if (total.is_float() || x.is_float()) {
                    total = Value(total.to_double() + x.to_double());
                } else {
                    int64_t r;
                    if (__builtin_add_overflow(total.to_int_exact(), x.to_int_exact(), &r))
                        fail_type("integer overflow in sum");
                    total = Value(r);
                }
            }
            return total;
        };
        t["map"] = [](const Value& v, CallArgs& a) {
            List out;
            if (!v.truthy()) return Value(std::move(out));  // as select: `if value:` first
            if (a.positional.empty()) {
                Signature sig(a, "map", {"attribute", "default"});
                const Value* attribute = sig.get(0);
                if (!attribute) fail_type("map() needs a filter name or attribute=");
                const Value* fallback = sig.get(1);
                for (const Value& item : v.iterate()) {
                    Value x = attribute_of(item, *attribute);
                    out.push_back(x.is_undefined() && fallback ? *fallback : std::move(x));
                }
                return Value(std::move(out));
            }
            const std::string name = require_string(a.positional[0], "map");
            if (!is_known_filter(name)) fail_unsupported_use("unknown filter " + quote(name));
            CallArgs rest;
            rest.positional.assign(a.positional.begin() + 1, a.positional.end());
            rest.keyword = a.keyword;
            for (const Value& item : v.iterate()) {
                CallArgs each = rest;
                out.push_back(apply_filter(name, item, each));
            }
            return Value(std::move(out));
        };
        t["select"] = [](const Value& v, CallArgs& a) { return Value(filter_by_test(v, a, false, true)); };
        t["reject"] = [](const Value& v, CallArgs& a) { return Value(filter_by_test(v, a, false, false)); };
        t["selectattr"] = [](const Value& v, CallArgs& a) { return Value(filter_by_test(v, a, true, true)); };
        t["rejectattr"] = [](const Value& v, CallArgs& a) { return Value(filter_by_test(v, a, true, false)); };
        t["attr"] = [](const Value& v, CallArgs& a) {
            return get_attribute(v, require_string(Signature(a, "attr", {"name"}).require(0, "attr"), "attr"));
        };
        t["indent"] = [](const Value& v, CallArgs& a) {
            Signature sig(a, "indent", {"width", "first", "blank"});
            if (v.is_undefined()) fail_undefined(v);
            // Jinja appends "\n" to the value itself, which only a string allows.
            const std::string& text = require_string(v, "indent");
            return Value(indent_text(text, sig.get_or(0, Value(4)), sig.get_or(1, Value(false)).truthy(),
                                     sig.get_or(2, Value(false)).truthy()));
        };
        t["wordcount"] = [](const Value& v, CallArgs& a) {
            // Jinja counts matches of \w+ (Unicode word characters).
            Signature(a, "wordcount", {});
            int64_t words = 0;
            bool in_word = false;
            for (const char32_t cp : code_points(soft_str(v))) {
                const bool word = cp == '_' || u_isalnum(static_cast<UChar32>(cp));
                if (word && !in_word) ++words;
                in_word = word;
            }
            return Value(words);
        };
        t["center"] = [](const Value& v, CallArgs& a) {
            const std::string s = soft_str(v);
            const int64_t width =
                std::min<int64_t>(Signature(a, "center", {"width"}).get_or(0, Value(80)).to_int_exact(), 1 << 16);
            const int64_t len = Value(s).length();
            if (width <= len) return Value(s);
            // CPython's str.center: left = pad / 2 + (pad & width & 1).
            const int64_t pad = width - len;
            const int64_t left = pad / 2 + (pad & width & 1);
            return Value(std::string(static_cast<size_t>(left), ' ') + s +
                         std::string(static_cast<size_t>(pad - left), ' '));
        };
        return t;
    }();
    return table;
}

// value % divisor == remainder with Python's modulo (the sign of the divisor; floats too), which is
// how Jinja's even, odd and divisibleby tests are written.
bool modulo_equals(const Value& value, const Value& divisor, int64_t remainder) {
    if (value.is_undefined()) fail_undefined(value);
    if (!value.is_number() || !divisor.is_number()) {
        fail_type("unsupported operand type(s) for %: '" + value.type_name() + "' and '" + divisor.type_name() + "'");
    }
    if (value.is_float() || divisor.is_float()) {
        const double b = divisor.to_double();
        if (b == 0.0) fail_type("float modulo");
        double m = std::fmod(value.to_double(), b);
        if (m != 0.0 && ((m < 0) != (b < 0))) m += b;
        return m == static_cast<double>(remainder);
    }
    const int64_t a = value.to_int_exact(), b = divisor.to_int_exact();
    if (b == 0) fail_type("integer division or modulo by zero");
    if (b == -1) return remainder == 0;  // and INT64_MIN % -1 is never computed
    int64_t m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m == remainder;
}

using TestFn = std::function<bool(const Value&, CallArgs&)>;

const std::unordered_map<std::string, TestFn>& tests() {
    static const std::unordered_map<std::string, TestFn> table = [] {
        std::unordered_map<std::string, TestFn> t;
        const auto unary = [](bool (*predicate)(const Value&), const char* name) {
            return [predicate, name](const Value& v, CallArgs& a) {
                Signature(a, name, {});
                return predicate(v);
            };
        };
        t["defined"] = unary([](const Value& v) { return !v.is_undefined(); }, "defined");
        t["undefined"] = unary([](const Value& v) { return v.is_undefined(); }, "undefined");
        t["none"] = unary([](const Value& v) { return v.is_none(); }, "none");
        t["boolean"] = unary([](const Value& v) { return v.is_bool(); }, "boolean");
        t["true"] = unary([](const Value& v) { return v.is_bool() && v.as_bool(); }, "true");
        t["false"] = unary([](const Value& v) { return v.is_bool() && !v.as_bool(); }, "false");
        t["integer"] = unary([](const Value& v) { return v.is_int(); }, "integer");
        t["float"] = unary([](const Value& v) { return v.is_float(); }, "float");
        t["number"] = unary([](const Value& v) { return v.is_number(); }, "number");
        t["string"] = unary([](const Value& v) { return v.is_string(); }, "string");
        t["mapping"] = unary([](const Value& v) { return v.is_dict(); }, "mapping");
        // Jinja's Undefined defines __call__ (to fail), so callable() is true for it too.
        t["callable"] = unary([](const Value& v) { return v.is_function() || v.is_undefined(); }, "callable");
        t["iterable"] = unary(
            [](const Value& v) { return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict(); }, "iterable");
        t["sequence"] = t["iterable"];
        // Jinja: str(value).islower() / .isupper(), for any value.
        t["lower"] = unary([](const Value& v) { return python_has_case(v.str(), false); }, "lower");
        t["upper"] = unary([](const Value& v) { return python_has_case(v.str(), true); }, "upper");
        t["escaped"] = unary([](const Value&) { return false; }, "escaped");
        t["even"] = unary([](const Value& v) { return modulo_equals(v, Value(2), 0); }, "even");
        t["odd"] = unary([](const Value& v) { return modulo_equals(v, Value(2), 1); }, "odd");
        t["divisibleby"] = [](const Value& v, CallArgs& a) {
            return modulo_equals(v, Signature(a, "divisibleby", {"num"}).require(0, "divisibleby"), 0);
        };
        const auto binary = [](const char* name, bool (*predicate)(const Value&, const Value&)) {
            return [name, predicate](const Value& v, CallArgs& a) {
                return predicate(v, Signature(a, name, {"other"}).require(0, name));
            };
        };
        t["eq"] = binary("eq", [](const Value& x, const Value& y) { return values_equal(x, y); });
        t["equalto"] = t["=="] = t["eq"];
        t["ne"] = binary("ne", [](const Value& x, const Value& y) { return !values_equal(x, y); });
        t["!="] = t["ne"];
        t["lt"] = binary("lt", [](const Value& x, const Value& y) { return compare_values(x, y) < 0; });
        t["lessthan"] = t["<"] = t["lt"];
        t["le"] = binary("le", [](const Value& x, const Value& y) { return compare_values(x, y) <= 0; });
        t["<="] = t["le"];
        t["gt"] = binary("gt", [](const Value& x, const Value& y) { return compare_values(x, y) > 0; });
        t["greaterthan"] = t[">"] = t["gt"];
        t["ge"] = binary("ge", [](const Value& x, const Value& y) { return compare_values(x, y) >= 0; });
        t[">="] = t["ge"];
        t["sameas"] = binary("sameas", [](const Value& x, const Value& y) {
            // Python identity: singletons (None, True, False) and the same shared object.
            if (x.kind() != y.kind()) return false;
            switch (x.kind()) {
                case Value::Kind::None:
                case Value::Kind::Undefined: return true;
                case Value::Kind::Bool: return x.as_bool() == y.as_bool();
                case Value::Kind::List: return &x.as_list() == &y.as_list();
                case Value::Kind::Dict: return &x.as_dict() == &y.as_dict();
                default: return values_equal(x, y);
            }
        });
        t["in"] = binary("in", [](const Value& x, const Value& y) {
            if (y.is_string()) return x.is_string() && y.as_string().find(x.as_string()) != std::string::npos;
            if (y.is_dict()) {
                require_hashable(x);
                return x.is_string() && y.as_dict().find(x.as_string()) != nullptr;
            }
            for (const Value& item : y.iterate()) {
                if (values_equal(item, x)) return true;
            }
            return false;
        });
        t["filter"] = binary(
            "filter", [](const Value& x, const Value&) { return x.is_string() && is_known_filter(x.as_string()); });
        t["test"] =
            binary("test", [](const Value& x, const Value&) { return x.is_string() && is_known_test(x.as_string()); });
        return t;
    }();
    return table;
}

}  // namespace

bool is_known_filter(const std::string& name) { return filters().count(name) != 0; }
bool is_known_test(const std::string& name) { return tests().count(name) != 0; }

Value apply_filter(const std::string& name, const Value& operand, CallArgs& args) {
    const auto it = filters().find(name);
    if (it == filters().end()) fail_unsupported_use("unknown filter " + quote(name));
    // Filters on an Undefined operand use it as Jinja's Undefined would be used: empty string,
    // empty sequence; `default` replaces it. Those that need a real value fail with its hint.
    if (operand.is_undefined() &&
        (name == "abs" || name == "round" || name == "tojson" || name == "attr" || name == "dictsort")) {
        fail_undefined(operand);
    }
    return it->second(operand, args);
}

bool apply_test(const std::string& name, const Value& operand, CallArgs& args) {
    const auto it = tests().find(name);
    if (it == tests().end()) fail_unsupported_use("unknown test " + quote(name));
    return it->second(operand, args);
}

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
        default: return Value::undefined("'" + object.type_name() + " object' has no attribute '" + name + "'");
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
            return Value::undefined("'" + object.type_name() + " object' has no element " + key.repr());
        }
        if (object.is_list()) return object.as_list()[static_cast<size_t>(index)];
        const std::vector<char32_t> cps = code_points(object.as_string());
        return Value(from_code_points(cps, static_cast<size_t>(index), static_cast<size_t>(index) + 1));
    }
    if (key.is_string()) return get_attribute(object, key.as_string());
    return Value::undefined("'" + object.type_name() + " object' has no element " + key.repr());
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
