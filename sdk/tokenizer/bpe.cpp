#include "sdk/tokenizer/bpe.h"

#include <cstdio>
#include <mutex>
#include <queue>

#include "sdk/tokenizer/unicode.h"
#include "sdk/core/utf8.h"

namespace krait::tok {

namespace {

// One symbol of the word being merged: a doubly linked list over a vector, as in HF's Word.
struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    uint32_t len;  // bytes of the input covered; 0 marks a symbol merged into its left neighbour
};

struct QueuedMerge {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
    // std::priority_queue pops the largest: make "larger" mean lower rank, then lower position.
    bool operator<(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeModel::BpeModel(const Json& j, const JsonPath& at) : origin_(at.origin) {
    // ---- vocab ----
    const Json& vocab = require(j, "vocab", at);
    const JsonPath vp = at.child("vocab");
    if (!vocab.is_object()) vp.fail_format("must be an object {token: id}");
    vocab_.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const int32_t id = as_token_id(it.value(), vp.child(it.key()));
        vocab_.insert_or_assign(it.key(), id);
        if (id > max_id_) max_id_ = id;
    }
    vocab_r_.reserve(vocab_.size());
    for (const auto& [token, id] : vocab_) vocab_r_[id] = &token;

    // ---- options ----
    if (const Json* v = optional_member(j, "unk_token")) unk_token_ = as_string(*v, at.child("unk_token"));
    if (const Json* v = optional_member(j, "continuing_subword_prefix")) {
        continuing_subword_prefix_ = as_string(*v, at.child("continuing_subword_prefix"));
    }
    if (const Json* v = optional_member(j, "end_of_word_suffix")) {
        end_of_word_suffix_ = as_string(*v, at.child("end_of_word_suffix"));
    }
    fuse_unk_ = optional_bool(j, "fuse_unk", false, at);
    byte_fallback_ = optional_bool(j, "byte_fallback", false, at);
    ignore_merges_ = optional_bool(j, "ignore_merges", false, at);
    // "dropout" randomly skips merges while training; inference never wants it, so it is ignored.

    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        const auto it = vocab_.find(std::string_view(name));
        byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
    }

    // ---- merges: ["a b", ...] (legacy) or [["a", "b"], ...]; rank = position ----
    const Json& merges = require(j, "merges", at);
    const JsonPath mp = at.child("merges");
    if (!merges.is_array()) mp.fail_format("must be an array");
    merges_.reserve(merges.size());
    uint32_t rank = 0;
    const auto lookup = [&](const std::string& token, const JsonPath& where) {
        const auto it = vocab_.find(token);
        if (it == vocab_.end()) where.fail_format("uses " + krait::quote(token) + ", which is not in model.vocab");
        return it->second;
    };
    for (size_t i = 0; i < merges.size(); ++i) {
        const Json& m = merges[i];
        const JsonPath ep = mp.index(i);
        std::string a, b;
        if (m.is_string()) {
            const std::string line = m.get<std::string>();
            if (line.rfind("#version", 0) == 0) continue;  // header line of merges.txt, not a merge
            const size_t space = line.find(' ');
            if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
                ep.fail_format("must be two tokens separated by one space, got " + krait::quote(line));
            }
            a = line.substr(0, space);
            b = line.substr(space + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].get<std::string>();
            b = m[1].get<std::string>();
        } else {
            ep.fail_format("must be \"a b\" or [\"a\", \"b\"]");
        }
        const int32_t a_id = lookup(a, ep);
        const int32_t b_id = lookup(b, ep);
        // The merged token drops b's continuing_subword_prefix ("a" + "##b" -> "ab").
        const size_t prefix_len = continuing_subword_prefix_.size();
        if (b.size() < prefix_len) ep.fail_format("token " + krait::quote(b) + " is shorter than continuing_subword_prefix");
        const int32_t new_id = lookup(a + b.substr(prefix_len), ep);
        // Like HF (a HashMap collected in order), a repeated pair keeps its last rank.
        merges_[pair_key(a_id, b_id)] = Merge{rank, new_id};
        ++rank;
    }

    cache_ = std::make_unique<std::array<CacheShard, kCacheShards>>();
}

