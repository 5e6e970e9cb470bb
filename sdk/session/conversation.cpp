#include "sdk/session/conversation.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "sdk/core/error.h"
#include "sdk/core/limits.h"
#include "sdk/core/text_file.h"
#include "sdk/session/state_file.h"

using krait::fail_argument;
using krait::chat::OrderedJson;

namespace {

// Turn-boundary snapshots kept by a conversation on a recurrent model (each is the model's
// fixed-size state, ~2.8 MB for mamba-130m, plus the tokens and logits): enough for undo /
// regenerate / edit of the recent turns; an edit further back re-prefills from the start.
constexpr size_t kMaxSnapshots = 16;

OrderedJson parse_extra(const char* extra_json) {
    if (!extra_json) return OrderedJson::object();
    OrderedJson extra;
    try {
        krait::check_json_depth(extra_json, "extra_json", KRAIT_ERR_INVALID_ARGUMENT);
        extra = OrderedJson::parse(extra_json);
    } catch (const OrderedJson::exception& e) {  // parse_error, and out_of_range for a number like 1e309
        fail_argument(std::string("extra_json is not valid JSON: ") + e.what());
    }
    if (!extra.is_object()) fail_argument("extra_json must be a JSON object");
    return extra;
}

// The id of tokenizer_config.json's eos_token (a string or {"content": ...}) when the tokenizer
// has it: chat models end a turn with it (<|im_end|>, <|eot_id|>, </s>, ...).
std::vector<int32_t> end_of_turn_ids(const krait_model& model) {
    std::vector<int32_t> ids;
    std::ifstream in(model.text_dir + "/tokenizer_config.json");
    if (!in) return ids;
    const std::string text = krait::read_rest(in, model.text_dir + "/tokenizer_config.json");
    krait::check_json_depth(text, model.text_dir + "/tokenizer_config.json");
    const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object() || !config.contains("eos_token")) return ids;
    const nlohmann::json& eos = config["eos_token"];
    std::string token;
    if (eos.is_string()) token = eos.get<std::string>();
    else if (eos.is_object() && eos.contains("content") && eos["content"].is_string())
        token = eos["content"].get<std::string>();
    if (token.empty()) return ids;
    if (const auto id = model.tokenizer.impl->token_to_id(token)) ids.push_back(*id);
    return ids;
}

// Wraps the caller's on_token: collects the streamed text (the reply) and passes every token on.
struct Collector {
    const krait_generate_params* caller;
    std::string text;
    static int on_token(int32_t id, const char* piece, size_t len, void* user) {
        auto* self = static_cast<Collector*>(user);
        self->text.append(piece, len);
        return self->caller->on_token ? self->caller->on_token(id, piece, len, self->caller->user_data) : 0;
    }
};

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

}  // namespace

krait_conversation::krait_conversation(krait_session& s, const char* system_prompt, const char* template_src,
                                       const char* extra_json)
    : session(s) {
    session.model.require_sequence("krait_conversation_create");
    if (!session.model.tokenizer.impl)
        krait::fail_unsupported("a conversation needs a tokenizer; " + session.model.text_dir + " has no tokenizer.json");
    extra_ = parse_extra(extra_json);
    if (template_src) {
        own_template_.emplace(krait::chat::ChatTemplate::with_source(template_src, session.model.text_dir));
        template_ = &*own_template_;
    } else {
        template_ = &session.model.chat_template();
    }
    end_ids_ = end_of_turn_ids(session.model);
    if (system_prompt) messages_.push_back({"system", system_prompt, {}});
}

krait_conversation::~krait_conversation() = default;

void krait_conversation::add_message(const std::string& role, const std::string& content) {
    if (role.empty()) fail_argument("role must not be empty");
    messages_.push_back({role, content, {}});
}

