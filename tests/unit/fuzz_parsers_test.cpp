// Mutation fuzzing of every parser that reads user files: safetensors
// containers, config.json, tokenizer.json (GPT-NeoX-style and Llama-3-style with its Split regex),
// tokenizer_config.json and PEFT adapter folders. Seeded, bounded, and run under
// AddressSanitizer + UBSan in CI (tools/test.sh), so any out-of-bounds read or
// undefined behaviour on a lying file fails the build. The only acceptable
// outcomes are success or a krait::Error with a non-empty message that is valid
// UTF-8 (krait.h promises UTF-8 messages whatever bytes the input holds).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"
#include "sdk/adapters/lora_adapter.h"
#include "sdk/io/safetensors.h"
#include "sdk/models/mamba.h"
#include "sdk/models/mamba_config.h"
#include "sdk/tokenizer/tokenizer.h"

namespace {

// A rejected input's message: non-empty and valid UTF-8 without NUL.
::testing::AssertionResult clean_message(const krait::Error& e) {
    const std::string message = e.what();
    if (message.size() <= 4) return ::testing::AssertionFailure() << "message too short: " << message;
    if (!krait::is_valid_utf8(message)) return ::testing::AssertionFailure() << "not UTF-8: " << message;
    return ::testing::AssertionSuccess();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// One random edit: flip a byte, set a byte to an interesting value, delete or
// duplicate a span, or truncate. Edits favour `hot_end` (the header/JSON).
std::string mutate(const std::string& input, std::mt19937_64& rng, size_t hot_end) {
    std::string s = input;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
        const size_t limit = (rng() % 4 != 0 && hot_end > 0) ? std::min(hot_end, s.size()) : s.size();
        const size_t pos = rng() % limit;
        switch (rng() % 6) {
            case 0: s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8))); break;
            case 1: {
                static const char kInteresting[] = {'\0', '\xff', '\x87', '\xc3', '"', '[', ']', '{', '}', ',', ':', '9', '-', '\\'};
                s[pos] = kInteresting[rng() % sizeof kInteresting];
                break;
            }
            case 2: s.erase(pos, std::min<size_t>(1 + rng() % 16, s.size() - pos)); break;
            case 3: s.insert(pos, s.substr(pos, std::min<size_t>(1 + rng() % 16, s.size() - pos))); break;
            case 4: s.resize(pos); break;
            case 5: {  // replace a digit run with a huge number
                s.insert(pos, std::to_string(rng()));
                break;
            }
        }
    }
    return s;
}

TEST(Fuzz, SafetensorsParserNeverCrashes) {
    const std::string valid = read_file("tests/fixtures/mamba/f32_tied/model.safetensors");
    ASSERT_GT(valid.size(), 8u);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(valid[i]);
    std::mt19937_64 rng(20261128);
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 20000; ++i) {
        const std::string bytes = mutate(valid, rng, 8 + header_len);
        try {
            krait::SafetensorsFile f(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "fuzz");
            // Whatever was accepted must describe bytes inside the buffer.
            for (const auto& [name, t] : f.tensors()) {
                ASSERT_GE(t.data, reinterpret_cast<const uint8_t*>(bytes.data()));
                ASSERT_LE(t.data + t.nbytes, reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size());
            }
            ++accepted;
        } catch (const krait::Error& e) {
            ASSERT_EQ(e.status(), KRAIT_ERR_FORMAT) << e.what();
            ASSERT_TRUE(clean_message(e));
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 5000);  // the mutations do hit the parser's checks
}

TEST(Fuzz, AdapterFilesNeverCrash) {
    // Mutated adapter_config.json (rank/alpha patterns are user regexes) and
    // adapter_model.safetensors, loaded against a real model's modules.
    namespace fs = std::filesystem;
    const std::string src = "tests/fixtures/lora/mamba/adapters/b";
    auto model = krait::MambaModel::load("tests/fixtures/lora/mamba");
    const std::string dir = (fs::temp_directory_path() / ("krait-fuzz-adapter-" + std::to_string(::getpid()))).string();
    fs::create_directories(dir);
    const std::string config = read_file(src + "/adapter_config.json");
    const std::string weights = read_file(src + "/adapter_model.safetensors");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(weights[i]);
    auto write = [](const std::string& path, const std::string& bytes) {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    };
    std::mt19937_64 rng(42);
    int rejected = 0;
    for (int i = 0; i < 6000; ++i) {
        const bool config_turn = i % 2 == 0;
        write(dir + "/adapter_config.json", config_turn ? mutate(config, rng, config.size()) : config);
        write(dir + "/adapter_model.safetensors", config_turn ? weights : mutate(weights, rng, 8 + header_len));
        try {
            const auto adapter = krait::LoraAdapter::load(dir, model->adapter_targets(), "fuzz");
            for (const auto& m : adapter->modules()) ASSERT_GT(m.rank, 0);
        } catch (const krait::Error& e) {
            ASSERT_TRUE(e.status() == KRAIT_ERR_FORMAT || e.status() == KRAIT_ERR_UNSUPPORTED) << e.what();
            ASSERT_TRUE(clean_message(e));
            ++rejected;
        }
    }
    fs::remove_all(dir);
    EXPECT_GT(rejected, 1500);
}

