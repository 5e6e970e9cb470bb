// krait.Adapter and the per-model adapter registry shared by krait.SequenceModel and
// krait.Classifier (see "LoRA adapters" in krait.h).
//
// Each Python model object owns one session, used by one call at a time (its lock). An adapter set
// is therefore per call: the call sets it on the session under that lock and clears it before
// releasing the lock (ScopedAdapters), so calls from several threads with different sets cannot see
// each other's set, and a session never keeps an unloaded adapter alive between calls.
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "common.h"

namespace krait_py {

namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// The scale of `who` as a float: any real number Python can turn into a float (int, float, NumPy
// scalars, Fraction...), but not bool (almost surely a mistake) nor str. Non-finite values are passed
// on: the library refuses them with its own message (krait_session_set_adapters).
float to_scale(py::handle value, const std::string& who) {
    auto refuse = [&](const char* why) {
        fail_argument("adapters: the scale of " + who + " must be " + why + ", got " + std::string(py::repr(value)));
    };
    const bool number = !PyBool_Check(value.ptr()) && !PyUnicode_Check(value.ptr()) && !PyBytes_Check(value.ptr()) &&
                        !PyComplex_Check(value.ptr()) && PyNumber_Check(value.ptr());
    if (!number) refuse("a real number");
    const double d = PyFloat_AsDouble(value.ptr());
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        refuse("a real number that fits a float");
    }
    // Narrowing a finite double beyond float's range is undefined behaviour (and would read as
    // infinite in the library's message); NaN and infinities go to the library as they are.
    if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max()) refuse("within float32's range");
    return static_cast<float>(d);
}

std::string adapter_repr(const Adapter& a) {
    std::string s = "<krait.Adapter " + quoted(a.name) + " max_rank=" + std::to_string(a.max_rank) +
                    " lora_alpha=" + std::string(py::str(py::float_(a.lora_alpha))) +
                    (a.use_rslora ? " rslora" : "") + " targets=" + std::to_string(a.targets.size());
    if (!a.labels.empty()) s += " labels=" + std::to_string(a.labels.size());
    if (!a.handle) s += " (unloaded)";
    return s + ">";
}

std::string target_repr(const AdapterTarget& t) {
    if (t.replaced) return "<krait.AdapterTarget " + quoted(t.module) + " " + t.kind + " replaced>";
    return "<krait.AdapterTarget " + quoted(t.module) + " " + t.kind + " rank=" + std::to_string(t.rank) +
           " scaling=" + std::string(py::str(py::float_(t.scaling))) + ">";
}

}  // namespace

const Adapter* ActiveSet::head() const {
    for (const auto& a : adapters)
        if (!a->labels.empty()) return a.get();
    return nullptr;
}

ScopedAdapters::ScopedAdapters(krait_session* session, const ActiveSet& set) : session_(session), active_(false) {
    if (set.empty()) return;
    check(krait_session_set_adapters(session, set.raw.data(), set.scales.data(), set.raw.size()));
    active_ = true;
}

ScopedAdapters::~ScopedAdapters() {
    // Cannot fail for a valid session and an empty set.
    if (active_) krait_session_set_adapters(session_, nullptr, nullptr, 0);
}

std::shared_ptr<Adapter> AdapterRegistry::find(const std::string& name) const {
    for (const auto& a : loaded_)
        if (a->name == name) return a;
    return nullptr;
}

std::string AdapterRegistry::names() const {
    if (loaded_.empty()) return "none";
    std::string out;
    for (const auto& a : loaded_) out += (out.empty() ? "" : ", ") + quoted(a->name);
    return out;
}