std::string krait_conversation::render(bool add_generation_prompt) const {
    std::string text = render_template(add_generation_prompt);
    // Images placed before the text show there, each as its image token's text.
    const krait::AssistantModel* a = session.model.assistant.get();
    if (!a || a->image_placement() != krait::ImagePlacement::BeforeText) return text;
    const std::string* token = session.model.tokenizer.impl->id_to_token(a->image_token_id());
    std::string slots;
    for (const Message& m : messages_)
        for (size_t i = 0; i < m.images.size(); ++i) slots += token ? *token : "<image>";
    return slots + text;
}

std::string krait_conversation::render_template(bool add_generation_prompt) const {
    // Objects are built key by key, not from initializer lists: nlohmann's initializer-list constructor
    // leaks the object it allocated when an insertion into it throws (tests/alloc, LeakSanitizer).
    auto object = [](const char* k1, OrderedJson v1, const char* k2, OrderedJson v2) {
        OrderedJson o = OrderedJson::object();
        o[k1] = std::move(v1);
        if (k2) o[k2] = std::move(v2);
        return o;
    };
    OrderedJson messages = OrderedJson::array();
    for (const Message& m : messages_) {
        if (m.images.empty()) {
            messages.push_back(object("role", m.role, "content", m.content));
            continue;
        }
        OrderedJson parts = OrderedJson::array();
        for (size_t i = 0; i < m.images.size(); ++i) parts.push_back(object("type", "image", nullptr, nullptr));
        parts.push_back(object("type", "text", "text", m.content));
        messages.push_back(object("role", m.role, "content", std::move(parts)));
    }
    return template_->render(messages, add_generation_prompt, extra_);
}

// The longest prefix of `prompt` whose state `held_tokens` + `held_images` can stand for: equal tokens,
// and every image inside it the same image (its tokens alone do not say which), ending outside images.
size_t reusable_prefix(const std::vector<int32_t>& held_tokens, const std::vector<ImageSpan>& held_images,
                       const std::vector<int32_t>& prompt, const std::vector<ImageSpan>& spans) {
    size_t common = common_prefix(held_tokens, prompt);
    for (const ImageSpan& h : held_images) {
        if (static_cast<size_t>(h.position) >= common) break;
        const bool same = std::find(spans.begin(), spans.end(), h) != spans.end();
        if (!same || static_cast<size_t>(h.position + h.rows) > common) {
            common = static_cast<size_t>(h.position);
            break;
        }
    }
    // A prompt image cut by the prefix: stop before it.
    for (const ImageSpan& s : spans)
        if (static_cast<size_t>(s.position) < common && static_cast<size_t>(s.position + s.rows) > common)
            common = static_cast<size_t>(s.position);
    return common;
}

