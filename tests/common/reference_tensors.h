// Reading the reference results of a fixture (expected.safetensors) with nothing but the format's
// definition (u64 header length, JSON header, data), independent of Krait: ABI tests link only
// the public library, and a test's yardstick should not share code with what it checks.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace krait::testing {

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Tensor `name` of a .safetensors file as T values (no conversion), and its shape.
template <class T>
std::vector<T> read_tensor(const std::string& file, const std::string& name, std::vector<int64_t>* shape = nullptr) {
    const std::string raw = read_file(file);
    uint64_t n = 0;
    std::memcpy(&n, raw.data(), 8);
    const auto header = nlohmann::json::parse(raw.substr(8, n));
    if (!header.contains(name)) throw std::runtime_error(file + " has no tensor " + name);
    const auto& t = header[name];
    if (shape) *shape = t["shape"].get<std::vector<int64_t>>();
    const size_t begin = t["data_offsets"][0], end = t["data_offsets"][1];
    std::vector<T> out((end - begin) / sizeof(T));
    std::memcpy(out.data(), raw.data() + 8 + n + begin, end - begin);
    return out;
}

}  // namespace krait::testing
