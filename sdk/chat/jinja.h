// A Jinja2 interpreter for chat templates: renders a model's template exactly as transformers'
// apply_chat_template does (Jinja 3.1 in an ImmutableSandboxedEnvironment with trim_blocks,
// lstrip_blocks, loop controls and transformers' globals raise_exception, strftime_now, namespace
// and dict, and its tojson filter).
//
// The pieces, one per concern: jinja_lexer (whitespace rules), jinja_parser (grammar, refusing
// what is not supported), jinja_value (Python semantics of values), jinja_text (Python's str
// operations), jinja_access (attributes, items, slices and the methods of str, dict and list),
// jinja_builtins (filters and tests), jinja_render (statements, scopes, loops, macros, limits).
//
// Errors are krait::Error naming the template line: KRAIT_ERR_INVALID_ARGUMENT for syntax errors
// and failures while rendering, KRAIT_ERR_UNSUPPORTED for constructs this interpreter does not
// implement ({% include %}, {% extends %}, unknown filters, ...), TemplateRaisedError for the
// template's own raise_exception(). No input can crash it: nesting, recursion, loop iterations and
// output size are bounded.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>

#include "sdk/chat/jinja_ast.h"
#include "sdk/chat/jinja_value.h"
#include "sdk/core/error.h"

namespace krait::jinja {

// raise_exception(message) in a template: the template refused its input (e.g. "Conversation
// roles must alternate user/assistant/user/assistant/..."). what() says so and names the line;
// template_message() is the template's text as it wrote it.
class TemplateRaisedError : public Error {
public:
    TemplateRaisedError(const std::string& template_message, int line);
    const std::string& template_message() const { return template_message_; }

private:
    std::string template_message_;
};

std::tm local_time_now();

struct RenderOptions {
    // The local time strftime_now() formats (Python's datetime.now()); tests fix it.
    std::function<std::tm()> now = local_time_now;
    // Bounds that stop runaway templates with an error instead of exhausting time or memory.
    size_t max_output_bytes = size_t{16} << 20;  // text written, a macro's each time it is used
    int64_t max_loop_iterations = 1'000'000;     // for-loop iterations and macro calls, together
    int max_call_depth = 64;                     // nested macro calls
};

class Template {
public:
    // Parses `source` (must be valid UTF-8). Throws krait::Error as described above.
    explicit Template(std::string_view source);

    // Renders with `variables` as the template's globals (messages, add_generation_prompt,
    // bos_token, ...), on top of the built-in globals.
    std::string render(const Dict& variables, const RenderOptions& options = {}) const;

private:
    Body body_;
};

}  // namespace krait::jinja
