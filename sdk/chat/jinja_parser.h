// Jinja's grammar (jinja2/parser.py) over the tokens of jinja_lexer, producing jinja_ast.
//
// Statements: if/elif/else, for (tuple targets, `if` filter, else), set (expression, block and
// namespace-attribute forms), macro, call, filter, break/continue (transformers enables
// jinja2.ext.loopcontrols) and transformers' generation tag. Statements a chat template cannot
// use here (include, import, extends, block, raw, ...) are refused with KRAIT_ERR_UNSUPPORTED;
// syntax errors are KRAIT_ERR_INVALID_ARGUMENT. Both name the template line. Nesting is bounded
// so that no input can exhaust the stack.
#pragma once

#include <vector>

#include "sdk/chat/jinja_ast.h"
#include "sdk/chat/jinja_lexer.h"

namespace krait::jinja {

Body parse_template(const std::vector<Token>& tokens);

}  // namespace krait::jinja