std::shared_ptr<Adapter> AdapterRegistry::load(const std::string& path, const std::optional<std::string>& name) {
    if (name) {
        if (name->empty()) fail_argument("name must be None (the folder's name) or a non-empty string");
        if (name->find('\0') != std::string::npos) fail_argument("name contains a NUL character");
    }
    if (path.find('\0') != std::string::npos) fail_argument("path contains a NUL character");
    auto refuse_duplicate = [&](const std::string& n, const std::string& other_path) {
        fail_argument("an adapter named " + quoted(n) + " is already loaded on this model (from " + other_path +
                      "): unload it first or load this one under another name (name=...)");
    };
    // An explicit name is checked and reserved before the (possibly long) load, so two threads
    // loading under one name do not both do the work; a folder-name default is checked after.
    if (name) {
        if (auto other = find(*name)) refuse_duplicate(*name, other->path);
        for (const auto& n : loading_)
            if (n == *name) refuse_duplicate(*name, "a load still in progress");
        loading_.push_back(*name);
    }
    struct Unreserve {
        std::vector<std::string>& loading;
        const std::optional<std::string>& name;
        ~Unreserve() {
            if (!name) return;
            for (auto it = loading.begin(); it != loading.end(); ++it)
                if (*it == *name) {
                    loading.erase(it);
                    break;
                }
        }
    } unreserve{loading_, name};

    auto adapter = std::make_shared<Adapter>();
    {
        py::gil_scoped_release nogil;
        krait_adapter_params params;
        krait_adapter_params_init(&params);
        params.name = name ? name->c_str() : nullptr;
        krait_adapter* raw = nullptr;
        check(krait_adapter_load(model_->model, path.c_str(), &params, &raw));
        adapter->handle = std::make_shared<AdapterHandle>(model_, raw);

        krait_adapter_info info{};
        info.struct_size = sizeof info;
        check(krait_adapter_get_info(raw, &info));
        adapter->name = info.name ? info.name : "";
        adapter->path = info.path ? info.path : path;
        adapter->max_rank = info.max_rank;
        adapter->lora_alpha = info.lora_alpha;
        adapter->use_rslora = info.use_rslora != 0;
        adapter->num_parameters = info.num_parameters;
        for (int64_t i = 0; i < info.num_targets; ++i) {
            krait_adapter_target t{};
            t.struct_size = sizeof t;
            check(krait_adapter_get_target(raw, i, &t));
            adapter->targets.push_back({t.module ? t.module : "", t.kind ? t.kind : "", t.rank, t.scaling, t.replaced != 0});
        }
        for (int64_t i = 0; i < info.num_labels; ++i) {
            const char* label = nullptr;
            check(krait_adapter_get_label(raw, static_cast<int32_t>(i), &label));
            adapter->labels.emplace_back(label ? label : "");
        }
    }
    adapter->owner = model_.get();
    if (auto other = find(adapter->name)) refuse_duplicate(adapter->name, other->path);  // frees the new handle
    loaded_.push_back(adapter);
    return adapter;
}

void AdapterRegistry::unload(py::handle adapter_or_name) {
    std::shared_ptr<Adapter> target;
    if (py::isinstance<Adapter>(adapter_or_name)) {
        auto given = adapter_or_name.cast<std::shared_ptr<Adapter>>();
        for (const auto& a : loaded_)
            if (a == given) target = a;
        if (!target)
            fail_argument("adapter " + quoted(given->name) +
                          (given->handle ? " is loaded on another model" : " is already unloaded"));
    } else if (PyUnicode_Check(adapter_or_name.ptr())) {
        const std::string name = adapter_or_name.cast<std::string>();
        target = find(name);
        if (!target) fail_argument("no adapter named " + quoted(name) + " is loaded on this model (loaded: " + names() + ")");
    } else {
        fail_argument("unload_adapter() takes an Adapter or an adapter's name, got " +
                      std::string(py::str(py::type::handle_of(adapter_or_name).attr("__name__"))));
    }
    for (auto it = loaded_.begin(); it != loaded_.end(); ++it)
        if (*it == target) {
            loaded_.erase(it);
            break;
        }
    // The model's reference goes now; calls using the adapter hold their own until they end.
    std::shared_ptr<AdapterHandle> dropped = std::move(target->handle);  // leaves target->handle null
    if (dropped) {
        py::gil_scoped_release nogil;  // freeing an adapter's tensors needs no GIL
        dropped.reset();
    }
}

py::dict AdapterRegistry::adapters() const {
    py::dict d;
    for (const auto& a : loaded_) d[py::str(a->name)] = py::cast(a);
    return d;
}

std::shared_ptr<ActiveSet> AdapterRegistry::resolve(py::handle adapters) const {
    if (py::isinstance<ActiveSet>(adapters)) return adapters.cast<std::shared_ptr<ActiveSet>>();
    auto set = std::make_shared<ActiveSet>();
    if (adapters.is_none()) return set;
    py::object items;
    if (PyDict_Check(adapters.ptr())) {
        items = py::reinterpret_borrow<py::dict>(adapters).attr("items")();
    } else if (py::hasattr(adapters, "items") && !py::isinstance<py::str>(adapters)) {
        items = adapters.attr("items")();  // any Mapping
    } else {
        fail_argument("adapters must be None or a dict {Adapter or name: scale}, got " +
                      std::string(py::str(py::type::handle_of(adapters).attr("__name__"))));
    }
    for (py::handle item : items) {
        py::tuple pair = py::reinterpret_borrow<py::object>(item).cast<py::tuple>();
        if (pair.size() != 2) fail_argument("adapters: items() must give (key, scale) pairs");
        py::handle key = pair[0];
        std::shared_ptr<Adapter> adapter;
        if (py::isinstance<Adapter>(key)) {
            adapter = key.cast<std::shared_ptr<Adapter>>();
            if (!adapter->handle)
                fail_argument("adapters: adapter " + quoted(adapter->name) +
                              " was unloaded (load it again to use it)");
            // An adapter of another model is left to the library, which refuses it by name.
        } else if (PyUnicode_Check(key.ptr())) {
            const std::string name = key.cast<std::string>();
            adapter = find(name);
            if (!adapter)
                fail_argument("adapters: no adapter named " + quoted(name) + " is loaded on this model (loaded: " +
                              names() + ")");
        } else {
            fail_argument("adapters: keys must be Adapter objects or adapter names, got " +
                          std::string(py::str(py::type::handle_of(key).attr("__name__"))));
        }
        for (const auto& a : set->adapters)
            if (a == adapter) fail_argument("adapters: adapter " + quoted(adapter->name) + " is given twice");
        const float scale = to_scale(pair[1], "adapter " + quoted(adapter->name));
        set->adapters.push_back(adapter);
        set->handles.push_back(adapter->handle);
        set->raw.push_back(adapter->handle->adapter);
        set->scales.push_back(scale);
    }
    return set;
}

