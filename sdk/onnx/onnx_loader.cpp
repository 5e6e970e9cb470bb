// ModelProto -> onnx::Graph. Everything read from the file is checked before it is used: sizes
// against element counts, external data against its file and the model's folder, names against
// the values that exist.
#include "sdk/onnx/onnx_loader.h"

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <google/protobuf/arena.h>

#include "krait_onnx.pb.h"
#include "sdk/core/error.h"
#include "sdk/core/utf8.h"
#include "sdk/io/mapped_file.h"
#include "sdk/onnx/onnx_fusions.h"
#include "sdk/onnx/onnx_ops.h"
#include "sdk/onnx/onnx_passes.h"

namespace krait::onnx {

namespace fs = std::filesystem;
namespace pb = krait_onnx_pb;

namespace {

// External data files of one model, each mapped once and shared by the tensors that point into it.
class ExternalFiles {
public:
    ExternalFiles(std::string model_path) : model_path_(std::move(model_path)) {
        dir_ = fs::absolute(fs::path(model_path_)).parent_path();
    }

    std::shared_ptr<MappedFile> open(const std::string& location, const std::string& tensor) {
        const fs::path rel(location);
        if (location.empty() || rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
            fail_format(model_path_ + ": tensor " + quote(tensor) + ": external data location " + quote(location) +
                        " must be a path relative to the model's folder");
        const fs::path full = (dir_ / rel).lexically_normal();
        const fs::path inside = full.lexically_relative(dir_);
        if (inside.empty() || *inside.begin() == "..")
            fail_format(model_path_ + ": tensor " + quote(tensor) + ": external data location " + quote(location) +
                        " points outside the model's folder");
        // Symbolic links may not lead outside either.
        std::error_code ec;
        const fs::path real = fs::weakly_canonical(full, ec), real_dir = fs::weakly_canonical(dir_, ec);
        const fs::path real_inside = real.lexically_relative(real_dir);
        if (!ec && (real_inside.empty() || *real_inside.begin() == ".."))
            fail_format(model_path_ + ": tensor " + quote(tensor) + ": external data " + quote(location) +
                        " resolves outside the model's folder");
        const std::string key = full.string();
        auto it = files_.find(key);
        if (it != files_.end()) return it->second;
        if (!fs::is_regular_file(full, ec))
            fail_io(model_path_ + ": tensor " + quote(tensor) + ": external data file " + quote(location) +
                    " does not exist next to the model");
        auto file = std::make_shared<MappedFile>(key);
        files_[key] = file;
        return file;
    }

private:
    std::string model_path_;
    fs::path dir_;
    std::map<std::string, std::shared_ptr<MappedFile>> files_;
};

int64_t parse_count(const std::string& text, const std::string& what) {
    if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
        fail_format(what + " " + quote(text) + " is not a non-negative integer");
    return std::stoll(text);
}

// One TensorProto -> Tensor. `proto` may be consumed (its raw_data moved out).
Tensor convert_tensor(pb::TensorProto& proto, const std::string& where, ExternalFiles* external) {
    const std::string name = proto.name();
    const std::string who = where + ": tensor " + quote(name);
    const int32_t type = proto.data_type();
    if (!is_runnable_type(type))
        fail_unsupported(who + " is " + elem_type_name(type) + ": Krait runs FLOAT, INT64, INT32 and BOOL tensors");
    const ElemType et = static_cast<ElemType>(type);
    Shape shape(proto.dims().begin(), proto.dims().end());
    for (int64_t d : shape)
        if (d < 0) fail_format(who + " has a negative dimension " + shape_string(shape));
    const int64_t n = shape_numel(shape);
    const size_t bytes = static_cast<size_t>(n) * elem_size(et);

    if (proto.data_location() == pb::TensorProto::EXTERNAL) {
        if (!external) fail_format(who + " uses external data, which a tensor file cannot");
        std::string location;
        int64_t offset = 0, length = -1;
        for (const auto& kv : proto.external_data()) {
            if (kv.key() == "location") location = kv.value();
            else if (kv.key() == "offset") offset = parse_count(kv.value(), who + ": external data offset");
            else if (kv.key() == "length") length = parse_count(kv.value(), who + ": external data length");
        }
        auto file = external->open(location, name);
        if (length < 0) length = static_cast<int64_t>(bytes);
        if (static_cast<size_t>(length) != bytes)
            fail_format(who + ": external data length " + std::to_string(length) + " does not match its shape " +
                        shape_string(shape) + " (" + std::to_string(bytes) + " bytes)");
        if (static_cast<uint64_t>(offset) > file->size() || static_cast<uint64_t>(length) > file->size() - offset)
            fail_format(who + ": external data [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                        ") runs past the end of " + quote(location) + " (" + std::to_string(file->size()) + " bytes)");
        const uint8_t* p = file->data() + offset;
        if (reinterpret_cast<uintptr_t>(p) % elem_size(et) == 0)  // in place from the map
            return Tensor::view(et, shape, p, std::shared_ptr<const void>(file, file.get()));
        Tensor t = Tensor::allocate(et, shape);
        if (bytes) std::memcpy(t.mutable_data<uint8_t>(), p, bytes);
        return t;
    }
    if (proto.has_raw_data()) {
        if (proto.raw_data().size() != bytes)
            fail_format(who + " holds " + std::to_string(proto.raw_data().size()) + " bytes of raw data, its shape " +
                        shape_string(shape) + " needs " + std::to_string(bytes));
        // Keep the parsed bytes (no copy): the string's heap buffer is 16-byte aligned.
        auto owner = std::make_shared<std::string>();
        owner->swap(*proto.mutable_raw_data());
        if (reinterpret_cast<uintptr_t>(owner->data()) % elem_size(et) == 0)
            return Tensor::view(et, shape, owner->data(), std::shared_ptr<const void>(owner, owner->data()));
        Tensor t = Tensor::allocate(et, shape);
        if (bytes) std::memcpy(t.mutable_data<uint8_t>(), owner->data(), bytes);
        return t;
    }
    Tensor t = Tensor::allocate(et, shape);
    auto count_check = [&](int64_t got, const char* field) {
        if (got != n)
            fail_format(who + " has " + std::to_string(got) + " values in " + field + ", its shape " +
                        shape_string(shape) + " needs " + std::to_string(n));
    };
    switch (et) {
        case ElemType::Float:
            count_check(proto.float_data_size(), "float_data");
            if (bytes) std::memcpy(t.mutable_data<float>(), proto.float_data().data(), bytes);
            break;
        case ElemType::Int64:
            count_check(proto.int64_data_size(), "int64_data");
            if (bytes) std::memcpy(t.mutable_data<int64_t>(), proto.int64_data().data(), bytes);
            break;
        case ElemType::Int32:
            count_check(proto.int32_data_size(), "int32_data");
            if (bytes) std::memcpy(t.mutable_data<int32_t>(), proto.int32_data().data(), bytes);
            break;
        case ElemType::Bool:
            count_check(proto.int32_data_size(), "int32_data");
            for (int64_t i = 0; i < n; ++i) t.mutable_data<uint8_t>()[i] = proto.int32_data(static_cast<int>(i)) != 0;
            break;
        default: break;
    }
    return t;
}

Attribute convert_attribute(pb::AttributeProto& a, const std::string& where) {
    Attribute out;
    using AT = pb::AttributeProto;
    switch (a.type()) {
        case AT::FLOAT: out.kind = Attribute::Kind::Float; out.f = a.f(); break;
        case AT::INT: out.kind = Attribute::Kind::Int; out.i = a.i(); break;
        case AT::STRING: out.kind = Attribute::Kind::String; out.s = a.s(); break;
        case AT::TENSOR:
            out.kind = Attribute::Kind::Tensor;
            out.t = convert_tensor(*a.mutable_t(), where + ": attribute " + quote(a.name()), nullptr);
            break;
        case AT::FLOATS: out.kind = Attribute::Kind::Floats; out.floats.assign(a.floats().begin(), a.floats().end()); break;
        case AT::INTS: out.kind = Attribute::Kind::Ints; out.ints.assign(a.ints().begin(), a.ints().end()); break;
        case AT::STRINGS:
            out.kind = Attribute::Kind::Strings;
            out.strings.assign(a.strings().begin(), a.strings().end());
            break;
        case AT::GRAPH: case AT::GRAPHS: out.kind = Attribute::Kind::Graph; break;
        default: out.kind = Attribute::Kind::Other; break;
    }
    return out;
}

void read_value_info(const pb::ValueInfoProto& info, Value& v) {
    if (!info.has_type() || !info.type().has_tensor_type()) return;
    const auto& tt = info.type().tensor_type();
    v.elem_type = tt.elem_type();
    if (!tt.has_shape()) return;
    v.has_declared_shape = true;
    v.declared_dims.clear();
    v.dim_params.clear();
    for (const auto& d : tt.shape().dim()) {
        const bool fixed = d.value_case() == pb::TensorShapeProto::Dimension::kDimValue && d.dim_value() >= 0;
        v.declared_dims.push_back(fixed ? d.dim_value() : -1);
        v.dim_params.push_back(d.value_case() == pb::TensorShapeProto::Dimension::kDimParam ? d.dim_param() : "");
    }
}

// Model-local functions are expanded in place (their bodies become ordinary nodes).
struct FunctionTable {
    std::map<std::pair<std::string, std::string>, const pb::FunctionProto*> functions;
};

void add_node(Graph& g, pb::NodeProto& np, const std::string& where, const FunctionTable& fns,
              const std::map<std::string, std::string>& rename, const std::map<std::string, const pb::AttributeProto*>* caller_attrs,
              const std::string& prefix, int depth);

void expand_function(Graph& g, pb::NodeProto& call, const pb::FunctionProto& fn, const std::string& where,
                     const FunctionTable& fns, const std::map<std::string, std::string>& outer, int depth) {
    if (depth > 16) fail_format(where + ": functions nest deeper than 16 levels (recursive function " + quote(fn.name()) + "?)");
    std::map<std::string, std::string> rename;
    auto outer_name = [&](const std::string& n) {
        auto it = outer.find(n);
        return it == outer.end() ? n : it->second;
    };
    for (int i = 0; i < fn.input_size(); ++i)
        rename[fn.input(i)] = i < call.input_size() ? outer_name(call.input(i)) : "";
    for (int i = 0; i < fn.output_size(); ++i)
        rename[fn.output(i)] = i < call.output_size() ? outer_name(call.output(i)) : "";
    std::map<std::string, const pb::AttributeProto*> attrs;
    for (const auto& a : fn.attribute_proto()) attrs[a.name()] = &a;  // defaults
    for (const auto& a : call.attribute()) attrs[a.name()] = &a;
    const std::string prefix = (call.name().empty() ? fn.name() : call.name()) + "/" + std::to_string(g.nodes.size()) + "/";
    pb::FunctionProto body = fn;  // a copy: nodes are consumed
    for (auto& n : *body.mutable_node()) add_node(g, n, where, fns, rename, &attrs, prefix, depth + 1);
}

void add_node(Graph& g, pb::NodeProto& np, const std::string& where, const FunctionTable& fns,
              const std::map<std::string, std::string>& rename, const std::map<std::string, const pb::AttributeProto*>* caller_attrs,
              const std::string& prefix, int depth) {
    auto mapped = [&](const std::string& n) -> std::string {
        if (n.empty()) return n;
        auto it = rename.find(n);
        if (it != rename.end()) return it->second;
        return prefix + n;  // a function body's own intermediate value
    };
    auto it = fns.functions.find({np.domain(), np.op_type()});
    if (it != fns.functions.end()) {
        if (!prefix.empty() || !rename.empty()) {
            // A call inside a function body: rename its operands first.
            pb::NodeProto call = np;
            for (auto& s : *call.mutable_input()) s = mapped(s);
            for (auto& s : *call.mutable_output()) s = mapped(s);
            expand_function(g, call, *it->second, where, fns, {}, depth);
        } else {
            expand_function(g, np, *it->second, where, fns, {}, depth);
        }
        return;
    }
    Node node;
    node.name = prefix + np.name();
    node.op_type = np.op_type();
    node.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    const std::string who = where + ": " + node.describe(static_cast<int>(g.nodes.size()));
    for (auto& a : *np.mutable_attribute()) {
        if (a.has_ref_attr_name()) {
            if (!caller_attrs) fail_format(who + ": attribute " + quote(a.name()) + " refers to a function attribute outside a function");
            auto c = caller_attrs->find(a.ref_attr_name());
            if (c == caller_attrs->end()) continue;  // not given and no default: the attribute is absent
            pb::AttributeProto copy = *c->second;
            copy.set_name(a.name());
            node.attributes[a.name()] = convert_attribute(copy, who);
        } else {
            node.attributes[a.name()] = convert_attribute(a, who);
        }
    }
    for (const auto& in : np.input()) {
        const std::string n = mapped(in);
        if (n.empty()) { node.inputs.push_back(-1); continue; }
        int v = g.value(n);
        if (v < 0) v = g.add_value(n);
        node.inputs.push_back(v);
    }
    // Trailing omitted inputs are dropped (as if not given).
    while (!node.inputs.empty() && node.inputs.back() < 0) node.inputs.pop_back();
    for (const auto& out : np.output()) {
        const std::string n = mapped(out);
        if (n.empty()) { node.outputs.push_back(-1); continue; }
        int v = g.value(n);
        if (v < 0) v = g.add_value(n);
        node.outputs.push_back(v);
    }
    g.nodes.push_back(std::move(node));
}

Graph convert_model(pb::ModelProto& model, const std::string& path) {
    Graph g;
    g.path = path;
    g.ir_version = model.ir_version();
    g.producer = model.producer_name() + (model.producer_version().empty() ? "" : " " + model.producer_version());
    if (g.ir_version < kMinIrVersion || g.ir_version > kMaxIrVersion)
        fail_unsupported(path + ": ONNX IR version " + std::to_string(g.ir_version) + " (Krait reads IR versions " +
                         std::to_string(kMinIrVersion) + " to " + std::to_string(kMaxIrVersion) + ")");
    for (const auto& op : model.opset_import()) {
        const std::string d = op.domain() == "ai.onnx" ? "" : op.domain();
        g.opsets[d] = op.version();
    }
    if (!g.opsets.count("")) fail_format(path + ": the model imports no ai.onnx opset");
    const int64_t opset = g.opsets[""];
    if (opset < kMinOpset || opset > kMaxOpset)
        fail_unsupported(path + ": ai.onnx opset " + std::to_string(opset) + " (Krait reads opsets " +
                         std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
    if (!model.has_graph()) fail_format(path + ": the model has no graph");
    pb::GraphProto& gp = *model.mutable_graph();

    ExternalFiles external(path);
    for (auto& init : *gp.mutable_initializer()) {
        if (init.name().empty()) fail_format(path + ": an initializer has no name");
        if (g.value(init.name()) >= 0) fail_format(path + ": initializer " + quote(init.name()) + " is defined twice");
        const int v = g.add_value(init.name());
        Value& val = g.values[static_cast<size_t>(v)];
        val.constant = convert_tensor(init, path, &external);
        val.is_constant = true;
        val.elem_type = static_cast<int32_t>(val.constant.type());
    }
    for (const auto& in : gp.input()) {
        int v = g.value(in.name());
        if (v >= 0 && g.values[static_cast<size_t>(v)].is_constant) continue;  // an initializer's declaration
        if (v >= 0) fail_format(path + ": graph input " + quote(in.name()) + " is declared twice");
        v = g.add_value(in.name());
        read_value_info(in, g.values[static_cast<size_t>(v)]);
        const int32_t t = g.values[static_cast<size_t>(v)].elem_type;
        if (!is_runnable_type(t))
            fail_unsupported(path + ": graph input " + quote(in.name()) + " is " + elem_type_name(t) +
                             ": Krait runs FLOAT, INT64, INT32 and BOOL tensors");
        g.inputs.push_back(v);
    }
    FunctionTable fns;
    for (const auto& f : model.functions()) fns.functions[{f.domain(), f.name()}] = &f;
    for (auto& np : *gp.mutable_node()) add_node(g, np, path, fns, {}, nullptr, "", 0);
    for (const auto& out : gp.output()) {
        int v = g.value(out.name());
        if (v < 0) fail_format(path + ": graph output " + quote(out.name()) + " is not computed by any node");
        read_value_info(out, g.values[static_cast<size_t>(v)]);
        g.outputs.push_back(v);
    }
    if (g.outputs.empty()) fail_format(path + ": the graph has no outputs");
    for (const auto& vi : gp.value_info()) {
        const int v = g.value(vi.name());
        if (v >= 0 && !g.values[static_cast<size_t>(v)].is_constant) read_value_info(vi, g.values[static_cast<size_t>(v)]);
    }
    for (size_t n = 0; n < g.nodes.size(); ++n) bind_schema(g.nodes[n], static_cast<int>(n), g);
    sort_and_check(g);
    return g;
}

std::string read_small_file(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail_io(path + ": no such file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_io(path + ": cannot be opened");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return data;
}

}  // namespace

Graph parse_graph(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail_io(path + ": no such file");
    MappedFile file(path);
    if (file.size() > static_cast<size_t>(INT_MAX))
        fail_format(path + ": " + std::to_string(file.size()) + " bytes: a .onnx file over 2 GB must keep its weights "
                    "as external data (protobuf messages are limited to 2 GB)");
    // On an arena: protobuf is not exception-safe, and a std::bad_alloc in the middle of a parse leaks
    // the messages made so far when they come from the heap; the arena frees them all as it goes.
    google::protobuf::Arena arena;
    pb::ModelProto* model = google::protobuf::Arena::CreateMessage<pb::ModelProto>(&arena);
    if (!model->ParseFromArray(file.data(), static_cast<int>(file.size())))
        fail_format(path + ": not a valid ONNX model (the protobuf message is truncated or malformed)");
    return convert_model(*model, path);
}

Graph load_graph(const std::string& path, ThreadPool& pool, const GraphOptions& options) {
    const TensorByteLimit limit(kLoadTensorBytes);  // folding and the batch-1 probe stay small
    Graph g = parse_graph(path);
    if (options.fold_constants) fold_constants(g, pool);
    if (options.remove_dead_nodes) remove_dead_nodes(g);
    infer_shapes(g, pool, options.probe_dims, options.probe_height, options.probe_width, options.probe_inputs);
    if (options.fuse) {
        fuse_graph(g, g.fusions);
        if (options.remove_dead_nodes) remove_dead_nodes(g);
        sort_and_check(g);
        compact_values(g);
    }
    prepare_nodes(g);
    return g;
}

Tensor read_tensor_file(const std::string& path, std::string* name) {
    const std::string data = read_small_file(path);
    google::protobuf::Arena arena;  // as in parse_graph
    pb::TensorProto& proto = *google::protobuf::Arena::CreateMessage<pb::TensorProto>(&arena);
    if (data.size() > static_cast<size_t>(INT_MAX) || !proto.ParseFromArray(data.data(), static_cast<int>(data.size())))
        fail_format(path + ": not a serialized TensorProto");
    if (name) *name = proto.name();
    return convert_tensor(proto, path, nullptr);
}

}  // namespace krait::onnx
