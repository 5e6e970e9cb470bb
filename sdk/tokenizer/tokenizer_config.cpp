#include "sdk/tokenizer/tokenizer_config.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <string>

#include "sdk/core/utf8.h"

namespace krait::tok {

namespace {

bool same_token(const AddedTokenSpec& a, const AddedTokenSpec& b) {
    return a.content == b.content && a.single_word == b.single_word && a.lstrip == b.lstrip &&
           a.rstrip == b.rstrip && a.normalized == b.normalized && a.special == b.special;
}

// A special token value: "text", or an AddedToken object {"content": ..., flags} (older files add
// "__type": "AddedToken"). A string becomes AddedToken(text, special=True), so not normalized.
AddedTokenSpec special_token_value(const Json& v, const JsonPath& at) {
    if (v.is_string()) {
        AddedTokenSpec t;
        t.content = v.get<std::string>();
        if (find_invalid_utf8(t.content) != std::string::npos) at.fail_format("is not valid UTF-8");
        t.special = true;
        t.normalized = false;
        return t;
    }
    if (!v.is_object()) at.fail_format("must be a string or an object with \"content\"");
    return parse_added_token(v, at);
}

}  // namespace

std::vector<AddedTokenSpec> config_added_tokens(const Json& config, const JsonPath& at,
                                                const std::vector<AddedTokenSpec>& existing) {
    if (!config.is_object()) at.fail_format("is not a JSON object");
    std::vector<AddedTokenSpec> to_add;

    // 1. added_tokens_decoder {"<id>": token}, by increasing id.
    if (const Json* decoder = optional_member(config, "added_tokens_decoder")) {
        const JsonPath dp = at.child("added_tokens_decoder");
        if (!decoder->is_object()) dp.fail_format("must be an object {\"<id>\": {\"content\": ...}}");
        std::map<int64_t, AddedTokenSpec> by_key;
        for (auto it = decoder->begin(); it != decoder->end(); ++it) {
            const JsonPath ep = dp.child(it.key());
            errno = 0;
            char* end = nullptr;
            const long long key = std::strtoll(it.key().c_str(), &end, 10);
            if (it.key().empty() || *end != '\0' || errno != 0 || key < 0) ep.fail_format("is not a token id");
            by_key[key] = parse_added_token(it.value(), ep);
        }
        for (auto& entry : by_key) {
            AddedTokenSpec& token = entry.second;  // not a structured binding: clang < 16 cannot capture one
            const bool known = std::any_of(existing.begin(), existing.end(),
                                           [&](const AddedTokenSpec& e) { return same_token(e, token); });
            if (!known) to_add.push_back(std::move(token));
        }
    }

    const auto present = [&](const std::string& content) {
        const auto has = [&](const AddedTokenSpec& t) { return t.content == content; };
        return std::any_of(existing.begin(), existing.end(), has) || std::any_of(to_add.begin(), to_add.end(), has);
    };
    // 2. The named special tokens, then the extra ones.
    std::vector<std::string> named;
    for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
        const Json* v = optional_member(config, key);
        if (!v) continue;
        AddedTokenSpec t = special_token_value(*v, at.child(key));
        named.push_back(t.content);
        if (!present(t.content)) to_add.push_back(std::move(t));
    }
    for (const char* key : {"additional_special_tokens", "extra_special_tokens"}) {
        const Json* v = optional_member(config, key);
        if (!v) continue;
        const JsonPath lp = at.child(key);
        if (!v->is_array() && !v->is_object()) lp.fail_format("must be a list of tokens (or an object of them)");
        size_t i = 0;
        for (auto it = v->begin(); it != v->end(); ++it, ++i) {
            AddedTokenSpec t = special_token_value(*it, v->is_array() ? lp.index(i) : lp.child(it.key()));
            if (!present(t.content)) to_add.push_back(std::move(t));
        }
    }
    for (AddedTokenSpec& t : to_add) {
        if (std::find(named.begin(), named.end(), t.content) != named.end()) t.special = true;
    }
    return to_add;
}

}  // namespace krait::tok
