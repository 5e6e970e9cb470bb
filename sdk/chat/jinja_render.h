// Walks a parsed template (jinja_ast) and produces its text, with Jinja's scoping: a for loop's
// body and a macro's body get their own scope, if/else does not; `set` writes to the innermost
// scope; namespaces are shared objects, so attribute assignment is visible everywhere.
#pragma once

#include <string>

#include "sdk/chat/jinja.h"

namespace krait::jinja {

std::string render_template(const Body& body, const Dict& variables, const RenderOptions& options);

}  // namespace krait::jinja
