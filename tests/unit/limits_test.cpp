// The hard limits of sdk/core/limits.h, each at its edge (accepted) and one past it (refused with
// KRAIT_ERR_FORMAT and a message naming the limit): JSON nesting, the safetensors header size,
// tensors per file, tensor rank and dimension. The per-call limits (images per message, adapters
// per set) are tested through the C ABI in tests/abi/limits_abi_test.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "sdk/core/error.h"
#include "sdk/core/limits.h"
#include "sdk/core/text_file.h"
#include "sdk/io/safetensors.h"

namespace {

using krait::limits::kJsonDepth;

std::string nested(int depth, const char* open, const char* close, const char* inner = "1") {
    std::string s;
    for (int i = 0; i < depth; ++i) s += open;
    s += inner;
    for (int i = 0; i < depth; ++i) s += close;
    return s;
}

// Runs `f`, expecting a krait::Error with `status` whose message contains `needle`.
template <class F>
void expect_error(F&& f, krait_status status, const std::string& needle) {
    try {
        f();
        ADD_FAILURE() << "no error, expected one mentioning '" << needle << "'";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(Limits, JsonDepthAtTheLimitParses) {
    EXPECT_NO_THROW(krait::check_json_depth(nested(kJsonDepth, "[", "]"), "t"));
    // Objects count as arrays do: {"a":{"a":...}}
    const std::string objects = nested(kJsonDepth - 1, "{\"a\":", "}", "{}");
    EXPECT_NO_THROW(krait::check_json_depth(objects, "t"));
    EXPECT_TRUE(krait::parse_json_object(objects, "t").is_object());
}

TEST(Limits, JsonOnePastTheLimitIsRefused) {
    expect_error([] { krait::check_json_depth(nested(kJsonDepth + 1, "[", "]"), "deep.json"); }, KRAIT_ERR_FORMAT,
                 "deep.json: JSON nested deeper than 64 levels");
    expect_error([] { krait::parse_json_object(nested(kJsonDepth, "{\"a\":", "}", "{}"), "config.json"); },
                 KRAIT_ERR_FORMAT, "config.json: JSON nested deeper than 64 levels");
    // Caller-supplied JSON is an argument, not a file.
    expect_error([] { krait::check_json_depth(nested(100000, "[", ""), "messages_json", KRAIT_ERR_INVALID_ARGUMENT); },
                 KRAIT_ERR_INVALID_ARGUMENT, "messages_json");
}

TEST(Limits, JsonBracketsInsideStringsDoNotCount) {
    const std::string in_string = "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]";
    EXPECT_NO_THROW(krait::check_json_depth(in_string, "t"));
    // Closing brackets without openers (invalid JSON) never make the depth negative.
    EXPECT_NO_THROW(krait::check_json_depth("]]]]" + nested(kJsonDepth, "[", "]"), "t"));
    expect_error([] { krait::check_json_depth("]]]]" + nested(kJsonDepth + 1, "[", "]"), "t"); }, KRAIT_ERR_FORMAT,
                 "deeper than");
}

// A safetensors file in memory: the 8-byte little-endian header length, the header, the data.
std::vector<uint8_t> safetensors(const std::string& header, size_t data_bytes, uint64_t declared_length = 0) {
    const uint64_t n = declared_length ? declared_length : header.size();
    std::vector<uint8_t> bytes(8 + header.size() + data_bytes, 0);
    for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
    std::memcpy(bytes.data() + 8, header.data(), header.size());
    return bytes;
}

krait::SafetensorsFile parse(const std::vector<uint8_t>& bytes) {
    return krait::SafetensorsFile(bytes.data(), bytes.size(), "t.safetensors");
}

TEST(Limits, SafetensorsHeaderOfExactlyTheLimitParses) {
    std::string header(krait::limits::kSafetensorsHeaderBytes, ' ');
    header[0] = '{';
    header.back() = '}';
    const auto bytes = safetensors(header, 0);
    EXPECT_TRUE(parse(bytes).tensors().empty());
}

TEST(Limits, SafetensorsHeaderPastTheLimitIsRefusedBeforeReading) {
    // Declares one byte more than the limit; the file is tiny: refused on the length alone.
    const auto bytes = safetensors("{}", 0, krait::limits::kSafetensorsHeaderBytes + 1);
    expect_error([&] { parse(bytes); }, KRAIT_ERR_FORMAT, "exceeds the limit of 100000000 bytes");
}

std::string tensors_header(size_t n) {
    std::string h = "{";
    for (size_t i = 0; i < n; ++i) {
        h += (i ? ",\"t" : "\"t") + std::to_string(i) + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" +
             std::to_string(i) + "," + std::to_string(i + 1) + "]}";
    }
    return h + ",\"__metadata__\":{\"format\":\"pt\"}}";
}

TEST(Limits, SafetensorsTensorsPerFile) {
    const size_t n = krait::limits::kTensorsPerFile;
    EXPECT_EQ(parse(safetensors(tensors_header(n), n)).tensors().size(), n);
    expect_error([&] { parse(safetensors(tensors_header(n + 1), n + 1)); }, KRAIT_ERR_FORMAT,
                 "more than the limit of 65536 tensors per file");
}

std::string shape_header(const std::string& shape, size_t bytes) {
    return "{\"w\":{\"dtype\":\"U8\",\"shape\":" + shape + ",\"data_offsets\":[0," + std::to_string(bytes) + "]}}";
}

TEST(Limits, SafetensorsTensorRank) {
    const std::string rank8 = "[1,1,1,1,1,1,1,2]", rank9 = "[1,1,1,1,1,1,1,1,2]";
    EXPECT_EQ(parse(safetensors(shape_header(rank8, 2), 2)).tensors().at("w").shape.size(), 8u);
    expect_error([&] { parse(safetensors(shape_header(rank9, 2), 2)); }, KRAIT_ERR_FORMAT,
                 "rank 9 is above the limit of 8 dimensions");
}

TEST(Limits, SafetensorsTensorDimension) {
    // A dimension at the limit passes the dimension check and is then refused for its size (the
    // file holds 0 bytes); one past the limit is refused as impossible before any arithmetic.
    const std::string at = "[" + std::to_string(krait::limits::kTensorDim) + "]";
    const std::string past = "[" + std::to_string(krait::limits::kTensorDim + 1) + "]";
    expect_error([&] { parse(safetensors(shape_header(at, 0), 0)); }, KRAIT_ERR_FORMAT, "holds 0 bytes");
    expect_error([&] { parse(safetensors(shape_header(past, 0), 0)); }, KRAIT_ERR_FORMAT, "impossibly large");
}

}  // namespace
