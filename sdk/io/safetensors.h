// Safetensors files (single and sharded), parsed strictly and memory-mapped.
//
// Layout: u64 little-endian header length N, N bytes of JSON, then the data
// buffer. Everything a file claims is checked before any byte is used:
// header size, JSON shape, dtype names, shapes, offsets inside the buffer,
// nbytes == numel * sizeof(dtype), no overlaps or holes, buffer ending at EOF.
// A lying file is a KRAIT_ERR_FORMAT whose message names the file and tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sdk/core/dtype.h"
#include "sdk/io/mapped_file.h"

namespace krait {

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const uint8_t* data = nullptr;  // into the mapping; not necessarily aligned
    size_t nbytes = 0;
    const std::string* file = nullptr;  // path of the file holding it, for messages

    int64_t numel() const;
};

std::string shape_to_string(const std::vector<int64_t>& shape);

class SafetensorsFile {
public:
    // Throws KRAIT_ERR_IO (unreadable) or KRAIT_ERR_FORMAT (malformed).
    explicit SafetensorsFile(const std::string& path);
    // Parses an in-memory buffer that outlives the object (used by the fuzzer).
    SafetensorsFile(const uint8_t* bytes, size_t size, const std::string& origin);

    const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::string& path() const { return path_; }

private:
    void parse(const uint8_t* bytes, size_t size);

    std::string path_;
    std::unique_ptr<MappedFile> map_;
    std::map<std::string, TensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

// All weights of a model directory: model.safetensors, or the shards named by
// model.safetensors.index.json. Tensor names are unique across shards.
class WeightFiles {
public:
    // Throws KRAIT_ERR_IO if the directory has neither file, KRAIT_ERR_FORMAT
    // for a bad index, a missing shard, or a tensor the index places elsewhere.
    static std::unique_ptr<WeightFiles> open_dir(const std::string& dir);
    // One safetensors file of any name (a composite assistant's projector). Throws as SafetensorsFile.
    static std::unique_ptr<WeightFiles> open_file(const std::string& path);

    // nullptr if absent.
    const TensorInfo* find(const std::string& name) const;
    std::vector<std::string> names() const;
    size_t total_bytes() const;

private:
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, const TensorInfo*> index_;
};

}  // namespace krait