void bind_adapters(py::module_& m) {
    // The public classes are named krait.X (signatures, help()): the package re-exports them as they are.
    py::class_<AdapterTarget> target(m, "AdapterTarget", R"doc(
One module an adapter changes (``Adapter.targets``).

``module`` (the checkpoint's name), ``kind`` ("linear", "embedding", "conv1d", "conv2d"), ``rank``
and ``scaling`` (alpha / r, or alpha / sqrt(r) with rslora; both 0 for a replaced module),
``replaced`` (PEFT modules_to_save). Read-only; ``_asdict()`` gives them as a dict.)doc");
    target.attr("__module__") = "krait";
    py::class_<Adapter, std::shared_ptr<Adapter>> adapter(m, "Adapter", R"doc(
A PEFT LoRA adapter loaded for one model (``model.load_adapter(path, name=None)``).

Calls choose it with ``adapters={adapter_or_name: scale}``. Its facts are read at load and stay
readable after ``model.unload_adapter()`` (then ``loaded`` is False and calls refuse it). Adapters
compare by identity.)doc");
    adapter.attr("__module__") = "krait";

    target.def_readonly("module", &AdapterTarget::module, "The module's name in the checkpoint (\"model.layers.0.self_attn.q_proj\").")
        .def_readonly("kind", &AdapterTarget::kind, "\"linear\", \"embedding\", \"conv1d\" or \"conv2d\".")
        .def_readonly("rank", &AdapterTarget::rank, "r of this module (0 for a replaced module).")
        .def_readonly("scaling", &AdapterTarget::scaling,
                      "alpha / r (alpha / sqrt(r) with rslora), as PEFT scales the low-rank term; 0 for a replaced module.")
        .def_readonly("replaced", &AdapterTarget::replaced,
                      "True for a module the adapter replaces whole (PEFT modules_to_save, such as a classifier head).")
        .def("_asdict",
             [](const AdapterTarget& t) {
                 py::dict d;
                 d["module"] = t.module;
                 d["kind"] = t.kind;
                 d["rank"] = t.rank;
                 d["scaling"] = t.scaling;
                 d["replaced"] = t.replaced;
                 return d;
             },
             "The target as a dict.")
        .def("__repr__", &target_repr);

    adapter.def_readonly("name", &Adapter::name, "Its name on the model (load_adapter's name, default the folder's name).")
        .def_readonly("path", &Adapter::path, "The folder it was loaded from.")
        .def_readonly("max_rank", &Adapter::max_rank, "Largest r over its modules (0 if it only replaces modules).")
        .def_readonly("lora_alpha", &Adapter::lora_alpha, "adapter_config.json lora_alpha (before alpha_pattern).")
        .def_readonly("use_rslora", &Adapter::use_rslora, "adapter_config.json use_rslora: scaling alpha / sqrt(r).")
        .def_readonly("num_parameters", &Adapter::num_parameters, "Values held by the adapter.")
        .def_readonly("targets", &Adapter::targets, "Adapted modules, then replaced ones (AdapterTarget).")
        .def_readonly("labels", &Adapter::labels,
                      "Labels of its replacement classifier head; empty if it keeps the model's head.")
        .def_property_readonly("loaded", [](const Adapter& a) { return static_cast<bool>(a.handle); },
                               "False once unloaded from its model.")
        .def("__repr__", &adapter_repr);

    // A resolved `adapters=` argument (private: lets one Python call reuse it for several library calls).
    py::class_<ActiveSet, std::shared_ptr<ActiveSet>>(m, "_ActiveSet",
                                                      "A resolved adapters= argument (private).");
}

}  // namespace krait_py
