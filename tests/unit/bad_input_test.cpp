// Every committed bad-input example (tests/fixtures/bad/, see its README)
// fails with the right status and a message naming the problem — no crash.
#include <gtest/gtest.h>

#include "sdk/core/error.h"
#include "sdk/io/safetensors.h"
#include "sdk/models/mamba.h"
#include "tests/common/fixtures.h"

namespace {

struct BadCase {
    const char* dir;
    krait_status status;
    const char* message_part;  // must appear in the error message
    bool container_only;       // the safetensors file alone is already invalid
};

const BadCase kCases[] = {
    {"st_too_short", KRAIT_ERR_FORMAT, "too short for a safetensors header", true},
    {"st_truncated", KRAIT_ERR_FORMAT, "beyond the data buffer", true},
    {"st_header_len_beyond_file", KRAIT_ERR_FORMAT, "goes beyond the file size", true},
    {"st_header_len_huge", KRAIT_ERR_FORMAT, "exceeds the limit of 100000000 bytes", true},
    {"st_header_not_json", KRAIT_ERR_FORMAT, "header is not valid JSON", true},
    {"st_offsets_beyond_buffer", KRAIT_ERR_FORMAT, "'backbone.norm_f.weight': data_offsets end 1140736 is beyond", true},
    {"st_overlapping_offsets", KRAIT_ERR_FORMAT, "overlaps the previous tensor", true},
    {"st_offsets_with_hole", KRAIT_ERR_FORMAT, "hole in the data buffer before tensor 'backbone.layers.0.mixer.conv1d.bias'", true},
    {"st_trailing_bytes", KRAIT_ERR_FORMAT, "8 trailing bytes", true},
    {"st_nbytes_mismatch", KRAIT_ERR_FORMAT, "holds 4096 bytes but F32 [64, 15] needs 3840", true},
    {"wrong_dtype", KRAIT_ERR_FORMAT, "'backbone.layers.0.mixer.D' has dtype I32", false},
    {"wrong_shape", KRAIT_ERR_FORMAT, "'backbone.layers.1.mixer.A_log' has shape [16, 64], expected [64, 16]", false},
    {"missing_tensor", KRAIT_ERR_FORMAT, "missing tensor 'backbone.layers.1.mixer.dt_proj.bias'", false},
    {"config_unknown_model_type", KRAIT_ERR_UNSUPPORTED, "unknown model_type 'mamba3'", false},
    {"config_malformed", KRAIT_ERR_FORMAT, "config.json: not valid JSON", false},
    {"config_hidden_size_zero", KRAIT_ERR_FORMAT, "'hidden_size' is 0", false},
    {"config_negative_layers", KRAIT_ERR_FORMAT, "'num_hidden_layers' is -2", false},
    {"config_missing", KRAIT_ERR_IO, "no config.json", false},
    {"index_missing_shard", KRAIT_ERR_FORMAT, "names shard 'model-00002-of-00003.safetensors', which does not exist", false},
};

// Test names and failure messages show the directory, not the struct's bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.dir; }

class BadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInput, ModelLoadFailsWithClearError) {
    const BadCase& c = GetParam();
    const std::string dir = krait::testing::fixture(std::string("bad/") + c.dir);
    try {
        krait::MambaModel::load(dir);
        FAIL() << dir << " loaded";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), c.status) << e.what();
        EXPECT_NE(std::string(e.what()).find(c.message_part), std::string::npos)
            << "message '" << e.what() << "' lacks '" << c.message_part << "'";
    }
}

TEST_P(BadInput, SafetensorsContainerIsRejectedAlone) {
    const BadCase& c = GetParam();
    if (!c.container_only) return;  // the container is valid; only the model loader can object
    const std::string path = krait::testing::fixture(std::string("bad/") + c.dir + "/model.safetensors");
    try {
        krait::SafetensorsFile file(path);
        FAIL() << path << " parsed";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_FORMAT) << e.what();
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "message does not name the file";
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BadInput, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.dir); });

TEST(Safetensors, ArbitraryPrefixesOfAValidFileNeverCrash) {
    // Every truncation of a real file is either rejected with KRAIT_ERR_FORMAT or (whole file) accepted.
    krait::MappedFile real(krait::testing::fixture("mamba/f32_tied/model.safetensors"));
    for (size_t n = 0; n < real.size(); n += (n < 4096 ? 1 : 997)) {
        try {
            krait::SafetensorsFile f(real.data(), n, "prefix");
            FAIL() << "a " << n << "-byte prefix parsed";
        } catch (const krait::Error& e) {
            ASSERT_EQ(e.status(), KRAIT_ERR_FORMAT);
        }
    }
    krait::SafetensorsFile whole(real.data(), real.size(), "whole");
    EXPECT_GT(whole.tensors().size(), 10u);
}

}  // namespace
