// MappedFile: a read-only memory map of a whole file (RAII).
//
// Weights are used in place from the map, so loading a 2.8B model costs page
// faults, not copies. The mapping lives as long as the MappedFile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace krait {

class MappedFile {
public:
    // Throws krait::Error(KRAIT_ERR_IO) naming the path if it cannot be opened or mapped.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace krait
