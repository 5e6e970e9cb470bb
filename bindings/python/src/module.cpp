// krait._krait: the compiled half of the krait package (see krait/__init__.py for the API).
#include "common.h"
#include "conversation.h"
#include "session.h"

using namespace krait_py;

PYBIND11_MODULE(_krait, m) {
    m.doc() = "Krait C ABI bindings, the compiled half of the krait package (private: use the krait package; "
              "its Tokenizer, Adapter, AdapterTarget and State are the classes defined here).";
    register_errors(m);
    bind_tokenizer(m);
    bind_adapters(m);
    bind_conversation(m);
    bind_session(m);
    bind_sequence_model(m);
    bind_classifier(m);
    bind_assistant(m);
    m.def("cpu_kernels", [] { return std::string(krait_cpu_kernels()); },
          "The CPU kernels this process runs: 'portable', 'avx2' or 'avx512' (krait_cpu_kernels).");
    m.def("cpu_bf16_products", [] { return std::string(krait_cpu_bf16_products()); },
          "The BF16 dot-product unit matmul='bf16' uses: 'amx', 'avx512_bf16' or 'none' (krait_cpu_bf16_products).");
    m.def("version_string", [] { return std::string(krait_version_string()); },
          "Version of the Krait library actually loaded, \"MAJOR.MINOR.PATCH\".");
    m.def("version_number", [] { return krait_version(); }, "Loaded library version as MAJOR*1000000+MINOR*1000+PATCH.");
    m.def("status_string", [](int status) { return std::string(krait_status_string(static_cast<krait_status>(status))); },
          py::arg("status"), "The library's short name of a krait_status code (\"invalid argument\"): krait_status_string.");
    m.attr("HEADER_VERSION_NUMBER") = KRAIT_VERSION_NUMBER;
}
