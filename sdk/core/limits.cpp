#include "sdk/core/limits.h"

#include "sdk/core/error.h"

namespace krait {

void check_json_depth(std::string_view text, const std::string& origin, krait_status status) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limits::kJsonDepth)
                fail(status, origin + ": JSON nested deeper than " + std::to_string(limits::kJsonDepth) + " levels");
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
}

}  // namespace krait
