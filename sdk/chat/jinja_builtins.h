// Jinja's built-in filters and tests.
//
// Each filter and test follows jinja2/filters.py and jinja2/tests.py (Jinja 3.1), except tojson,
// which is transformers' override (json.dumps with ensure_ascii=False, no HTML escaping). Names
// outside these tables are refused when the template is parsed, as Jinja refuses them when it
// compiles the template.
#pragma once

#include <string>

#include "sdk/chat/jinja_value.h"

namespace krait::jinja {

bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

Value apply_filter(const std::string& name, const Value& operand, CallArgs& args);
bool apply_test(const std::string& name, const Value& operand, CallArgs& args);

}  // namespace krait::jinja
