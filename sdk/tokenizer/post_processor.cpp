#include "sdk/tokenizer/post_processor.h"
#include "sdk/core/utf8.h"

#include <string>

namespace krait::tok {

namespace {

class NoOpPostProcessor final : public PostProcessor {
public:
    void process(std::vector<int32_t>&) const override {}
};

// HF TemplateProcessing, single sequence: e.g. [SpecialToken "<s>", Sequence "A"] -> <s> ids.
class TemplatePostProcessor final : public PostProcessor {
public:
    // One template item: the ids of a special token, or (is_sequence) the input ids.
    struct Item {
        bool is_sequence = false;
        std::vector<int32_t> ids;
    };
    explicit TemplatePostProcessor(std::vector<Item> items) : items_(std::move(items)) {}

    void process(std::vector<int32_t>& ids) const override {
        std::vector<int32_t> out;
        out.reserve(ids.size() + items_.size());
        for (const Item& item : items_) {
            if (item.is_sequence) {
                out.insert(out.end(), ids.begin(), ids.end());
            } else {
                out.insert(out.end(), item.ids.begin(), item.ids.end());
            }
        }
        ids = std::move(out);
    }

private:
    std::vector<Item> items_;
};

class SequencePostProcessor final : public PostProcessor {
public:
    explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
    void process(std::vector<int32_t>& ids) const override {
        for (const auto& step : steps_) step->process(ids);
    }

private:
    std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::unique_ptr<PostProcessor> parse_template(const Json& j, const JsonPath& at) {
    const Json& specials = require(j, "special_tokens", at);
    const JsonPath sp = at.child("special_tokens");
    if (!specials.is_object()) sp.fail_format("must be an object");

    const Json& single = require(j, "single", at);
    const JsonPath tp = at.child("single");
    if (!single.is_array()) tp.fail_format("must be an array");
    std::vector<TemplatePostProcessor::Item> items;
    for (size_t i = 0; i < single.size(); ++i) {
        const Json& piece = single[i];
        const JsonPath ip = tp.index(i);
        TemplatePostProcessor::Item item;
        if (const Json* seq = optional_member(piece, "Sequence")) {
            const std::string id = require_string(*seq, "id", ip.child("Sequence"));
            if (id != "A") ip.child("Sequence.id").fail_format("is " + krait::quote(id) + "; a single-sequence template uses A");
            item.is_sequence = true;
        } else if (const Json* tok = optional_member(piece, "SpecialToken")) {
            const std::string name = require_string(*tok, "id", ip.child("SpecialToken"));
            const auto it = specials.find(name);
            if (it == specials.end()) sp.child(name).fail_format("is missing (used by the single template)");
            const JsonPath ep = sp.child(name);
            const Json& ids = require(*it, "ids", ep);
            if (!ids.is_array()) ep.child("ids").fail_format("must be an array");
            for (size_t k = 0; k < ids.size(); ++k) item.ids.push_back(as_token_id(ids[k], ep.child("ids").index(k)));
        } else {
            ip.fail_format("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
        }
        items.push_back(std::move(item));
    }
    return std::make_unique<TemplatePostProcessor>(std::move(items));
}

}  // namespace

std::unique_ptr<PostProcessor> parse_post_processor(const Json& j, const JsonPath& at) {
    const std::string type = component_type(j, at);
    if (type == "ByteLevel") return std::make_unique<NoOpPostProcessor>();
    if (type == "TemplateProcessing") return parse_template(j, at);
    if (type == "Sequence") {
        const Json& list = require(j, "processors", at);
        const JsonPath lp = at.child("processors");
        if (!list.is_array()) lp.fail_format("must be an array");
        std::vector<std::unique_ptr<PostProcessor>> steps;
        for (size_t i = 0; i < list.size(); ++i) steps.push_back(parse_post_processor(list[i], lp.index(i)));
        return std::make_unique<SequencePostProcessor>(std::move(steps));
    }
    at.child("type").fail_unsupported("is '" + type +
                                      "'; supported post-processors: ByteLevel, TemplateProcessing, Sequence");
}

}  // namespace krait::tok