void krait_conversation::prefill(const std::vector<int32_t>& prompt, const std::vector<ImageSpan>& spans,
                                 const std::vector<const Image*>& images) {
    const std::vector<int32_t>& held = session.tokens();
    size_t common = reusable_prefix(held, session.images(), prompt, spans);
    // A KV cache truncated to `keep` runs token keep - 1 again (it becomes pending): it must be text.
    if (common < static_cast<size_t>(session.state_tokens()))
        for (const ImageSpan& s : spans)
            if (static_cast<size_t>(s.position + s.rows) == common) common = static_cast<size_t>(s.position);
    const bool recurrent = session.recurrent();
    // How much of the prompt the session can keep by truncating: a KV cache any prefix; a
    // recurrent state only what it has not run yet (pending tokens) or nothing.
    // Nothing computed with other adapters than the active ones is reused (a turn run with an
    // adapter is recomputed when the next turn runs without it).
    size_t keep = session.state_fits_adapters() ? common : 0;
    if (recurrent && static_cast<int64_t>(common) < session.state_tokens()) keep = 0;
    // A turn-boundary snapshot that covers more of the prompt.
    const krait_state* best = nullptr;
    for (const auto& s : snapshots_) {
        const size_t n = s->context.size();
        if (n > keep && n <= prompt.size() && (!best || n > best->context.size()) && session.state_fits_adapters(*s) &&
            reusable_prefix(s->context, s->images, prompt, spans) == n && s->n_pending == 0)
            best = s.get();
    }
    if (best) session.restore(*best);
    else session.truncate(static_cast<int64_t>(keep));

    const size_t have = session.tokens().size();
    stats_.prompt_tokens = static_cast<int64_t>(prompt.size());
    stats_.reused_tokens = session.state_tokens();
    stats_.prefilled_tokens = stats_.prompt_tokens - stats_.reused_tokens;
    if (have < prompt.size() || session.n_pending() > 0) {
        // krait_session_append's path: runs the pending tokens and the rest of the prompt (an abort
        // empties the session, which the next reply handles); the images of the rest go with it.
        // A recurrent state runs the rest in two parts, the images then the text after the last
        // one, and keeps a snapshot between them: a new question about the same pictures resumes
        // there instead of running them again.
        std::vector<float> pixels;
        int64_t n_images = 0, height = 0, width = 0;
        size_t images_end = have;
        for (size_t i = 0; i < spans.size(); ++i) {
            if (static_cast<size_t>(spans[i].position) < have) continue;
            const Image& im = *images[i];
            if (n_images > 0 && (im.height != height || im.width != width))
                fail_argument("the images of a prompt must have one size");
            height = im.height;
            width = im.width;
            pixels.insert(pixels.end(), im.pixels.begin(), im.pixels.end());
            ++n_images;
            images_end = static_cast<size_t>(spans[i].position + spans[i].rows);
        }
        const size_t split = recurrent && n_images > 0 && images_end < prompt.size() ? images_end : prompt.size();
        if (n_images > 0)
            session.append_images(prompt.data() + have, split - have, pixels.data(), n_images, height, width, nullptr);
        else
            session.append(prompt.data() + have, prompt.size() - have, nullptr);
        if (split < prompt.size()) {
            keep_snapshot();
            session.append(prompt.data() + split, prompt.size() - split, nullptr);
        }
    }
    if (recurrent) keep_snapshot();
}

void krait_conversation::keep_snapshot() {
    // One snapshot per distinct context (a regenerated turn keeps its own, freshest last).
    std::unique_ptr<krait_state> now = session.snapshot();
    std::erase_if(snapshots_, [&](const auto& s) { return s->context == now->context && s->images == now->images; });
    snapshots_.push_back(std::move(now));
    if (snapshots_.size() > kMaxSnapshots) snapshots_.erase(snapshots_.begin());
}

std::string krait_conversation::generate_reply(const std::string& rendered, const krait_generate_params& params) {
    if (params.max_new_tokens <= 0)
        fail_argument("max_new_tokens must be > 0, got " + std::to_string(params.max_new_tokens));
    std::vector<int32_t> prompt = session.model.tokenizer.impl->encode(rendered, /*add_special_tokens=*/false);
    if (prompt.empty()) fail_argument("the chat template rendered an empty prompt");
    session.model.check_ids(prompt.data(), prompt.size());
    // An assistant's prompt: each image token the template wrote becomes the image's rows, and the
    // images of the messages must match them one for one.
    std::vector<ImageSpan> spans;
    std::vector<const Image*> images;
    for (const Message& m : messages_)
        for (const auto& im : m.images) images.push_back(im.get());
    if (const krait::AssistantModel* a = session.model.assistant.get()) {
        const int32_t image = a->image_token_id();
        const int64_t R = a->image_rows();
        const auto markers = static_cast<size_t>(std::count(prompt.begin(), prompt.end(), image));
        const bool before_text = a->image_placement() == krait::ImagePlacement::BeforeText;
        if (before_text && markers != 0)
            fail_argument("the chat template wrote " + std::to_string(markers) + " image token" +
                          (markers == 1 ? "" : "s") + " (id " + std::to_string(image) +
                          "), but this assistant places images before the text (image_placement \"prefix\"): "
                          "its template must render image parts as nothing");
        if (!before_text && markers != images.size())
            fail_argument("the chat template wrote " + std::to_string(markers) + " image token" +
                          (markers == 1 ? "" : "s") + " (id " + std::to_string(image) + ") for " +
                          std::to_string(images.size()) + " image" + (images.size() == 1 ? "" : "s") +
                          " in the messages: the template must render each image part as the image token");
        std::vector<int32_t> expanded;
        auto add_image = [&](size_t i) {
            spans.push_back({static_cast<int64_t>(expanded.size()), R, images[i]->hash});
            expanded.insert(expanded.end(), static_cast<size_t>(R), image);
        };
        size_t next = 0;
        if (before_text)
            while (next < images.size()) add_image(next++);
        for (const int32_t id : prompt) {
            if (id == image) add_image(next++);
            else expanded.push_back(id);
        }
        prompt = std::move(expanded);
    } else if (!images.empty()) {
        krait::fail(KRAIT_ERR_WRONG_KIND, "images in a conversation need a vision-language assistant; " +
                                              session.model.dir + " is a sequence model");
    }
    stats_ = Stats{};
    const int64_t encoded = session.images_encoded(), cached = session.images_cached();
    prefill(prompt, spans, images);
    stats_.images_encoded = session.images_encoded() - encoded;
    stats_.images_cached = session.images_cached() - cached;

    Collector collector{&params, {}};
    krait_generate_params p = params;
    p.on_token = &Collector::on_token;
    p.user_data = &collector;
    const size_t generated = session.generate(nullptr, 0, p, nullptr, 0, end_ids_);
    stats_.generated_tokens = static_cast<int64_t>(generated);
    return std::move(collector.text);
}

