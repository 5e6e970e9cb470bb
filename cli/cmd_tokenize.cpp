// krait tokenize: the token ids of a text (a model's tokenizer or a tokenizer.json).
#include "cli_common.h"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace krait_cli {

namespace {

// Shows a token's text with invisible characters made visible: "\n", "\t", "\x01".
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (const unsigned char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c == '"' || c == '\\') out += std::string("\\") + static_cast<char>(c);
        else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else out += static_cast<char>(c);
    }
    return out + "\"";
}

}  // namespace

int cmd_tokenize(int argc, char** argv, int first) {
    std::string model_dir, tokenizer_file, text;
    bool have_text = false, no_special = false, pieces = false, verbose = false;
    Command cmd{"tokenize", "(-m DIR | -t FILE) -p TEXT [options]",
                "Prints the token ids of TEXT, space-separated on one line.",
                {
                    {"-m", "--model", "DIR", "model directory (uses its tokenizer.json)", string_setter(model_dir)},
                    {"-t", "--tokenizer", "FILE", "a tokenizer.json file instead of a model", string_setter(tokenizer_file)},
                    {"-p", "--prompt", "TEXT", "the text to tokenize",
                     [&](const std::string& s) -> std::string {
                         text = s;
                         have_text = true;
                         return "";
                     }},
                    {nullptr, "--no-special", nullptr, "do not add special tokens (BOS)", flag_setter(no_special)},
                    {nullptr, "--pieces", nullptr, "one token per line: id and its text", flag_setter(pieces)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                }};
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help: return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty() == tokenizer_file.empty()) return missing(cmd, "exactly one of -m DIR and -t FILE");
    if (!have_text) return missing(cmd, "-p TEXT");
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);

    std::optional<krait::Model> model;  // keeps a borrowed tokenizer valid
    krait::Tokenizer tokenizer = krait::Tokenizer::borrow(nullptr);
    if (!tokenizer_file.empty()) {
        tokenizer = krait::Tokenizer::load(tokenizer_file);
    } else {
        model.emplace(load_model(model_dir));
        tokenizer = model->tokenizer();
    }
    const std::vector<int32_t> ids = tokenizer.encode(text, !no_special);
    if (pieces) {
        for (const int32_t id : ids) std::printf("%d\t%s\n", id, quoted(tokenizer.decode(&id, 1)).c_str());
    } else {
        for (size_t k = 0; k < ids.size(); ++k) std::printf(k ? " %d" : "%d", ids[k]);
        std::printf("\n");
    }
    std::fprintf(stderr, "krait: %zu tokens\n", ids.size());
    return kExitOk;
}

}  // namespace krait_cli
