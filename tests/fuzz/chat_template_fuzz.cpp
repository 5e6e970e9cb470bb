// Chat templates (sdk/chat: the Jinja lexer, parser and interpreter with its filters, tests,
// methods, loops, macros and limits; ChatTemplate's variables): the input is a template, parsed
// and rendered with a fixed conversation (system, user, assistant with a tool call, tool, a user
// message with image parts), tools, documents and extra variables, as transformers passes them.
#include <ctime>

#include "fuzz_common.h"
#include "sdk/chat/chat_template.h"

namespace {
using krait::chat::OrderedJson;

const OrderedJson& messages() {
    static const OrderedJson m = OrderedJson::parse(R"([
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "Hi \u00e9\ud83d\ude00 <|im_end|>"},
      {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get", "arguments": {"city": "Paris", "n": [1, 2.5, null, true]}}}]},
      {"role": "tool", "name": "get", "content": "{\"t\": 21}"},
      {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}
    ])");
    return m;
}

const OrderedJson& variables() {
    static const OrderedJson v = OrderedJson::parse(R"({
      "tools": [{"type": "function", "function": {"name": "get", "description": "d", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
      "documents": [{"title": "t", "text": "x"}],
      "enable_thinking": false,
      "date_string": "26 Jul 2024"
    })");
    return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string source(reinterpret_cast<const char*>(data), size);
    krait::jinja::RenderOptions options;
    options.now = [] {
        std::tm t{};
        t.tm_year = 124;
        t.tm_mon = 6;
        t.tm_mday = 26;
        return t;
    };
    krait_fuzz::run("chat template", [&] {
        const auto chat = krait::chat::ChatTemplate::with_source(source);
        for (bool add_generation_prompt : {true, false})
            krait_fuzz::run("render", [&] { chat.render(messages(), add_generation_prompt, variables(), "", options); });
    });
    return 0;
}
