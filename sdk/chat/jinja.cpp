#include "sdk/chat/jinja.h"

#include "sdk/chat/jinja_lexer.h"
#include "sdk/chat/jinja_parser.h"
#include "sdk/chat/jinja_render.h"
#include "sdk/core/utf8.h"

namespace krait::jinja {

TemplateRaisedError::TemplateRaisedError(const std::string& template_message, int line)
    : Error(KRAIT_ERR_INVALID_ARGUMENT, "chat template line " + std::to_string(line) +
                                            " refused the conversation: " + quote(template_message, 1000)),
      template_message_(template_message) {}

std::tm local_time_now() {
    const std::time_t t = std::time(nullptr);
    std::tm local{};
    localtime_r(&t, &local);
    return local;
}

Template::Template(std::string_view source) {
    if (const size_t bad = find_invalid_utf8(source); bad != std::string_view::npos) {
        fail_argument("chat template: not valid UTF-8 at byte " + std::to_string(bad));
    }
    body_ = parse_template(tokenize(source));
}

std::string Template::render(const Dict& variables, const RenderOptions& options) const {
    return render_template(body_, variables, options);
}

}  // namespace krait::jinja
