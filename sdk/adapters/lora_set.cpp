#include "sdk/adapters/lora_set.h"

#include <cmath>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace krait {

LoraSet::LoraSet(const AdapterTargets& targets, std::vector<ActiveAdapter> active) : active_(std::move(active)) {
    slots_.resize(targets.slots());
    for (const ActiveAdapter& a : active_) {
        if (!a.adapter) fail_argument("active adapters: an entry without an adapter");
        if (!std::isfinite(a.scale))
            fail_argument("adapter " + krait::quote(a.adapter->name()) + ": scale " + std::to_string(a.scale) + " is not finite");
        if (a.adapter->targets() != &targets)
            fail_argument("adapter " + krait::quote(a.adapter->name()) + " was loaded for another model");
        for (const ModuleReplacement& r : a.adapter->replacements()) {
            SlotAdapters& s = slots_.at(static_cast<size_t>(r.target.slot));
            if (s.replacement && s.replacement != &r)
                fail_argument("adapters replace module " + krait::quote(r.name) + " twice (adapter '" + a.adapter->name() +
                              "' and an earlier one): only one replacement per module can be active");
            s.replacement = &r;
        }
        if (a.scale == 0.0f) continue;  // the low-rank terms vanish; a replaced module stays replaced
        for (const LoraModule& m : a.adapter->modules())
            slots_.at(static_cast<size_t>(m.target.slot)).terms.push_back({&m, a.scale * m.scaling});
    }
}

bool LoraSet::touches(size_t begin, size_t end) const {
    for (size_t i = begin; i < end && i < slots_.size(); ++i)
        if (!slots_[i].terms.empty() || slots_[i].replacement) return true;
    return false;
}

LoraSet LoraSet::slice(size_t begin, size_t count) const {
    LoraSet part;
    part.active_ = active_;
    for (size_t i = begin; i < begin + count && i < slots_.size(); ++i) part.slots_.push_back(slots_[i]);
    return part;
}

}  // namespace krait
