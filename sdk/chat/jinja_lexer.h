// Jinja's lexer, configured as transformers configures it for chat templates.
//
// transformers renders templates with ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True) and Jinja's defaults otherwise, which fix the whitespace rules here:
//   * newlines (\r\n, \r, \n) in the source become \n, and one trailing newline is dropped
//     (keep_trailing_newline=False);
//   * trim_blocks: the first newline after a block tag `%}` or a comment `#}` is removed;
//   * lstrip_blocks: spaces and tabs from the start of a line up to a block or comment tag are
//     removed (not before `{{`);
//   * `{%-` / `{{-` / `{#-` strip all whitespace before the tag, `-%}` / `-}}` / `-#}` all after
//     it; `{%+` and `+%}` turn lstrip_blocks / trim_blocks off for that tag.
// Inside a tag the end marker is not recognised while brackets are open ({{ {'a': {}}} }}), as in
// Jinja.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace krait::jinja {

struct Token {
    enum class Type {
        Text,        // template text to output as is
        VarBegin,    // {{
        VarEnd,      // }}
        BlockBegin,  // {%
        BlockEnd,    // %}
        Name,        // identifiers and keywords
        String,      // a string literal, escapes already decoded
        Integer,
        Float,
        Operator,  // + - * / // % ** ~ == != < <= > >= = . , : | ( ) [ ] { }
        End,
    };
    Type type;
    std::string text;  // the text, name, decoded string, number spelling or operator
    int line;
};

// Splits `source` (valid UTF-8) into tokens. Throws krait::Error(KRAIT_ERR_INVALID_ARGUMENT)
// naming the line for an unterminated tag, comment or string, or a character Jinja rejects.
std::vector<Token> tokenize(std::string_view source);

}  // namespace krait::jinja
