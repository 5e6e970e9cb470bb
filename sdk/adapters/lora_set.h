// LoraSet: the adapters active for one call, resolved per slot of the model.
//
// A session keeps its active list (adapter, scale) and rebuilds this small
// table whenever the list changes: that is the whole cost of a swap (no
// weights are touched). The forward pass asks it, per layer slot, which
// low-rank terms to add and whether the module is replaced. The set holds
// shared references to its adapters, so they stay alive while a call that
// uses them runs, even if the caller unloads them meanwhile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sdk/adapters/lora_adapter.h"

namespace krait {

struct ActiveAdapter {
    std::shared_ptr<const LoraAdapter> adapter;
    float scale = 1.0f;
};

// One low-rank term on a slot: y += scale * B (A x), scale = session scale * scaling.
struct LoraTerm {
    const LoraModule* module = nullptr;
    float scale = 0.0f;
};

struct SlotAdapters {
    std::vector<LoraTerm> terms;                    // in the order the adapters were given
    const ModuleReplacement* replacement = nullptr;  // modules_to_save, at most one
};

class LoraSet {
public:
    // Throws KRAIT_ERR_INVALID_ARGUMENT for a non-finite scale, an adapter
    // loaded for another model, or two adapters replacing the same module.
    LoraSet(const AdapterTargets& targets, std::vector<ActiveAdapter> active);

    // What is active on `slot`, or nullptr when nothing is (also for slot -1).
    const SlotAdapters* find(int32_t slot) const {
        if (slot < 0 || static_cast<size_t>(slot) >= slots_.size()) return nullptr;
        const SlotAdapters& s = slots_[static_cast<size_t>(slot)];
        return s.terms.empty() && !s.replacement ? nullptr : &s;
    }
    // The replacement of `slot`, or nullptr.
    const ModuleReplacement* replacement(int32_t slot) const {
        const SlotAdapters* s = find(slot);
        return s ? s->replacement : nullptr;
    }
    const std::vector<ActiveAdapter>& active() const { return active_; }
    // Whether any slot in [begin, end) has a term or a replacement.
    bool touches(size_t begin, size_t end) const;
    // The slots [begin, begin + count) renumbered from 0: what a part of a model whose slots were
    // merged into a bigger table (AdapterTargets::merge) passes to its own layers. Holds the same
    // adapters (kept alive with it).
    LoraSet slice(size_t begin, size_t count) const;

private:
    LoraSet() = default;

    std::vector<ActiveAdapter> active_;
    std::vector<SlotAdapters> slots_;
};

}  // namespace krait