void krait_conversation::reply(const krait_generate_params& params) {
    if (messages_.empty()) fail_argument("the conversation has no messages to reply to");
    if (params.max_new_tokens <= 0)
        fail_argument("max_new_tokens must be > 0, got " + std::to_string(params.max_new_tokens));
    std::string text = generate_reply(render_template(/*add_generation_prompt=*/true), params);
    messages_.push_back({"assistant", std::move(text), {}});
}

std::string krait_conversation::chat(krait_session& session, const char* messages_json,
                                     const krait_generate_params& params) {
    krait_conversation once(session, nullptr, nullptr, nullptr);
    OrderedJson messages;
    try {
        krait::check_json_depth(messages_json, "messages_json", KRAIT_ERR_INVALID_ARGUMENT);
        messages = OrderedJson::parse(messages_json);
    } catch (const OrderedJson::exception& e) {  // parse_error, and out_of_range for a number like 1e309
        fail_argument(std::string("messages_json is not valid JSON: ") + e.what());
    }
    if (!messages.is_array() || messages.empty()) fail_argument("messages_json must be a non-empty JSON array");
    if (params.max_new_tokens <= 0)
        fail_argument("max_new_tokens must be > 0, got " + std::to_string(params.max_new_tokens));
    return once.generate_reply(once.template_->render(messages, /*add_generation_prompt=*/true, once.extra_), params);
}

void krait_conversation::add_message_with_images(const std::string& role, const std::string& content,
                                                 const float* pixels, int64_t n_images, int64_t height, int64_t width) {
    if (role.empty()) fail_argument("role must not be empty");
    messages_.push_back({role, content, copy_images(pixels, n_images, height, width)});
}

void krait_conversation::say_with_images(const std::string& user_text, const float* pixels, int64_t n_images,
                                         int64_t height, int64_t width, const krait_generate_params& params) {
    messages_.push_back({"user", user_text, copy_images(pixels, n_images, height, width)});
    try {
        reply(params);
    } catch (...) {
        messages_.pop_back();
        throw;
    }
}

