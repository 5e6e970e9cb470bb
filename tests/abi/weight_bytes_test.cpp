// krait_model_info.weight_bytes is what loading a model really costs: the
// process's resident set (/proc/self/statm) grows by about weight_bytes when a
// model is loaded and every weight has been read once (a forward pass reads
// them all: the LM head is tied to the embedding). Checked on a random
// Llama-shaped BF16 model (~18M parameters, written here) loaded both ways:
// as stored (BF16 in place from the memory map) and upcast to F32, whose
// resident growth is about twice the stored one.
//
// Tolerance: |growth - weight_bytes| <= 10% of weight_bytes + 8 MiB (the KV
// cache of a 64-token context, scratch buffers, thread stacks, allocator
// slack); the stored / F32 growth ratio within [0.4, 0.65].
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "krait/krait.h"

namespace {

namespace fs = std::filesystem;

constexpr int64_t kD = 512, kF = 1536, kLayers = 4, kV = 8192, kHeads = 8;

int64_t resident_bytes() {
    std::ifstream in("/proc/self/statm");
    int64_t size = 0, resident = 0;
    in >> size >> resident;
    return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

// A safetensors file of BF16 tensors with random values in (-0.05, 0.05).
void write_bf16_safetensors(const fs::path& path, const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
    std::string header = "{";
    uint64_t offset = 0;
    for (const auto& [name, shape] : tensors) {
        int64_t n = 1;
        std::string dims;
        for (int64_t d : shape) {  // appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "" + string
            n *= d;
            if (!dims.empty()) dims += ',';
            dims += std::to_string(d);
        }
        if (header.size() > 1) header += ",";
        header += "\"" + name + "\":{\"dtype\":\"BF16\",\"shape\":[" + dims + "],\"data_offsets\":[" +
                  std::to_string(offset) + "," + std::to_string(offset + 2 * n) + "]}";
        offset += 2 * static_cast<uint64_t>(n);
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(header.data(), static_cast<std::streamsize>(n));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
    for (const auto& [name, shape] : tensors) {
        int64_t count = 1;
        for (int64_t d : shape) count *= d;
        std::vector<uint16_t> data(static_cast<size_t>(count));
        for (auto& h : data) {
            const float f = name.find("norm") != std::string::npos ? 1.0f : dist(rng);
            uint32_t bits;
            std::memcpy(&bits, &f, 4);
            h = static_cast<uint16_t>(bits >> 16);
        }
        out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(2 * count));
    }
}

fs::path make_model() {
    const fs::path dir = fs::temp_directory_path() / ("krait_weight_bytes_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": )" << kD
                                       << R"(, "intermediate_size": )" << kF << R"(, "num_attention_heads": )" << kHeads
                                       << R"(, "num_key_value_heads": )" << kHeads << R"(, "num_hidden_layers": )"
                                       << kLayers << R"(, "vocab_size": )" << kV
                                       << R"(, "rms_norm_eps": 1e-5, "max_position_embeddings": 64,
        "rope_theta": 10000.0, "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2})";
    std::vector<std::pair<std::string, std::vector<int64_t>>> t = {{"model.embed_tokens.weight", {kV, kD}},
                                                                    {"model.norm.weight", {kD}}};
    for (int64_t i = 0; i < kLayers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"})
            t.push_back({p + n + ".weight", {kD, kD}});
        t.push_back({p + "mlp.gate_proj.weight", {kF, kD}});
        t.push_back({p + "mlp.up_proj.weight", {kF, kD}});
        t.push_back({p + "mlp.down_proj.weight", {kD, kF}});
        t.push_back({p + "input_layernorm.weight", {kD}});
        t.push_back({p + "post_attention_layernorm.weight", {kD}});
    }
    write_bf16_safetensors(dir / "model.safetensors", t);
    return dir;
}

struct Measured {
    int64_t weight_bytes = 0;
    int64_t growth = 0;
};

Measured load_and_measure(const std::string& dir, krait_weight_precision precision) {
    const int64_t before = resident_bytes();
    krait_model_params mp;
    krait_model_params_init(&mp);
    mp.weight_precision = precision;
    krait_model* model = nullptr;
    EXPECT_EQ(krait_model_load(dir.c_str(), &mp, &model), KRAIT_OK) << krait_last_error();
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = 1;
    sp.context_length = 64;
    krait_session* session = nullptr;
    EXPECT_EQ(krait_session_create(model, &sp, &session), KRAIT_OK) << krait_last_error();
    const std::vector<int32_t> ids = {1, 5, 9, 200};
    std::vector<float> logits(ids.size() * kV);
    size_t n = 0;
    EXPECT_EQ(krait_session_forward(session, ids.data(), 1, static_cast<int64_t>(ids.size()), logits.data(),
                                    logits.size(), &n),
              KRAIT_OK)
        << krait_last_error();
    Measured m;
    m.growth = resident_bytes() - before;
    krait_model_info info;
    info.struct_size = sizeof info;
    EXPECT_EQ(krait_model_get_info(model, &info), KRAIT_OK);
    m.weight_bytes = info.weight_bytes;
    krait_session_free(session);
    krait_model_free(model);
    return m;
}

// gcc says -fsanitize=address with __SANITIZE_ADDRESS__, clang through __has_feature (CI's ASan build is clang's).
#if defined(__SANITIZE_ADDRESS__)
#define KRAIT_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KRAIT_TEST_UNDER_ASAN 1
#endif
#endif

TEST(WeightBytes, MatchesResidentGrowthStoredAndUpcast) {
#if defined(KRAIT_TEST_UNDER_ASAN)
    // AddressSanitizer's allocator keeps freed memory resident (quarantine, size-class caches): the F32
    // upcast load frees each layer's converted F32 buffer once it is packed into panels, and under ASan
    // those buffers stay in the resident set (measured: 137 MB of growth for 71 MB of weights, 47 MB for
    // the 36 MB stored ones), so the resident set does not measure weight_bytes there. The Release
    // build of the same test checks it.
    GTEST_SKIP() << "resident-set growth is not meaningful under AddressSanitizer (freed memory stays resident)";
#endif
    const fs::path dir = make_model();
    const int64_t params = kV * kD + kD + kLayers * (4 * kD * kD + 3 * kF * kD + 2 * kD);
    const Measured stored = load_and_measure(dir.string(), KRAIT_WEIGHTS_STORED);
    const Measured f32 = load_and_measure(dir.string(), KRAIT_WEIGHTS_F32);
    fs::remove_all(dir);
    std::printf("params %lld: stored weight_bytes %lld, RSS growth %lld; f32 weight_bytes %lld, RSS growth %lld\n",
                static_cast<long long>(params), static_cast<long long>(stored.weight_bytes),
                static_cast<long long>(stored.growth), static_cast<long long>(f32.weight_bytes),
                static_cast<long long>(f32.growth));
    // F32: every parameter converted (4 bytes). Stored: the matrices in place (2 bytes), the norms converted.
    EXPECT_EQ(f32.weight_bytes, 4 * params);
    EXPECT_EQ(stored.weight_bytes, 2 * (params - (2 * kLayers + 1) * kD) + 4 * (2 * kLayers + 1) * kD);
    const int64_t slack = 8 << 20;
#if defined(KRAIT_TEST_UNDER_ASAN)
    // Under AddressSanitizer every heap byte costs 1/8 byte of shadow memory, plus redzones: measured 1.23-1.25x
    // the weight bytes (CI's ASan stage). The stored/F32 ratio below is unaffected and stays strict.
    const double relative = 0.35;
#else
    const double relative = 0.1;
#endif
    for (const Measured& m : {stored, f32})
        EXPECT_NEAR(static_cast<double>(m.growth), static_cast<double>(m.weight_bytes),
                    relative * static_cast<double>(m.weight_bytes) + slack);
    const double ratio = static_cast<double>(stored.growth) / static_cast<double>(f32.growth);
    EXPECT_GE(ratio, 0.4);
    EXPECT_LE(ratio, 0.65);
}

TEST(WeightBytes, AnUnknownPrecisionIsRefused) {
    krait_model_params mp;
    krait_model_params_init(&mp);
    EXPECT_EQ(mp.weight_precision, KRAIT_WEIGHTS_STORED);
    mp.weight_precision = static_cast<krait_weight_precision>(7);
    krait_model* model = nullptr;
    EXPECT_EQ(krait_model_load("tests/fixtures/mamba/f32_tied", &mp, &model), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(model, nullptr);
    EXPECT_NE(std::string(krait_last_error()).find("weight_precision"), std::string::npos);
}

TEST(WeightBytes, AnUnknownMatmulPrecisionIsRefused) {
    krait_model_params mp;
    krait_model_params_init(&mp);
    EXPECT_EQ(mp.matmul_precision, KRAIT_MATMUL_EXACT);
    mp.matmul_precision = static_cast<krait_matmul_precision>(2);
    krait_model* model = nullptr;
    EXPECT_EQ(krait_model_load("tests/fixtures/mamba/f32_tied", &mp, &model), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(model, nullptr);
    EXPECT_NE(std::string(krait_last_error()).find("matmul_precision"), std::string::npos);
    // A caller built against the 1.5 header (no matmul_precision) gets EXACT, whatever follows in memory.
    struct {
        krait_model_params p;
        uint32_t garbage = 0xffffffffu;
    } old;
    krait_model_params_init(&old.p);
    old.p.struct_size = offsetof(krait_model_params, matmul_precision);
    old.p.matmul_precision = static_cast<krait_matmul_precision>(9);  // past struct_size: never read
    ASSERT_EQ(krait_model_load("tests/fixtures/mamba/f32_tied", &old.p, &model), KRAIT_OK) << krait_last_error();
    krait_model_free(model);
}

}  // namespace
