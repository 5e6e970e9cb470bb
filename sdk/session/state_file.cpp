#include "sdk/session/state_file.h"

#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "sdk/core/error.h"

namespace krait {

namespace {

constexpr char kMagic[8] = {'K', 'R', 'A', 'I', 'T', 'S', 'T', 'A'};
constexpr size_t kHeaderSize = 28;

static_assert(std::endian::native == std::endian::little, "state files are little-endian; this build is not");

std::array<uint32_t, 256> make_crc_table() {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}

const char* kind_name(uint32_t kind) {
    switch (kind) {
        case static_cast<uint32_t>(StateFileKind::Session): return "a session state";
        case static_cast<uint32_t>(StateFileKind::Conversation): return "a conversation";
        case static_cast<uint32_t>(StateFileKind::ConversationWithImages): return "a conversation with pictures";
        default: return "an unknown kind of file";
    }
}

}  // namespace

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
    static const std::array<uint32_t, 256> table = make_crc_table();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

uint32_t ByteReader::u32() {
    uint32_t v;
    take(&v, sizeof v, "a number");
    return v;
}

uint64_t ByteReader::u64() {
    uint64_t v;
    take(&v, sizeof v, "a number");
    return v;
}

std::string ByteReader::str() {
    const uint64_t n = u64();
    if (n > remaining()) truncated("a string");
    std::string s(static_cast<size_t>(n), '\0');
    take(s.data(), s.size(), "a string");
    return s;
}

void ByteReader::take(void* out, size_t n, const char* what) {
    if (n > remaining()) truncated(what);
    if (n) std::memcpy(out, bytes_.data() + pos_, n);
    pos_ += n;
}

void ByteReader::truncated(const char* what) const {
    fail_format(origin_ + ": the payload ends inside " + what + " (at byte " + std::to_string(pos_) + " of " +
                std::to_string(bytes_.size()) + ")");
}

std::string encode_fingerprint(const std::vector<std::pair<std::string, std::string>>& fingerprint) {
    std::string out;
    for (const auto& [name, value] : fingerprint) out += name + "=" + value + "\n";
    return out;
}

void check_fingerprint(const std::string& stored, const std::vector<std::pair<std::string, std::string>>& model,
                       const std::string& origin) {
    if (stored == encode_fingerprint(model)) return;
    // Name the first value that differs (or is missing on either side).
    std::vector<std::pair<std::string, std::string>> theirs;
    size_t start = 0;
    while (start < stored.size()) {
        size_t end = stored.find('\n', start);
        if (end == std::string::npos) end = stored.size();
        const std::string line = stored.substr(start, end - start);
        const size_t eq = line.find('=');
        theirs.emplace_back(line.substr(0, eq), eq == std::string::npos ? "" : line.substr(eq + 1));
        start = end + 1;
    }
    const auto value_in = [](const std::vector<std::pair<std::string, std::string>>& list, const std::string& name) {
        for (const auto& [n, v] : list)
            if (n == name) return v;
        return std::string("(absent)");
    };
    std::string difference;
    for (const auto& [name, value] : model) {
        const std::string other = value_in(theirs, name);
        if (other != value) {
            difference = name + " is " + quote(other) + " there, " + quote(value) + " in this model";
            break;
        }
    }
    if (difference.empty())
        for (const auto& [name, value] : theirs)
            if (value_in(model, name) == "(absent)") {
                difference = "it records " + quote(name) + ", which this model does not have";
                break;
            }
    fail_argument(origin + " was saved by another model: " + difference);
}

void write_state_file(const std::string& path, StateFileKind kind, const std::string& payload) {
    std::string header(kMagic, sizeof kMagic);
    const uint32_t version = kStateFileVersion, k = static_cast<uint32_t>(kind);
    const uint64_t size = payload.size();
    const uint32_t crc = crc32(payload.data(), payload.size());
    header.append(reinterpret_cast<const char*>(&version), sizeof version);
    header.append(reinterpret_cast<const char*>(&k), sizeof k);
    header.append(reinterpret_cast<const char*>(&size), sizeof size);
    header.append(reinterpret_cast<const char*>(&crc), sizeof crc);

    // A temporary file in the same directory, so that the rename is atomic.
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail_io("cannot write " + quote(path) + ": " + std::strerror(errno));
    bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
              std::fwrite(payload.data(), 1, payload.size(), f) == payload.size();
    ok = (std::fflush(f) == 0) && ok;
    ok = (::fsync(::fileno(f)) == 0) && ok;
    const int saved_errno = errno;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
        std::remove(tmp.c_str());
        fail_io("cannot write " + quote(path) + ": " + std::strerror(saved_errno));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        fail_io("cannot write " + quote(path) + ": " + ec.message());
    }
}

std::string read_state_file(const std::string& path, StateFileKind kind) {
    return read_state_file(path, kind, kind, nullptr);
}

std::string read_state_file(const std::string& path, StateFileKind kind, StateFileKind also, StateFileKind* got) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_io("cannot read " + quote(path) + ": " + std::strerror(errno));
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail_io("cannot read " + quote(path));
    const std::string origin = quote(path);
    if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        fail_format(origin + " is not a Krait state file (no KRAITSTA magic)");
    if (bytes.size() < kHeaderSize)
        fail_format(origin + " is truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the header");
    uint32_t version, k, crc;
    uint64_t size;
    std::memcpy(&version, bytes.data() + 8, 4);
    std::memcpy(&k, bytes.data() + 12, 4);
    std::memcpy(&size, bytes.data() + 16, 8);
    std::memcpy(&crc, bytes.data() + 24, 4);
    if (version != kStateFileVersion)
        fail_format(origin + " has format version " + std::to_string(version) + "; this library reads version " +
                    std::to_string(kStateFileVersion));
    if (k != static_cast<uint32_t>(kind) && k != static_cast<uint32_t>(also))
        fail_format(origin + " holds " + kind_name(k) + ", not " + kind_name(static_cast<uint32_t>(kind)));
    if (got) *got = static_cast<StateFileKind>(k);
    if (size != bytes.size() - kHeaderSize)
        fail_format(origin + (size > bytes.size() - kHeaderSize ? " is truncated" : " has trailing bytes") +
                    ": its header announces " + std::to_string(size) + " bytes of payload, the file holds " +
                    std::to_string(bytes.size() - kHeaderSize));
    if (crc32(bytes.data() + kHeaderSize, bytes.size() - kHeaderSize) != crc)
        fail_format(origin + " is damaged: the CRC-32 of its payload does not match its header");
    return bytes.substr(kHeaderSize);
}

}  // namespace krait
