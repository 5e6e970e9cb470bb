#include "sdk/chat/jinja_lexer.h"

#include <array>

#include "sdk/chat/jinja_value.h"
#include "sdk/core/error.h"
#include "sdk/tokenizer/unicode.h"

namespace krait::jinja {

namespace {

[[noreturn]] void fail_syntax(int line, const std::string& what) {
    fail_argument("chat template line " + std::to_string(line) + ": " + what);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// str.rstrip() / the \s of Jinja's regexes: Python's Unicode whitespace.
size_t rstrip_end(std::string_view text) {
    size_t end = text.size();
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t pos = start;
        if (!python_isspace(tok::next_code_point(text, pos))) break;
        end = start;
    }
    return end;
}

size_t skip_space(std::string_view text, size_t pos) {
    while (pos < text.size()) {
        size_t next = pos;
        if (!python_isspace(tok::next_code_point(text, next))) break;
        pos = next;
    }
    return pos;
}

// Python's unicode-escape decoding of a string literal's body, as Jinja applies it.
std::string decode_string_literal(std::string_view body, int line) {
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\\' || i + 1 == body.size()) {
            out += body[i];
            continue;
        }
        const char e = body[++i];
        const auto hex_escape = [&](size_t digits) {
            uint32_t cp = 0;
            for (size_t k = 1; k <= digits; ++k) {
                const char h = i + k < body.size() ? body[i + k] : '\0';
                const int v = is_digit(h)                              ? h - '0'
                              : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10
                                                                       : -1;
                if (v < 0) fail_syntax(line, "truncated \\" + std::string(1, e) + " escape in a string literal");
                cp = cp * 16 + static_cast<uint32_t>(v);
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                fail_syntax(line, "a string literal escapes a surrogate or an invalid code point");
            }
            tok::append_utf8(out, cp);
            i += digits;
        };
        switch (e) {
            case '\n': break;  // line continuation
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            case 'x': hex_escape(2); break;
            case 'u': hex_escape(4); break;
            case 'U': hex_escape(8); break;
            case 'N': fail_syntax(line, "\\N{...} escapes in string literals are not supported");
            default:
                if (e >= '0' && e <= '7') {
                    uint32_t cp = 0;
                    size_t k = 0;
                    for (; k < 3 && i + k < body.size() && body[i + k] >= '0' && body[i + k] <= '7'; ++k) {
                        cp = cp * 8 + static_cast<uint32_t>(body[i + k] - '0');
                    }
                    i += k - 1;
                    tok::append_utf8(out, cp);
                } else {
                    out += '\\';  // unknown escapes stay as they are
                    out += e;
                }
        }
    }
    return out;
}

class Lexer {
public:
    explicit Lexer(std::string_view raw) {
        // Newlines normalised and one trailing newline dropped, as Jinja does before lexing.
        source_.reserve(raw.size());
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '\r') {
                source_ += '\n';
                if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
            } else {
                source_ += raw[i];
            }
        }
        if (!source_.empty() && source_.back() == '\n') source_.pop_back();
    }

    std::vector<Token> run() {
        bool line_starting = true;  // the text about to be read starts a line (lstrip_blocks)
        while (pos_ < source_.size()) {
            const size_t tag = find_tag_start(pos_);
            std::string_view text(source_.data() + pos_, (tag == std::string::npos ? source_.size() : tag) - pos_);
            if (tag == std::string::npos) {
                emit_text(text);
                break;
            }
            const char kind = source_[tag + 1];  // '{', '%' or '#'
            const char sign = tag + 2 < source_.size() ? source_[tag + 2] : '\0';
            if (sign == '-') {
                text = text.substr(0, rstrip_end(text));
            } else if (sign != '+' && kind != '{') {
                const size_t line_start = text.rfind('\n') + 1;  // npos + 1 == 0
                if (line_start > 0 || line_starting) {
                    const std::string_view indent = text.substr(line_start);
                    if (!indent.empty() && skip_space(indent, 0) == indent.size()) text = text.substr(0, line_start);
                }
            }
            emit_text(text);
            advance_to(tag + 2 + (sign == '-' || sign == '+' ? 1 : 0));
            if (kind == '#') {
                skip_comment();
            } else {
                lex_tag(kind == '{');
            }
            line_starting = pos_ > 0 && source_[pos_ - 1] == '\n';
        }
        tokens_.push_back({Token::Type::End, "", line_});
        return std::move(tokens_);
    }

