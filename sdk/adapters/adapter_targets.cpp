#include "sdk/adapters/adapter_targets.h"

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace krait {

const char* target_kind_name(TargetKind kind) {
    switch (kind) {
        case TargetKind::Linear: return "linear";
        case TargetKind::Embedding: return "embedding";
        case TargetKind::Conv1d: return "conv1d";
        case TargetKind::Conv2d: return "conv2d";
    }
    return "?";
}

int32_t AdapterTargets::add(const std::string& name, AdapterTarget target) {
    if (targets_.count(name)) fail_argument("adapter target " + krait::quote(name) + " registered twice");
    target.slot = static_cast<int32_t>(slot_count_++);
    targets_.emplace(name, std::move(target));
    return static_cast<int32_t>(slot_count_ - 1);
}

void AdapterTargets::add_unsupported(const std::string& name, TargetKind kind, const std::string& why) {
    AdapterTarget t;
    t.kind = kind;
    t.unsupported = why;
    targets_.emplace(name, std::move(t));
}

void AdapterTargets::add_alias(const std::string& pattern, const std::string& replacement) {
    aliases_.push_back({pattern, std::regex(pattern, std::regex::ECMAScript), replacement});
}

int32_t AdapterTargets::merge(const AdapterTargets& other, const std::string& prefix) {
    const auto offset = static_cast<int32_t>(slot_count_);
    for (const auto& [name, target] : other.targets_) {
        AdapterTarget t = target;
        if (t.slot >= 0) t.slot += offset;
        if (!targets_.emplace(prefix + name, std::move(t)).second)
            fail_argument("adapter target " + krait::quote(prefix + name) + " registered twice");
    }
    slot_count_ += other.slot_count_;
    std::string escaped;  // the prefix as a regex
    for (char c : prefix) {
        if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) escaped += '\\';
        escaped += c;
    }
    for (const Alias& a : other.aliases_) add_alias(escaped + a.pattern, prefix + a.replacement);
    return offset;
}

const AdapterTarget* AdapterTargets::resolve(const std::string& adapter_module, std::string* resolved) const {
    auto it = targets_.find(adapter_module);
    // Each rule is tried on the adapter's own name; the first that leads to a module wins.
    for (size_t i = 0; it == targets_.end() && i < aliases_.size(); ++i) {
        const auto& [pattern, re, replacement] = aliases_[i];
        // The rule matched the whole name: rewrite that one match (a pattern such as "(.*)" would
        // otherwise also match the empty tail and append the replacement twice).
        if (std::regex_match(adapter_module, re))
            it = targets_.find(std::regex_replace(adapter_module, re, replacement, std::regex_constants::format_first_only));
    }
    if (it == targets_.end()) return nullptr;
    if (resolved) *resolved = it->first;
    return &it->second;
}

}  // namespace krait
