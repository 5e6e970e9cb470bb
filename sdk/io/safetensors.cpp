#include "sdk/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/limits.h"
#include "sdk/core/utf8.h"

namespace krait {

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
    map_ = std::make_unique<MappedFile>(path);
    parse(map_->data(), map_->size());
}

SafetensorsFile::SafetensorsFile(const uint8_t* bytes, size_t size, const std::string& origin) : path_(origin) {
    parse(bytes, size);
}

void SafetensorsFile::parse(const uint8_t* bytes, size_t size) {
    const std::string& where = path_;
    if (size < 8) fail_format(where + ": truncated: " + std::to_string(size) + " bytes, too short for a safetensors header");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
    // The reference implementation refuses headers above 100 MB; so do we.
    if (header_len > limits::kSafetensorsHeaderBytes)
        fail_format(where + ": header length " + std::to_string(header_len) + " exceeds the limit of " +
                    std::to_string(limits::kSafetensorsHeaderBytes) + " bytes");
    if (header_len > size - 8)
        fail_format(where + ": truncated: header length " + std::to_string(header_len) + " goes beyond the file size " +
                    std::to_string(size));

    nlohmann::json header;
    try {
        check_json_depth(std::string_view(reinterpret_cast<const char*>(bytes + 8), header_len), where);
        header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
    } catch (const nlohmann::json::exception& e) {
        fail_format(where + ": header is not valid JSON: " + e.what());
    }
    if (!header.is_object()) fail_format(where + ": header is not a JSON object");
    if (header.size() > limits::kTensorsPerFile + 1)  // + __metadata__
        fail_format(where + ": declares " + std::to_string(header.size()) + " entries, more than the limit of " +
                    std::to_string(limits::kTensorsPerFile) + " tensors per file");

    const uint8_t* buffer = bytes + 8 + header_len;
    const uint64_t buffer_size = size - 8 - header_len;

    struct Span {
        uint64_t begin, end;
        const std::string* name;
    };
    std::vector<Span> spans;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const auto& entry = it.value();
        if (name == "__metadata__") {
            if (!entry.is_object()) fail_format(where + ": __metadata__ is not an object");
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                if (!m.value().is_string()) fail_format(where + ": __metadata__ value " + krait::quote(m.key()) + " is not a string");
                metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string what = where + ": tensor " + krait::quote(name);
        if (!entry.is_object()) fail_format(what + ": entry is not an object");
        if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail_format(what + ": missing dtype");
        if (!entry.contains("shape") || !entry["shape"].is_array()) fail_format(what + ": missing shape");
        if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
            fail_format(what + ": missing data_offsets [begin, end]");

        TensorInfo info;
        info.name = name;
        const auto dtype_str = entry["dtype"].get<std::string>();
        auto dtype = dtype_from_name(dtype_str);
        if (!dtype) fail_format(what + ": unknown dtype " + krait::quote(dtype_str));
        info.dtype = *dtype;

        // numel with overflow checks: a lying shape must not wrap around.
        uint64_t numel = 1;
        if (entry["shape"].size() > limits::kTensorRank)
            fail_format(what + ": rank " + std::to_string(entry["shape"].size()) + " is above the limit of " +
                        std::to_string(limits::kTensorRank) + " dimensions");
        for (const auto& d : entry["shape"]) {
            if (!d.is_number_unsigned()) fail_format(what + ": shape entries must be non-negative integers");
            const uint64_t dim = d.get<uint64_t>();
            if (dim > limits::kTensorDim || (dim != 0 && numel > (uint64_t{1} << 62) / dim))
                fail_format(what + ": shape is impossibly large");
            numel *= dim;
            info.shape.push_back(static_cast<int64_t>(dim));
        }
        const auto& off = entry["data_offsets"];
        if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            fail_format(what + ": data_offsets must be non-negative integers");
        const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
        if (begin > end) fail_format(what + ": data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
        if (end > buffer_size)
            fail_format(what + ": data_offsets end " + std::to_string(end) + " is beyond the data buffer (" +
                        std::to_string(buffer_size) + " bytes; file truncated?)");
        const uint64_t expected = numel * dtype_size(info.dtype);
        if (end - begin != expected)
            fail_format(what + ": holds " + std::to_string(end - begin) + " bytes but " + dtype_str + " " +
                        shape_to_string(info.shape) + " needs " + std::to_string(expected));
        info.data = buffer + begin;
        info.nbytes = static_cast<size_t>(end - begin);
        info.file = &path_;
        auto [pos, inserted] = tensors_.emplace(name, std::move(info));
        spans.push_back({begin, end, &pos->first});
    }

    // The buffer must be covered exactly: sorted spans contiguous from 0 to the end.
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t cursor = 0;
    for (const auto& s : spans) {
        if (s.begin < cursor)
            fail_format(where + ": tensor " + krait::quote(*s.name) + " overlaps the previous tensor (offset " + std::to_string(s.begin) +
                        " < " + std::to_string(cursor) + ")");
        if (s.begin > cursor)
            fail_format(where + ": hole in the data buffer before tensor " + krait::quote(*s.name) + " (bytes " +
                        std::to_string(cursor) + ".." + std::to_string(s.begin) + " belong to no tensor)");
        cursor = s.end;
    }
    if (cursor != buffer_size)
        fail_format(where + ": data buffer has " + std::to_string(buffer_size - cursor) + " trailing bytes that belong to no tensor");
}

std::unique_ptr<WeightFiles> WeightFiles::open_file(const std::string& path) {
    auto wf = std::unique_ptr<WeightFiles>(new WeightFiles());
    wf->files_.push_back(std::make_unique<SafetensorsFile>(path));
    for (const auto& [name, info] : wf->files_.back()->tensors()) wf->index_.emplace(name, &info);
    return wf;
}

std::unique_ptr<WeightFiles> WeightFiles::open_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    auto wf = std::unique_ptr<WeightFiles>(new WeightFiles());
    const fs::path single = fs::path(dir) / "model.safetensors";
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";

    auto add_file = [&](const fs::path& p) -> SafetensorsFile& {
        wf->files_.push_back(std::make_unique<SafetensorsFile>(p.string()));
        SafetensorsFile& f = *wf->files_.back();
        for (const auto& [name, info] : f.tensors()) {
            if (!wf->index_.emplace(name, &info).second)
                fail_format(p.string() + ": tensor " + krait::quote(name) + " also appears in another shard");
        }
        return f;
    };

    if (fs::exists(single)) {
        add_file(single);
    } else if (fs::exists(index)) {
        std::ifstream in(index);
        nlohmann::json j;
        try {
            const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            check_json_depth(text, index.string());
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            fail_format(index.string() + ": not valid JSON: " + e.what());
        }
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            fail_format(index.string() + ": missing object 'weight_map'");
        std::map<std::string, std::vector<std::string>> by_file;
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it.value().is_string()) fail_format(index.string() + ": weight_map[" + krait::quote(it.key()) + "] is not a string");
            const auto shard = it.value().get<std::string>();
            if (shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos || shard == ".." )
                fail_format(index.string() + ": shard name " + krait::quote(shard) + " is not a plain file name");
            by_file[shard].push_back(it.key());
        }
        for (const auto& [shard, names] : by_file) {
            const fs::path p = fs::path(dir) / shard;
            if (!fs::exists(p)) fail_format(index.string() + ": names shard " + krait::quote(shard) + ", which does not exist");
            SafetensorsFile& f = add_file(p);
            for (const auto& n : names)
                if (!f.tensors().count(n))
                    fail_format(index.string() + ": places tensor " + krait::quote(n) + " in " + krait::quote(shard) + ", which does not hold it");
        }
    } else {
        fail_io(dir + ": no model.safetensors or model.safetensors.index.json");
    }
    return wf;
}

const TensorInfo* WeightFiles::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> WeightFiles::names() const {
    std::vector<std::string> out;
    out.reserve(index_.size());
    for (const auto& kv : index_) out.push_back(kv.first);
    return out;
}

size_t WeightFiles::total_bytes() const {
    size_t n = 0;
    for (const auto& kv : index_) n += kv.second->nbytes;
    return n;
}

}  // namespace krait
