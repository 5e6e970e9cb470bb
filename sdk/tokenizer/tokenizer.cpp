#include "sdk/tokenizer/tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "sdk/tokenizer/added_vocabulary.h"
#include "sdk/tokenizer/bpe.h"
#include "sdk/tokenizer/decoder.h"
#include "sdk/tokenizer/json_util.h"
#include "sdk/tokenizer/normalizer.h"
#include "sdk/tokenizer/post_processor.h"
#include "sdk/tokenizer/pre_tokenizer.h"
#include "sdk/tokenizer/tokenizer_config.h"
#include "sdk/tokenizer/unicode.h"
#include "sdk/core/utf8.h"
#include "sdk/core/limits.h"
#include "sdk/core/text_file.h"

namespace krait {

using tok::Json;
using tok::JsonPath;

struct Tokenizer::Impl {
    std::string origin;
    std::unique_ptr<tok::Normalizer> normalizer;
    std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
    std::unique_ptr<tok::BpeModel> model;
    std::unique_ptr<tok::AddedVocabulary> added;
    std::unique_ptr<tok::PostProcessor> post_processor;
    std::unique_ptr<tok::Decoder> decoder;
    int64_t vocab_size = 0;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

namespace {

std::string read_text_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        fail_io("tokenizer: " + krait::quote(path) + " is a directory, not a tokenizer.json");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_io("tokenizer: cannot open " + krait::quote(path) + ": " + std::generic_category().message(errno));
    return krait::read_rest(in, "tokenizer: " + krait::quote(path));
}

Json parse_document(const std::string& text, const std::string& origin) {
    try {
        krait::check_json_depth(text, origin);
        return Json::parse(text);
    } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number like 1e309
        fail_format(origin + ": malformed JSON: " + e.what());
    }
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
    return from_json(read_text_file(path), path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_directory(const std::string& dir) {
    const std::filesystem::path base(dir);
    const std::string tokenizer_path = (base / "tokenizer.json").string();
    const std::string config_path = (base / "tokenizer_config.json").string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(tokenizer_path, ec)) {
        fail_io("tokenizer: " + krait::quote(dir) + " has no tokenizer.json");
    }
    const std::string text = read_text_file(tokenizer_path);
    if (!std::filesystem::exists(config_path, ec)) return from_json(text, tokenizer_path);
    const std::string config = read_text_file(config_path);
    return from_json(text, tokenizer_path, &config, config_path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_json(const std::string& json_text, const std::string& origin,
                                                const std::string* config_text, const std::string& config_origin) {
    Json doc = parse_document(json_text, origin);
    const JsonPath root{origin, ""};
    if (!doc.is_object()) fail_format(origin + ": the top level is not a JSON object");

    auto impl = std::make_unique<Impl>();
    impl->origin = origin;
    try {
        if (const Json* v = tok::optional_member(doc, "version")) {
            const std::string version = tok::as_string(*v, root.child("version"));
            if (version != "1.0") root.child("version").fail_unsupported("is " + krait::quote(version) + "; expected 1.0");
        }

        const Json& model = tok::require(doc, "model", root);
        const JsonPath mp = root.child("model");
        if (!model.is_object()) mp.fail_format("must be an object");
        // Files written by old versions of tokenizers have no "type"; a vocab with merges is a BPE.
        std::string type;
        if (model.contains("type")) {
            type = tok::require_string(model, "type", mp);
        } else if (model.contains("merges")) {
            type = "BPE";
        }
        if (type != "BPE") {
            mp.child("type").fail_unsupported("is '" + (type.empty() ? std::string("(none)") : type) +
                                              "'; only BPE models are supported");
        }
        impl->model = std::make_unique<tok::BpeModel>(model, mp);

        if (const Json* v = tok::optional_member(doc, "normalizer")) {
            impl->normalizer = tok::parse_normalizer(*v, root.child("normalizer"));
        }
        if (const Json* v = tok::optional_member(doc, "pre_tokenizer")) {
            impl->pre_tokenizer = tok::parse_pre_tokenizer(*v, root.child("pre_tokenizer"));
        }
        if (const Json* v = tok::optional_member(doc, "post_processor")) {
            impl->post_processor = tok::parse_post_processor(*v, root.child("post_processor"));
        }
        if (const Json* v = tok::optional_member(doc, "decoder")) {
            impl->decoder = tok::parse_decoder(*v, root.child("decoder"));
        }
        std::vector<tok::AddedTokenSpec> added =
            tok::parse_added_tokens(tok::optional_member(doc, "added_tokens"), root.child("added_tokens"));
        if (config_text) {
            const Json config = parse_document(*config_text, config_origin);
            std::vector<tok::AddedTokenSpec> more = tok::config_added_tokens(config, JsonPath{config_origin, ""}, added);
            added.insert(added.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
        }
        impl->added = std::make_unique<tok::AddedVocabulary>(added, *impl->model, impl->normalizer.get());
    } catch (const Json::exception& e) {
        // The helpers check types before reading; this is a last line of defence.
        fail_format(origin + ": unexpected JSON content: " + e.what());
    }
    impl->vocab_size = std::max(impl->model->max_id(), impl->added->max_id()) + 1;
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
    if (const size_t bad = tok::find_invalid_utf8(text); bad != std::string_view::npos) {
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[bad]));
        fail_argument("tokenizer encode: the text is not valid UTF-8 at byte offset " + std::to_string(bad) +
                      " (byte " + byte + ")");
    }
    const Impl& m = *impl_;
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 4);
    std::vector<tok::Piece> pieces;
    for (tok::Split& split : m.added->extract_and_normalize(text, m.normalizer.get())) {
        if (split.id >= 0) {
            ids.push_back(split.id);
            continue;
        }
        pieces.clear();
        pieces.push_back(tok::Piece{std::move(split.text), split.at_origin});
        if (m.pre_tokenizer) m.pre_tokenizer->pre_tokenize(pieces);
        for (const tok::Piece& piece : pieces) m.model->tokenize(piece.text, ids);
    }
    if (add_special_tokens && m.post_processor) m.post_processor->process(ids);
    return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
    const Impl& m = *impl_;
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
        const int32_t id = ids[i];
        if (id < 0 || id >= m.vocab_size) {
            fail_argument("tokenizer decode: token id " + std::to_string(id) + " (position " + std::to_string(i) +
                          ") is out of range [0, " + std::to_string(m.vocab_size) + ")");
        }
        const std::string* token = m.added->decode_form(id);
        if (!token) token = m.model->id_to_token(id);
        if (!token) fail_argument("tokenizer decode: no token has id " + std::to_string(id));
        if (skip_special_tokens && m.added->is_special(*token)) continue;
        tokens.push_back(*token);
    }
    if (m.decoder) return m.decoder->decode(std::move(tokens));
    // No decoder: HF joins the tokens with spaces.
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (i) out += ' ';
        out += tokens[i];
    }
    return out;
}

int64_t Tokenizer::vocab_size() const {
    return impl_->vocab_size;
}

const std::string* Tokenizer::id_to_token(int32_t id, bool* special) const {
    const Impl& m = *impl_;
    if (id < 0 || id >= m.vocab_size) return nullptr;
    const std::string* token = m.added->decode_form(id);
    if (!token) token = m.model->id_to_token(id);
    if (special) *special = token && m.added->is_special(*token);
    return token;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
    if (auto id = impl_->added->token_to_id(token)) return id;
    return impl_->model->token_to_id(token);
}

}  // namespace krait
