// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}): turns one pre-tokenized word
// into token ids by applying merges lowest rank first (leftmost on ties), exactly as HF's
// models::bpe::Word::merge_all does, with byte_fallback, unk / fuse_unk, ignore_merges,
// continuing_subword_prefix and end_of_word_suffix.
//
// Immutable after construction except for an internal word -> ids cache guarded by per-shard
// reader/writer locks, so concurrent const use is safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sdk/tokenizer/json_util.h"

namespace krait::tok {

// Transparent hashing so that maps keyed by std::string can be probed with a string_view.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

class BpeModel {
public:
    // `j` is the "model" object (its "type" already checked); `at` its path.
    BpeModel(const Json& j, const JsonPath& at);
    ~BpeModel();
    BpeModel(const BpeModel&) = delete;
    BpeModel& operator=(const BpeModel&) = delete;

    // Appends the ids of `word` (valid UTF-8) to `out`. An empty word gives nothing.
    void tokenize(std::string_view word, std::vector<int32_t>& out) const;

    std::optional<int32_t> token_to_id(std::string_view token) const;
    const std::string* id_to_token(int32_t id) const;  // nullptr when no token has this id
    size_t vocab_entries() const { return vocab_.size(); }
    int64_t max_id() const { return max_id_; }  // -1 for an empty vocabulary

private:
    struct Merge {
        uint32_t rank;
        int32_t new_id;
    };
    static uint64_t pair_key(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;

    std::string origin_;
    StringMap<int32_t> vocab_;
    std::unordered_map<int32_t, const std::string*> vocab_r_;  // points into vocab_'s stable keys
    std::unordered_map<uint64_t, Merge> merges_;
    int64_t max_id_ = -1;
    std::optional<std::string> unk_token_;
    std::string continuing_subword_prefix_, end_of_word_suffix_;
    bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
    std::array<int32_t, 256> byte_ids_{};  // id of "<0xXX>" per byte, -1 when absent

    // Word cache: HF keeps one of 10000 entries for words under 256 bytes; ours is split in shards
    // so that threads encoding different words rarely wait on the same lock.
    static constexpr size_t kCacheShards = 16;
    static constexpr size_t kCacheCapacityPerShard = 10000 / kCacheShards;
    static constexpr size_t kCacheMaxWordBytes = 256;
    struct CacheShard {
        mutable std::shared_mutex mutex;
        StringMap<std::vector<int32_t>> words;
    };
    std::unique_ptr<std::array<CacheShard, kCacheShards>> cache_;
};

}  // namespace krait::tok
