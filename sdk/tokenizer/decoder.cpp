#include "sdk/tokenizer/decoder.h"

#include "sdk/tokenizer/normalizer.h"
#include "sdk/tokenizer/pre_tokenizer.h"
#include "sdk/tokenizer/unicode.h"
#include "sdk/core/utf8.h"

namespace krait::tok {

namespace {

std::vector<char32_t> code_points(std::string_view s) {
    std::vector<char32_t> cps;
    cps.reserve(s.size());
    for (size_t pos = 0; pos < s.size();) cps.push_back(next_code_point(s, pos));
    return cps;
}

// GPT-2 byte level: every token whose characters all come from the byte table becomes those bytes;
// any other token (an added token such as "<|endoftext|>" or "  ") contributes its own UTF-8. The
// bytes of all tokens are then read as UTF-8, invalid sequences becoming U+FFFD.
class ByteLevelDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string bytes;
        std::string mapped;
        for (const std::string& t : tokens) {
            mapped.clear();
            bool all = true;
            for (size_t pos = 0; pos < t.size();) {
                const int b = byte_level_byte(next_code_point(t, pos));
                if (b < 0) {
                    all = false;
                    break;
                }
                mapped.push_back(static_cast<char>(b));
            }
            bytes += all ? mapped : t;
        }
        tokens.assign(1, utf8_lossy(bytes));
    }
};

enum class Scheme { kAlways, kFirst, kNever };

// SentencePiece's '▁' back to ' '; in the first token every '▁' is dropped (unless the scheme is
// "never"), as HF's Metaspace decoder does.
class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(char32_t replacement, Scheme scheme) : replacement_(replacement), scheme_(scheme) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            std::string out;
            const std::string& t = tokens[i];
            for (size_t pos = 0; pos < t.size();) {
                const size_t begin = pos;
                const char32_t cp = next_code_point(t, pos);
                if (cp == replacement_) {
                    if (!(i == 0 && scheme_ != Scheme::kNever)) out.push_back(' ');
                } else {
                    out.append(t, begin, pos - begin);
                }
            }
            tokens[i] = std::move(out);
        }
    }

private:
    char32_t replacement_;
    Scheme scheme_;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(ReplacePattern pattern, std::string content)
        : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) t = pattern_.replace(t, content_);
    }

private:
    ReplacePattern pattern_;
    std::string content_;
};

// Runs of <0xXX> tokens become the bytes they name when those form valid UTF-8, else one U+FFFD
// per byte (HF ByteFallback; note: not the maximal-subpart rule of the ByteLevel decoder).
class ByteFallbackDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        std::string pending;
        const auto flush = [&] {
            if (pending.empty()) return;
            if (find_invalid_utf8(pending) == std::string::npos) {
                out.push_back(pending);
            } else {
                for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
            }
            pending.clear();
        };
        for (std::string& t : tokens) {
            int byte = -1;
            if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex_byte(t[3], t[4]);
            if (byte >= 0) {
                pending.push_back(static_cast<char>(byte));
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens = std::move(out);
    }

private:
    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    // Rust's u8::from_str_radix(s, 16) on the two characters: also accepts a leading '+'.
    static int parse_hex_byte(char a, char b) {
        const int lo = hex(b);
        if (lo < 0) return -1;
        if (a == '+') return lo;
        const int hi = hex(a);
        return hi < 0 ? -1 : hi * 16 + lo;
    }
};

class FuseDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
    }
};

// Removes up to `start` leading and `stop` trailing `content` characters from every token.
class StripDecoder final : public Decoder {
public:
    StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) {
            const std::vector<char32_t> cps = code_points(t);
            size_t start_cut = 0;
            for (size_t i = 0; i < start_ && i < cps.size() && cps[i] == content_; ++i) start_cut = i + 1;
            size_t stop_cut = cps.size();
            for (size_t i = 0; i < stop_ && i < cps.size(); ++i) {
                const size_t index = cps.size() - i - 1;
                if (index < start_cut || cps[index] != content_) break;
                stop_cut = index;
            }
            std::string out;
            for (size_t i = start_cut; i < stop_cut; ++i) append_utf8(out, cps[i]);
            t = std::move(out);
        }
    }

private:
    char32_t content_;
    size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (const auto& step : steps_) step->decode_chain(tokens);
    }

private:
    std::vector<std::unique_ptr<Decoder>> steps_;
};

Scheme parse_scheme(const Json& j, const JsonPath& at) {
    Scheme scheme = Scheme::kAlways;
    if (const Json* v = optional_member(j, "prepend_scheme")) {
        const std::string s = as_string(*v, at.child("prepend_scheme"));
        if (s == "always") {
            scheme = Scheme::kAlways;
        } else if (s == "first") {
            scheme = Scheme::kFirst;
        } else if (s == "never") {
            scheme = Scheme::kNever;
        } else {
            at.child("prepend_scheme").fail_format("is " + krait::quote(s) + "; expected always, first or never");
        }
    }
    if (!optional_bool(j, "add_prefix_space", true, at)) scheme = Scheme::kNever;
    return scheme;
}

size_t as_count(const Json& j, const char* key, const JsonPath& at) {
    return static_cast<size_t>(as_int(require(j, key, at), at.child(key), 0, 1 << 20));
}

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const Json& j, const JsonPath& at) {
    const std::string type = component_type(j, at);
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "Metaspace") {
        return std::make_unique<MetaspaceDecoder>(
            as_single_char(require(j, "replacement", at), at.child("replacement")), parse_scheme(j, at));
    }
    if (type == "Replace") {
        ReplacePattern pattern = parse_replace_pattern(j, at);
        return std::make_unique<ReplaceDecoder>(std::move(pattern), require_string(j, "content", at));
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        return std::make_unique<StripDecoder>(as_single_char(require(j, "content", at), at.child("content")),
                                              as_count(j, "start", at), as_count(j, "stop", at));
    }
    if (type == "Sequence") {
        const Json& list = require(j, "decoders", at);
        const JsonPath lp = at.child("decoders");
        if (!list.is_array()) lp.fail_format("must be an array");
        std::vector<std::unique_ptr<Decoder>> steps;
        for (size_t i = 0; i < list.size(); ++i) steps.push_back(parse_decoder(list[i], lp.index(i)));
        return std::make_unique<SequenceDecoder>(std::move(steps));
    }
    at.child("type").fail_unsupported(
        "is " + krait::quote(type) + "; supported decoders: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence");
}

}  // namespace krait::tok
