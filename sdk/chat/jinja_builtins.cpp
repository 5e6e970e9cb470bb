#include "sdk/chat/jinja_builtins.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "sdk/chat/jinja_access.h"
#include "sdk/chat/jinja_text.h"
#include "sdk/core/utf8.h"
#include "sdk/tokenizer/unicode.h"

namespace krait::jinja {

namespace {

// Jinja's soft_str: strings as they are, everything else through str() (Undefined is "").
std::string soft_str(const Value& v) { return v.is_string() ? v.as_string() : v.str(); }

// Dict keys and set members must be hashable in Python: lists, dicts and namespaces are not.
void require_hashable(const Value& v) {
    if (v.is_list() && !v.is_tuple()) fail_type("unhashable type: 'list'");
    if (v.is_dict()) fail_type("unhashable type: 'dict'");
    if (v.is_namespace()) fail_type("unhashable type: 'Namespace'");
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
        check_value_bytes(out.size());
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
                check_value_bytes(out.size());
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

}  // namespace krait::jinja
