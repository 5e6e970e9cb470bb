// The file format of saved session states and conversations (krait_session_save_state,
// krait_conversation_save): versioned and checked, never trusted.
//
//   offset  size  field
//   0       8     magic "KRAITSTA"
//   8       4     format version (kStateFileVersion), little-endian like every number here
//   12      4     kind: 1 = a session state, 2 = a conversation (messages + a session state),
//                 3 = a conversation with its pictures and (recurrent models) its snapshots (since 1.7)
//   16      8     payload size in bytes
//   24      4     CRC-32 (IEEE 802.3, as zlib's crc32) of the payload
//   28      ...   payload (see krait_session::write_state and krait_conversation::save)
//
// The payload starts with the model's fingerprint (LanguageModel::fingerprint(): architecture,
// config shape values, vocabulary size), so a state saved by another model is refused naming the
// value that differs; then the context tokens, the state tensors and, for a conversation, its
// messages. Files are written to a temporary file next to the target and renamed over it, so a
// reader never sees half a file. Numbers are stored little-endian (the byte order of every CPU
// Krait runs on today; a big-endian build refuses to read or write them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace krait {

inline constexpr uint32_t kStateFileVersion = 1;
// ConversationWithImages (since 1.7): a conversation whose messages hold pictures, stored with it.
enum class StateFileKind : uint32_t { Session = 1, Conversation = 2, ConversationWithImages = 3 };

// CRC-32 (reflected polynomial 0xEDB88320, initial and final xor 0xFFFFFFFF), continuing `crc`.
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

// Builds a payload.
class ByteWriter {
public:
    void u32(uint32_t v) { raw(&v, sizeof v); }
    void u64(uint64_t v) { raw(&v, sizeof v); }
    void str(const std::string& s) {
        u64(s.size());
        raw(s.data(), s.size());
    }
    template <class T>
    void array(const std::vector<T>& v) {
        u64(v.size());
        raw(v.data(), v.size() * sizeof(T));
    }
    void raw(const void* data, size_t n) { bytes_.append(static_cast<const char*>(data), n); }
    const std::string& bytes() const { return bytes_; }

private:
    std::string bytes_;
};

// Reads a payload; anything short or out of bounds throws KRAIT_ERR_FORMAT naming `origin`.
class ByteReader {
public:
    ByteReader(const std::string& bytes, std::string origin) : bytes_(bytes), origin_(std::move(origin)) {}
    uint32_t u32();
    uint64_t u64();
    std::string str();
    template <class T>
    std::vector<T> array(const char* what) {
        const uint64_t n = u64();
        if (n > remaining() / sizeof(T)) truncated(what);
        std::vector<T> v(static_cast<size_t>(n));
        take(v.data(), v.size() * sizeof(T), what);
        return v;
    }
    size_t remaining() const { return bytes_.size() - pos_; }
    const std::string& origin() const { return origin_; }
    [[noreturn]] void truncated(const char* what) const;

private:
    void take(void* out, size_t n, const char* what);
    const std::string& bytes_;
    std::string origin_;
    size_t pos_ = 0;
};

// The fingerprint as stored ("name=value" lines) and the check of a stored one against a model's:
// KRAIT_ERR_INVALID_ARGUMENT naming the first value that differs, both ways.
std::string encode_fingerprint(const std::vector<std::pair<std::string, std::string>>& fingerprint);
void check_fingerprint(const std::string& stored, const std::vector<std::pair<std::string, std::string>>& model,
                       const std::string& origin);

// Writes header + payload to `path` atomically (temporary file, then rename). KRAIT_ERR_IO on failure
// (the target is then unchanged).
void write_state_file(const std::string& path, StateFileKind kind, const std::string& payload);
// Reads and checks `path`: magic, version, kind, size and CRC. Returns the payload. KRAIT_ERR_IO
// (missing, unreadable), KRAIT_ERR_FORMAT (not such a file, truncated, altered, another version or kind).
std::string read_state_file(const std::string& path, StateFileKind kind);
// The same accepting either of two kinds; *got says which the file holds.
std::string read_state_file(const std::string& path, StateFileKind kind, StateFileKind also, StateFileKind* got);

}  // namespace krait