BpeModel::~BpeModel() = default;

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
    const auto it = vocab_r_.find(id);
    return it == vocab_r_.end() ? nullptr : it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        if (const auto it = vocab_.find(word); it != vocab_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    if (word.size() >= kCacheMaxWordBytes) {
        merge_word(word, out);
        return;
    }
    const size_t hash = StringHash{}(word);
    CacheShard& shard = (*cache_)[(hash >> 7) % kCacheShards];
    {
        std::shared_lock lock(shard.mutex);
        if (const auto it = shard.words.find(word); it != shard.words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t before = out.size();
    merge_word(word, out);
    std::unique_lock lock(shard.mutex);
    if (shard.words.size() < kCacheCapacityPerShard) {
        shard.words.try_emplace(std::string(word), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
    }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    const auto add = [&](int32_t id, uint32_t len) {
        const int32_t index = static_cast<int32_t>(symbols.size());
        if (!symbols.empty()) symbols.back().next = index;
        symbols.push_back(Symbol{id, index - 1, -1, len});
    };

    // ---- initial symbols: one per character (HF BPE::merge_word) ----
    int32_t unk_id = -1;   // pending run of unknown characters: its unk id, or -1
    uint32_t unk_len = 0;  // and the bytes it covers
    std::string scratch;
    for (size_t pos = 0; pos < word.size();) {
        const size_t char_len = utf8_length(static_cast<unsigned char>(word[pos]));
        const bool is_first = pos == 0;
        const bool is_last = pos + char_len >= word.size();
        std::string_view s = word.substr(pos, char_len);
        pos += char_len;
        if ((!is_first && !continuing_subword_prefix_.empty()) || (is_last && !end_of_word_suffix_.empty())) {
            scratch.clear();
            if (!is_first) scratch += continuing_subword_prefix_;
            scratch += s;
            if (is_last) scratch += end_of_word_suffix_;
            s = scratch;
        }
        const uint32_t byte_len = static_cast<uint32_t>(char_len);

        if (const auto it = vocab_.find(s); it != vocab_.end()) {
            if (unk_id >= 0) {
                add(unk_id, unk_len);
                unk_id = -1;
            }
            add(it->second, byte_len);
            continue;
        }
        if (byte_fallback_) {
            // Every byte of the (prefixed) character must have its <0xXX> token, else unk.
            bool all = true;
            for (const char c : s) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
            if (all) {
                for (const char c : s) add(byte_ids_[static_cast<unsigned char>(c)], 1);
                continue;
            }
        }
        if (unk_token_) {
            const auto unk_it = vocab_.find(*unk_token_);
            if (unk_it == vocab_.end()) {
                fail_format(origin_ + ": model.unk_token " + krait::quote(*unk_token_) + " is not in model.vocab");
            }
            if (unk_id >= 0 && fuse_unk_) {
                unk_len += byte_len;
            } else {
                if (unk_id >= 0) add(unk_id, unk_len);
                unk_id = unk_it->second;
                unk_len = byte_len;
            }
        }
        // No unk token: HF drops the character silently.
    }
    if (unk_id >= 0) add(unk_id, unk_len);

    // ---- merges, lowest rank first, leftmost on ties (HF Word::merge_all without dropout) ----
    std::priority_queue<QueuedMerge> queue;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const auto it = merges_.find(pair_key(symbols[i].id, symbols[i + 1].id));
        if (it != merges_.end()) queue.push({it->second.rank, static_cast<int32_t>(i), it->second.new_id});
    }
    while (!queue.empty()) {
        const QueuedMerge top = queue.top();
        queue.pop();
        Symbol& cur = symbols[top.pos];
        if (cur.len == 0 || cur.next == -1) continue;
        const int32_t next_pos = cur.next;
        const Symbol right = symbols[next_pos];
        // Skip entries made stale by an earlier merge of either symbol.
        const auto still = merges_.find(pair_key(cur.id, right.id));
        if (still == merges_.end() || still->second.new_id != top.new_id) continue;

        cur.id = top.new_id;
        cur.len += right.len;
        cur.next = right.next;
        symbols[next_pos].len = 0;
        if (right.next >= 0) symbols[right.next].prev = top.pos;

        if (cur.prev >= 0) {
            const auto it = merges_.find(pair_key(symbols[cur.prev].id, cur.id));
            if (it != merges_.end()) queue.push({it->second.rank, cur.prev, it->second.new_id});
        }
        if (cur.next >= 0) {
            const auto it = merges_.find(pair_key(cur.id, symbols[cur.next].id));
            if (it != merges_.end()) queue.push({it->second.rank, top.pos, it->second.new_id});
        }
    }
    for (const Symbol& s : symbols) {
        if (s.len != 0) out.push_back(s.id);
    }
}

}  // namespace krait::tok