private:
    size_t find_tag_start(size_t from) const {
        for (size_t i = source_.find('{', from); i != std::string::npos; i = source_.find('{', i + 1)) {
            if (i + 1 < source_.size() && (source_[i + 1] == '{' || source_[i + 1] == '%' || source_[i + 1] == '#')) {
                return i;
            }
        }
        return std::string::npos;
    }

    void advance_to(size_t pos) {
        for (; pos_ < pos; ++pos_) line_ += source_[pos_] == '\n';
    }

    void emit_text(std::string_view text) {
        if (text.empty()) return;
        tokens_.push_back({Token::Type::Text, std::string(text), line_});
    }

    // After a closing marker: `-` strips all following whitespace, `+` nothing, and a plain
    // block or comment end drops one newline (trim_blocks).
    void after_end_marker(char sign, bool trim_newline) {
        if (sign == '-') {
            advance_to(skip_space(source_, pos_));
        } else if (sign != '+' && trim_newline && pos_ < source_.size() && source_[pos_] == '\n') {
            advance_to(pos_ + 1);
        }
    }

    void skip_comment() {
        const int start_line = line_;
        const size_t body = pos_;
        const size_t end = source_.find("#}", pos_);
        if (end == std::string::npos) fail_syntax(start_line, "missing end of comment tag '#}'");
        const char sign = end > body && (source_[end - 1] == '-' || source_[end - 1] == '+') ? source_[end - 1] : '\0';
        advance_to(end + 2);
        after_end_marker(sign, true);
    }

    void lex_tag(bool is_variable) {
        const int start_line = line_;
        tokens_.push_back({is_variable ? Token::Type::VarBegin : Token::Type::BlockBegin, "", line_});
        const char close = is_variable ? '}' : '%';
        int open_brackets = 0;
        while (true) {
            advance_to(skip_space(source_, pos_));
            if (pos_ >= source_.size()) {
                fail_syntax(start_line, std::string("unexpected end of template, missing '") + close + "}'");
            }
            if (open_brackets == 0) {
                char sign = '\0';
                size_t marker = pos_;
                if (source_[marker] == '-' || (!is_variable && source_[marker] == '+')) sign = source_[marker++];
                if (source_.compare(marker, 2, std::string{close, '}'}) == 0) {
                    advance_to(marker + 2);
                    tokens_.push_back({is_variable ? Token::Type::VarEnd : Token::Type::BlockEnd, "", line_});
                    after_end_marker(sign, !is_variable);
                    return;
                }
            }
            const char c = source_[pos_];
            if (c == '\'' || c == '"') {
                lex_string(c);
            } else if (is_digit(c)) {
                lex_number();
            } else if (is_name_start(c)) {
                size_t end = pos_;
                while (end < source_.size() && is_name_char(source_[end])) ++end;
                tokens_.push_back({Token::Type::Name, source_.substr(pos_, end - pos_), line_});
                advance_to(end);
            } else {
                static constexpr std::array<std::string_view, 6> two_char = {"//", "**", "==", "!=", "<=", ">="};
                std::string op;
                for (const std::string_view candidate : two_char) {
                    if (source_.compare(pos_, 2, candidate) == 0) op = candidate;
                }
                if (op.empty()) {
                    if (std::string_view("+-*/%~<>=.,:|()[]{};").find(c) == std::string_view::npos) {
                        size_t end = pos_;
                        tok::next_code_point(source_, end);
                        fail_syntax(line_, "unexpected character " + quote(source_.substr(pos_, end - pos_)));
                    }
                    op = std::string(1, c);
                }
                if (op == "(" || op == "[" || op == "{") ++open_brackets;
                if ((op == ")" || op == "]" || op == "}") && open_brackets > 0) --open_brackets;
                tokens_.push_back({Token::Type::Operator, op, line_});
                advance_to(pos_ + op.size());
            }
        }
    }

    void lex_string(char quote_char) {
        const int start_line = line_;
        size_t end = pos_ + 1;
        while (end < source_.size() && source_[end] != quote_char) end += source_[end] == '\\' ? 2 : 1;
        if (end >= source_.size()) fail_syntax(start_line, "unterminated string literal");
        tokens_.push_back(
            {Token::Type::String,
             decode_string_literal(std::string_view(source_).substr(pos_ + 1, end - pos_ - 1), start_line),
             start_line});
        advance_to(end + 1);
    }

    // Digits with optional underscores; a float has a fraction or an exponent. After a '.', digits
    // are an integer (Jinja's (?<!\.) lookbehind), so `items.0.name` indexes.
    void lex_number() {
        const bool after_dot = pos_ > 0 && source_[pos_ - 1] == '.';
        size_t end = pos_;
        const auto digits = [&]() {
            while (end < source_.size() &&
                   (is_digit(source_[end]) ||
                    (source_[end] == '_' && end + 1 < source_.size() && is_digit(source_[end + 1])))) {
                ++end;
            }
        };
        digits();
        bool is_float = false;
        if (!after_dot && end + 1 < source_.size() && source_[end] == '.' && is_digit(source_[end + 1])) {
            ++end;
            digits();
            is_float = true;
        }
        if (!after_dot && end < source_.size() && (source_[end] | 0x20) == 'e') {
            size_t exp = end + 1;
            if (exp < source_.size() && (source_[exp] == '+' || source_[exp] == '-')) ++exp;
            if (exp < source_.size() && is_digit(source_[exp])) {
                end = exp;
                digits();
                is_float = true;
            }
        }
        std::string spelling;
        for (size_t i = pos_; i < end; ++i) {
            if (source_[i] != '_') spelling += source_[i];
        }
        tokens_.push_back({is_float ? Token::Type::Float : Token::Type::Integer, spelling, line_});
        advance_to(end);
    }

    std::string source_;
    size_t pos_ = 0;
    int line_ = 1;
    std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace krait::jinja
