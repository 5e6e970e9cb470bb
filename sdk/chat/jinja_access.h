// Attribute and item access as Jinja's sandbox performs it, and the Python methods of str, dict
// and list that chat templates call (message.content.strip(), tool.get('x'), ...).
#pragma once

#include <string>

#include "sdk/chat/jinja_value.h"

namespace krait::jinja {

// object.name: Jinja's getattr (attribute, then item), with methods bound to `object`.
Value get_attribute(const Value& object, const std::string& name);
// object[key]: Jinja's getitem (item, then attribute). Missing entries are Undefined.
Value get_item(const Value& object, const Value& key);
// object[start:stop:step] on a string or list; absent bounds are Undefined values.
Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step);

}  // namespace krait::jinja
