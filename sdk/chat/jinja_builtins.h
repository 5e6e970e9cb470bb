// What a template can do with values: Jinja's built-in filters and tests, attribute and item
// access as Jinja's sandbox performs it, and the Python methods of str, dict and list that chat
// templates call (message.content.strip(), tool.get('x'), ...).
//
// Each filter and test follows jinja2/filters.py and jinja2/tests.py (Jinja 3.1), except tojson,
// which is transformers' override (json.dumps with ensure_ascii=False, no HTML escaping). Names
// outside these tables are refused when the template is parsed, as Jinja refuses them when it
// compiles the template.
#pragma once

#include <string>

#include "sdk/chat/jinja_value.h"

namespace krait::jinja {

// The longest string or list an operation may build, so that a runaway template (a string doubled
// in a loop, 'x' * 10**9) fails cleanly instead of exhausting memory.
constexpr size_t kMaxValueBytes = size_t{64} << 20;

bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

Value apply_filter(const std::string& name, const Value& operand, CallArgs& args);
bool apply_test(const std::string& name, const Value& operand, CallArgs& args);

// object.name: Jinja's getattr (attribute, then item), with methods bound to `object`.
Value get_attribute(const Value& object, const std::string& name);
// object[key]: Jinja's getitem (item, then attribute). Missing entries are Undefined.
Value get_item(const Value& object, const Value& key);
// object[start:stop:step] on a string or list; absent bounds are Undefined values.
Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step);

}  // namespace krait::jinja
