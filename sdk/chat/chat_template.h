// A model's chat template, rendered as transformers' apply_chat_template(messages, tokenize=False,
// add_generation_prompt=...) renders it, byte for byte.
//
// Where a model ships its template, in the order used here:
//   1. chat_template.jinja (the default template) and additional_chat_templates/<name>.jinja;
//   2. chat_template.json {"chat_template": ...} (the processor format of multimodal models);
//   3. "chat_template" in tokenizer_config.json: a string, or a list of {"name", "template"}.
// With several named templates, "tool_use" is chosen when tools are passed and the model has one,
// else "default" (transformers' get_chat_template); a caller may name one.
//
// What the template sees, as transformers passes it: `messages` (each message with its null fields
// dropped, and reasoning given under "reasoning_content" and "thinking" too), `tools` and
// `documents` (None unless given), `add_generation_prompt`, the named special tokens of
// tokenizer_config.json (bos_token, eos_token, unk_token, sep_token, pad_token, cls_token,
// mask_token) as strings, and the caller's extra variables (enable_thinking, date_string, ...),
// which override the special tokens.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sdk/chat/jinja.h"
#include "sdk/core/json.h"

namespace krait::chat {

using OrderedJson = nlohmann::ordered_json;

class ChatTemplate {
public:
    // The template(s) of the model in `model_dir`. Without any: KRAIT_ERR_INVALID_ARGUMENT saying
    // to pass a template (see with_source). A template that cannot be parsed fails here.
    static ChatTemplate load(const std::string& model_dir);

    // `source` instead of the model's own template, with the special tokens of `model_dir`'s
    // tokenizer_config.json when `model_dir` is not empty.
    static ChatTemplate with_source(const std::string& source, const std::string& model_dir = "");

    // `messages`: an array of objects {"role": ..., "content": a string or a list of parts such as
    // {"type": "text", "text": ...} or {"type": "image"}, and any other fields the template reads
    // (tool_calls, name, ...)}. `variables`: an object of extra template variables, e.g. tools,
    // documents, enable_thinking. `template_name` picks one of several named templates.
    // Errors: KRAIT_ERR_INVALID_ARGUMENT for malformed input and template errors (a
    // jinja::TemplateRaisedError when the template itself refuses the conversation),
    // KRAIT_ERR_UNSUPPORTED for constructs the interpreter does not implement.
    std::string render(const OrderedJson& messages, bool add_generation_prompt,
                       const OrderedJson& variables = OrderedJson::object(), const std::string& template_name = "",
                       const jinja::RenderOptions& options = {}) const;

    // The names of the templates ("default" for a single one) and their text.
    std::vector<std::string> template_names() const;
    const std::string& source(const std::string& template_name = "default") const;

private:
    struct Named {
        std::string source;
        std::shared_ptr<const jinja::Template> parsed;
    };
    void add(const std::string& name, const std::string& source, const std::string& origin);
    // chat_template.jinja ("default") and additional_chat_templates/<name>.jinja.
    void add_template_files(const std::string& model_dir);
    // chat_template.json, else the "chat_template" entry of tokenizer_config.json.
    void add_json_templates(const std::string& model_dir);
    const Named& choose(const std::string& template_name, bool has_tools) const;

    std::map<std::string, Named> templates_;
    jinja::Dict special_tokens_;
};

}  // namespace krait::chat
