// Damaged copies of the demo models and adapters, loaded through the C ABI as an application
// would: random single-byte changes (the kind a bad download or disk gives) and heavier edits of
// every file a load reads (config.json, tokenizer.json, tokenizer_config.json,
// preprocessor_config.json, the safetensors header; adapter_config.json and the adapter's
// safetensors header). Every copy must either load or fail with a status other than INTERNAL and
// a non-empty message that is valid UTF-8 (krait.h's promise for krait_last_error()); run under
// ASan/UBSan in CI, so a crash or an out-of-bounds read fails too. Python's side of the same
// check (each load in a subprocess) is tests/python/test_damaged_models.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "krait/krait.h"

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Unicode Table 3-7, written out again here on purpose: the test must not trust the library's
// own validator to judge the library's messages.
bool valid_utf8(const std::string& s) {
    size_t i = 0;
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    while (i < s.size()) {
        const unsigned char c = b(i);
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) { ++i; continue; }
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c >= 0xE0 && c <= 0xEF) { n = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return false;
        if (i + n > s.size()) return false;
        if (b(i + 1) < lo || b(i + 1) > hi) return false;
        for (size_t k = 2; k < n; ++k)
            if (b(i + k) < 0x80 || b(i + k) > 0xBF) return false;
        i += n;
    }
    return true;
}

// The length of the JSON header of a safetensors file (its first 8 bytes, little-endian) plus 8:
// mutations land there, where the parser reads, not in the weights.
size_t safetensors_header_end(const std::string& bytes) {
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<uint8_t>(bytes[i]);
    return static_cast<size_t>(std::min<uint64_t>(8 + len, bytes.size()));
}

// Even cases: one byte set to a random value, half the time a byte >= 0x80 (what made the
// messages of issue 17 invalid UTF-8). Odd cases: 1-4 heavier edits (bit flips, JSON
// punctuation, deleted or duplicated spans, truncation).
std::string damage(const std::string& input, size_t hot_end, int round, std::mt19937_64& rng) {
    std::string s = input;
    const size_t limit = std::max<size_t>(1, std::min(hot_end, s.size()));
    if (round % 2 == 0) {
        const size_t pos = rng() % limit;
        s[pos] = static_cast<char>(rng() % 2 ? 0x80 + rng() % 0x80 : rng() % 0x100);
        return s;
    }
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
        const size_t pos = rng() % std::min(limit, s.size());
        switch (rng() % 5) {
            case 0: s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8))); break;
            case 1: {
                static const char kPunct[] = {'\0', '\xff', '\x87', '"', '[', ']', '{', '}', ',', ':', '9', '\\'};
                s[pos] = kPunct[rng() % sizeof kPunct];
                break;
            }
            case 2: s.erase(pos, std::min<size_t>(1 + rng() % 16, s.size() - pos)); break;
            case 3: s.insert(pos, s.substr(pos, std::min<size_t>(1 + rng() % 16, s.size() - pos))); break;
            case 4: s.resize(pos); break;
        }
    }
    return s;
}