std::vector<std::shared_ptr<const krait_conversation::Image>> krait_conversation::copy_images(
    const float* pixels, int64_t n_images, int64_t height, int64_t width) const {
    const krait::AssistantModel* a = session.model.assistant.get();
    if (!a)
        krait::fail(KRAIT_ERR_WRONG_KIND, "images in a conversation need a vision-language assistant; " +
                                              session.model.dir + " is not one");
    if (n_images < 0) fail_argument("n_images must be >= 0, got " + std::to_string(n_images));
    if (n_images > krait::limits::kImagesPerMessage)
        fail_argument(std::to_string(n_images) + " images in one message: the limit is " +
                      std::to_string(krait::limits::kImagesPerMessage));
    if (n_images > 0 && !pixels) fail_argument("pixels is NULL but n_images is " + std::to_string(n_images));
    if (n_images > 0 && (height != a->image_height() || width != a->image_width()))
        fail_argument("images of " + std::to_string(height) + "x" + std::to_string(width) + ": the assistant takes " +
                      std::to_string(a->image_height()) + "x" + std::to_string(a->image_width()) +
                      " (krait_model_preprocess_image* makes them)");
    std::vector<std::shared_ptr<const Image>> images;
    const size_t floats = static_cast<size_t>(3 * height * width);
    for (int64_t i = 0; i < n_images; ++i) {
        auto im = std::make_shared<Image>();
        im->pixels.assign(pixels + static_cast<size_t>(i) * floats, pixels + static_cast<size_t>(i + 1) * floats);
        im->height = height;
        im->width = width;
        im->hash = krait::image_hash(im->pixels.data(), height, width);
        images.push_back(std::move(im));
    }
    return images;
}

void krait_conversation::say(const std::string& user_text, const krait_generate_params& params) {
    messages_.push_back({"user", user_text, {}});
    try {
        reply(params);
    } catch (...) {
        messages_.pop_back();
        throw;
    }
}

void krait_conversation::regenerate(const krait_generate_params& params) {
    if (messages_.empty() || messages_.back().role != "assistant")
        fail_argument("regenerate: the last message is not an assistant reply");
    Message last = std::move(messages_.back());
    messages_.pop_back();
    try {
        reply(params);
    } catch (...) {
        messages_.push_back(std::move(last));
        throw;
    }
}

void krait_conversation::undo() {
    for (size_t i = messages_.size(); i-- > 0;)
        if (messages_[i].role == "user") {
            messages_.resize(i);
            return;
        }
    fail_argument("undo: the conversation has no user message");
}

void krait_conversation::edit(size_t index, const std::string& content) {
    if (index >= messages_.size())
        fail_argument("edit: message " + std::to_string(index) + " does not exist (the conversation has " +
                      std::to_string(messages_.size()) + ")");
    messages_[index].content = content;
    messages_.resize(index + 1);
}

void krait_conversation::save(const std::string& path) const {
    // The pictures of the messages go into the file with them (model-ready pixels), in message
    // order; the state's image spans name them by hash.
    std::vector<const Image*> pictures;
    for (const Message& m : messages_)
        for (const auto& im : m.images) pictures.push_back(im.get());
    krait::ByteWriter out;
    out.str(krait::encode_fingerprint(session.model.lm->fingerprint()));
    nlohmann::json messages = nlohmann::json::array();
    for (const Message& m : messages_) {
        nlohmann::json j = nlohmann::json::object();  // not an initializer list (see render_template)
        j["role"] = m.role;
        j["content"] = m.content;
        if (!pictures.empty()) j["images"] = m.images.size();
        messages.push_back(std::move(j));
    }
    out.str(messages.dump());
    std::vector<uint64_t> hashes;
    for (const Image* im : pictures) {
        out.u64(static_cast<uint64_t>(im->height));
        out.u64(static_cast<uint64_t>(im->width));
        out.array(im->pixels);
        hashes.push_back(im->hash);
    }
    session.write_state(out, pictures.empty() ? nullptr : &hashes);
    // With pictures, the file also keeps a recurrent model's snapshots (turn boundaries, after
    // images): a loaded conversation resumes from them as the original would.
    if (!pictures.empty()) {
        out.u64(snapshots_.size());
        for (const auto& snap : snapshots_) session.write_state(out, *snap, &hashes);
    }
    krait::write_state_file(path, pictures.empty() ? krait::StateFileKind::Conversation
                                                   : krait::StateFileKind::ConversationWithImages,
                            out.bytes());
}