TEST(Fuzz, ConfigParserNeverCrashes) {
    const std::string valid = read_file("tests/fixtures/mamba/f32_untied_odd/config.json");
    std::mt19937_64 rng(7);
    int rejected = 0;
    for (int i = 0; i < 20000; ++i) {
        const std::string text = mutate(valid, rng, valid.size());
        try {
            const auto c = krait::MambaConfig::from_json_text(text, "fuzz/config.json");
            // Accepted configs are within the documented bounds.
            ASSERT_GT(c.hidden_size, 0);
            ASSERT_GT(c.num_layers, 0);
            ASSERT_GT(c.vocab_size, 0);
        } catch (const krait::Error& e) {
            ASSERT_TRUE(e.status() == KRAIT_ERR_FORMAT || e.status() == KRAIT_ERR_UNSUPPORTED) << e.what();
            ASSERT_TRUE(clean_message(e));
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 3000);
}

TEST(Fuzz, TokenizerJsonParserNeverCrashes) {
    const std::string valid = read_file("tests/fixtures/tokenizer/tiny_unk.tokenizer.json");
    ASSERT_FALSE(valid.empty());
    std::mt19937_64 rng(11);
    int rejected = 0;
    for (int i = 0; i < 10000; ++i) {
        const std::string text = mutate(valid, rng, valid.size());
        try {
            auto tok = krait::Tokenizer::from_json(text, "fuzz/tokenizer.json");
            // A tokenizer that loaded must also survive use.
            const auto ids = tok->encode("Hello, wörld! 123 \xF0\x9F\x98\x80", true);
            try {
                tok->decode(ids);
            } catch (const krait::Error& e) {
                ASSERT_TRUE(clean_message(e));
            }
        } catch (const krait::Error& e) {
            ASSERT_NE(e.status(), KRAIT_ERR_INTERNAL) << e.what();
            ASSERT_TRUE(clean_message(e));
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 2000);
}

// A byte-level tokenizer.json small enough to fuzz, e.g. Llama-3's: the fixture's added tokens,
// pre-tokenizer (Split regex + ByteLevel), post-processor and decoder written first (where most
// edits land), then its model cut to the first 300 tokens and the merges among them.
// `hot_end` receives the size of the part before the model.
std::string small_tokenizer(const std::string& path, size_t& hot_end) {
    const nlohmann::json full = nlohmann::json::parse(read_file(path));
    nlohmann::json model = full["model"];
    nlohmann::json vocab = nlohmann::json::object();
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
        if (it.value().get<int>() < 300) vocab[it.key()] = it.value();
    }
    nlohmann::json merges = nlohmann::json::array();
    for (const auto& m : model["merges"]) {
        const std::string a = m[0], b = m[1];
        if (vocab.contains(a) && vocab.contains(b) && vocab.contains(a + b)) merges.push_back(m);
    }
    model["vocab"] = vocab;
    model["merges"] = merges;
    std::string text = "{";
    for (const char* key : {"version", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
        // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about `"\"" + std::string(...)`.
        text += '"';
        text += key;
        text += "\":";
        text += full[key].dump();
        text += ',';
    }
    hot_end = text.size();
    return text + "\"model\":" + model.dump() + "}";
}

TEST(Fuzz, Llama3TokenizerJsonParserNeverCrashes) {
    size_t hot_end = 0;
    const std::string valid = small_tokenizer("tests/fixtures/tokenizer/llama3.tokenizer.json", hot_end);
    krait::Tokenizer::from_json(valid, "fuzz/tokenizer.json");  // the unmutated file loads
    std::mt19937_64 rng(13);
    int rejected = 0;
    for (int i = 0; i < 6000; ++i) {
        const std::string text = mutate(valid, rng, hot_end);
        try {
            auto tok = krait::Tokenizer::from_json(text, "fuzz/tokenizer.json");
            const auto ids = tok->encode("I'M sure: DON'T 1234567 x\r\n\r\n  y <|eot_id|> \xF0\x9F\x98\x80 ", true);
            try {
                tok->decode(ids, true);
            } catch (const krait::Error& e) {
                ASSERT_TRUE(clean_message(e));
            }
        } catch (const krait::Error& e) {
            ASSERT_NE(e.status(), KRAIT_ERR_INTERNAL) << e.what();
            ASSERT_TRUE(clean_message(e));
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 1000);
}

TEST(Fuzz, TokenizerConfigParserNeverCrashes) {
    const std::string dir = "tests/fixtures/tokenizer/qwen2_config/";
    size_t unused = 0;
    const std::string tokenizer = small_tokenizer(dir + "tokenizer.json", unused);
    const std::string valid = read_file(dir + "tokenizer_config.json");
    ASSERT_FALSE(valid.empty());
    std::mt19937_64 rng(17);
    int rejected = 0;
    for (int i = 0; i < 3000; ++i) {
        const std::string config = mutate(valid, rng, valid.size());
        try {
            auto tok = krait::Tokenizer::from_json(tokenizer, "fuzz/tokenizer.json", &config, "fuzz/tokenizer_config.json");
            tok->decode(tok->encode("<|im_start|>user\nhi<|im_end|><unk_x> the", false), true);
        } catch (const krait::Error& e) {
            ASSERT_EQ(e.status(), KRAIT_ERR_FORMAT) << e.what();
            ASSERT_TRUE(clean_message(e));
            ++rejected;
        }
    }
    EXPECT_GT(rejected, 300);
}

TEST(Fuzz, TokenizerEncodeSurvivesArbitraryBytes) {
    for (const char* name : {"bytelevel_neox", "llama3", "qwen2"}) {
        auto tok = krait::Tokenizer::from_file(std::string("tests/fixtures/tokenizer/") + name + ".tokenizer.json");
        std::mt19937_64 rng(3);
        for (int i = 0; i < 10000; ++i) {
            std::string s(rng() % 64, '\0');
            for (auto& c : s) c = static_cast<char>(rng());
            try {
                tok->encode(s, false);
            } catch (const krait::Error& e) {
                ASSERT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT) << name << ": " << e.what();  // invalid UTF-8
                ASSERT_TRUE(clean_message(e));
            }
        }
    }
}

// Valid UTF-8 of every kind (code points of all planes, mixed with the characters the split
// regexes care about) goes through the Oniguruma-backed pre-tokenizers and back.
TEST(Fuzz, SplitTokenizersSurviveRandomUnicode) {
    static const char32_t kAtoms[] = {' ', '\n', '\r', '\t', '\'', 'S', 's', 'T', 'l', 'L', '1', '9', 0xA0, 0x2028,
                                      0x3000, 0x17F, 0x212A, 0x301, 0x1F600, 0x10FFFF, 0xFFFD, 0xE000, 0x0};
    for (const char* name : {"llama3", "qwen2", "smollm2"}) {
        auto tok = krait::Tokenizer::from_file(std::string("tests/fixtures/tokenizer/") + name + ".tokenizer.json");
        std::mt19937_64 rng(5);
        for (int i = 0; i < 3000; ++i) {
            std::string s;
            const int n = static_cast<int>(rng() % 40);
            for (int k = 0; k < n; ++k) {
                char32_t cp = (rng() % 2) ? kAtoms[rng() % (sizeof kAtoms / sizeof kAtoms[0])]
                                          : static_cast<char32_t>(rng() % 0x110000);
                if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
                if (cp < 0x80) {
                    s += static_cast<char>(cp);
                } else if (cp < 0x800) {
                    s += static_cast<char>(0xC0 | (cp >> 6));
                    s += static_cast<char>(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    s += static_cast<char>(0xE0 | (cp >> 12));
                    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                    s += static_cast<char>(0x80 | (cp & 0x3F));
                } else {
                    s += static_cast<char>(0xF0 | (cp >> 18));
                    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
                    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                    s += static_cast<char>(0x80 | (cp & 0x3F));
                }
            }
            const auto ids = tok->encode(s, true);
            ASSERT_TRUE(krait::is_valid_utf8(tok->decode(ids, false))) << name;
        }
    }
}

}  // namespace