class DamagedModels : public ::testing::Test {
protected:
    void SetUp() override {
        scratch_ = fs::temp_directory_path() /
                   ("krait-damaged-" + std::to_string(::getpid()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(scratch_);
        fs::create_directories(scratch_);
    }
    void TearDown() override { fs::remove_all(scratch_); }

    // A copy of `source` in scratch_/copy where `victim` is damaged and every other file is a
    // symlink to the original (the weights are not copied for each case).
    fs::path stage(const fs::path& source, const std::string& victim, const std::string& bytes) {
        const fs::path dir = scratch_ / "copy";
        fs::remove_all(dir);
        fs::create_directories(dir);
        for (const auto& entry : fs::directory_iterator(source)) {
            const auto name = entry.path().filename().string();
            if (name == victim) write_file(dir / name, bytes);
            else fs::create_symlink(fs::absolute(entry.path()), dir / name);
        }
        return dir;
    }

    // Checks one failed call's status and message; returns the message for the failure report.
    static void expect_clean_failure(krait_status status, const std::string& what) {
        const std::string message = krait_last_error();
        EXPECT_NE(status, KRAIT_ERR_INTERNAL) << what << ": " << message;
        EXPECT_FALSE(message.empty()) << what;
        EXPECT_TRUE(valid_utf8(message)) << what << ": message is not UTF-8: " << message;
    }

    // Damages each file of `files` `rounds` times and loads the model; returns how many failed.
    int run_model(const std::string& model, const std::vector<std::string>& files, int rounds, uint64_t seed) {
        std::mt19937_64 rng(seed);
        int failed = 0;
        for (const auto& file : files) {
            const std::string original = read_file(fs::path(model) / file);
            EXPECT_FALSE(original.empty()) << model << "/" << file;
            const bool weights = file.ends_with(".safetensors");
            const size_t hot_end = weights ? safetensors_header_end(original) : original.size();
            for (int round = 0; round < rounds; ++round) {
                const fs::path dir = stage(model, file, damage(original, hot_end, round, rng));
                krait_model* m = nullptr;
                const krait_status status = krait_model_load(dir.c_str(), nullptr, &m);
                if (status == KRAIT_OK) {
                    krait_model_info info;
                    info.struct_size = sizeof info;
                    EXPECT_EQ(krait_model_get_info(m, &info), KRAIT_OK) << krait_last_error();
                    krait_model_free(m);
                } else {
                    EXPECT_EQ(m, nullptr);
                    expect_clean_failure(status, model + "/" + file + " round " + std::to_string(round));
                    ++failed;
                }
            }
        }
        return failed;
    }

    fs::path scratch_;
};

TEST_F(DamagedModels, MambaDemoLoadsOrFailsWithAUtf8Message) {
    const int failed =
        run_model("models/mamba-demo", {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"},
                  120, 17);
    EXPECT_GT(failed, 100);  // the damage does reach the parsers' checks
}

TEST_F(DamagedModels, VitDigitsLoadsOrFailsWithAUtf8Message) {
    const int failed =
        run_model("models/vit-digits", {"config.json", "preprocessor_config.json", "model.safetensors"}, 120, 18);
    EXPECT_GT(failed, 100);
}

TEST_F(DamagedModels, MambaVisionDigitsLoadsOrFailsWithAUtf8Message) {
    const int failed = run_model("models/mambavision-digits",
                                 {"config.json", "model.safetensors"}, 180, 19);
    EXPECT_GT(failed, 100);
}

TEST_F(DamagedModels, AdaptersLoadOrFailWithAUtf8Message) {
    const std::vector<std::pair<std::string, std::string>> pairs = {
        {"models/mamba-demo", "models/mamba-demo-lora-licenses"},
        {"models/mambavision-digits", "models/mambavision-digits-lora-parity"},
    };
    std::mt19937_64 rng(20);
    int failed = 0;
    for (const auto& [base, adapter_dir] : pairs) {
        krait_model* model = nullptr;
        ASSERT_EQ(krait_model_load(base.c_str(), nullptr, &model), KRAIT_OK) << krait_last_error();
        std::vector<std::string> files = {"adapter_config.json", "adapter_model.safetensors"};
        if (fs::exists(fs::path(adapter_dir) / "config.json")) files.push_back("config.json");
        for (const auto& file : files) {
            const std::string original = read_file(fs::path(adapter_dir) / file);
            const size_t hot_end =
                file.ends_with(".safetensors") ? safetensors_header_end(original) : original.size();
            for (int round = 0; round < 120; ++round) {
                const fs::path dir = stage(adapter_dir, file, damage(original, hot_end, round, rng));
                krait_adapter* adapter = nullptr;
                const krait_status status = krait_adapter_load(model, dir.c_str(), nullptr, &adapter);
                if (status == KRAIT_OK) {
                    krait_adapter_free(adapter);
                } else {
                    EXPECT_EQ(adapter, nullptr);
                    expect_clean_failure(status, adapter_dir + "/" + file + " round " + std::to_string(round));
                    ++failed;
                }
            }
        }
        krait_model_free(model);
    }
    EXPECT_GT(failed, 150);
}

TEST_F(DamagedModels, PathsThatAreNotUtf8GiveUtf8Messages) {
    // A caller's path is bytes; the message quotes it with the odd bytes escaped.
    const std::string path = (scratch_ / "caf\xE9-\x87model").string();
    krait_model* m = nullptr;
    const krait_status status = krait_model_load(path.c_str(), nullptr, &m);
    ASSERT_NE(status, KRAIT_OK);
    const std::string message = krait_last_error();
    EXPECT_TRUE(valid_utf8(message)) << message;
    EXPECT_NE(message.find("caf\\xE9-\\x87model"), std::string::npos) << message;
}

}  // namespace