std::unique_ptr<krait_conversation> krait_conversation::load(krait_session& session, const std::string& path,
                                                             const char* template_src, const char* extra_json) {
    session.model.require_sequence("krait_conversation_load");
    auto conversation = std::make_unique<krait_conversation>(session, nullptr, template_src, extra_json);
    krait::StateFileKind kind = krait::StateFileKind::Conversation;
    const std::string payload = krait::read_state_file(path, krait::StateFileKind::Conversation,
                                                       krait::StateFileKind::ConversationWithImages, &kind);
    const bool with_pictures = kind == krait::StateFileKind::ConversationWithImages;
    krait::ByteReader in(payload, krait::quote(path));
    krait::check_fingerprint(in.str(), session.model.lm->fingerprint(), in.origin());
    const std::string messages_text = in.str();
    krait::check_json_depth(messages_text, in.origin());
    const nlohmann::json messages = nlohmann::json::parse(messages_text, nullptr, /*allow_exceptions=*/false);
    if (!messages.is_array()) krait::fail_format(in.origin() + ": the messages are not a JSON array");
    std::vector<size_t> counts;
    for (const auto& m : messages) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
            !m["content"].is_string())
            krait::fail_format(in.origin() + ": a message is not {\"role\": string, \"content\": string}");
        conversation->messages_.push_back({m["role"].get<std::string>(), m["content"].get<std::string>(), {}});
        if (with_pictures) {
            if (!m.contains("images") || !m["images"].is_number_unsigned())
                krait::fail_format(in.origin() + ": a message has no picture count");
            counts.push_back(m["images"].get<size_t>());
        }
    }
    std::vector<uint64_t> hashes;
    if (with_pictures) {
        const krait::AssistantModel* a = session.model.assistant.get();
        if (!a) krait::fail(KRAIT_ERR_WRONG_KIND, in.origin() + " holds a conversation with pictures; " +
                                                      session.model.dir + " is not a vision-language assistant");
        for (size_t i = 0; i < counts.size(); ++i)
            for (size_t k = 0; k < counts[i]; ++k) {
                auto im = std::make_shared<Image>();
                im->height = static_cast<int64_t>(in.u64());
                im->width = static_cast<int64_t>(in.u64());
                if (im->height != a->image_height() || im->width != a->image_width())
                    krait::fail_format(in.origin() + ": a picture of " + std::to_string(im->height) + "x" +
                                       std::to_string(im->width) + "; the assistant takes " +
                                       std::to_string(a->image_height()) + "x" + std::to_string(a->image_width()));
                im->pixels = in.array<float>("a picture");
                if (im->pixels.size() != static_cast<size_t>(3 * im->height * im->width))
                    krait::fail_format(in.origin() + ": a picture holds " + std::to_string(im->pixels.size()) +
                                       " values, not 3 x " + std::to_string(im->height) + " x " +
                                       std::to_string(im->width));
                im->hash = krait::image_hash(im->pixels.data(), im->height, im->width);
                hashes.push_back(im->hash);
                conversation->messages_[i].images.push_back(std::move(im));
            }
    }
    std::unique_ptr<krait_state> state = session.read_state(in, with_pictures);
    for (const ImageSpan& span : state->images)
        if (std::find(hashes.begin(), hashes.end(), span.hash) == hashes.end())
            krait::fail_format(in.origin() + ": the state holds the rows of a picture at position " +
                               std::to_string(span.position) + " that the file does not store");
    if (with_pictures) {
        const uint64_t n = in.u64();
        if (n > kMaxSnapshots) krait::fail_format(in.origin() + ": " + std::to_string(n) + " snapshots");
        for (uint64_t i = 0; i < n; ++i) {
            std::unique_ptr<krait_state> snap = session.read_state(in, true);
            for (const ImageSpan& span : snap->images)
                if (std::find(hashes.begin(), hashes.end(), span.hash) == hashes.end())
                    krait::fail_format(in.origin() + ": a snapshot holds the rows of a picture the file does not store");
            conversation->snapshots_.push_back(std::move(snap));
        }
    }
    if (in.remaining() != 0)
        krait::fail_format(in.origin() + ": " + std::to_string(in.remaining()) + " bytes after the conversation");
    session.restore(*state);
    return conversation;
}
