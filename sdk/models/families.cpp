// The built-in model families, one line each. A new family defines its
// ModelFamily in its own files (see sdk/models/registry.h) and adds a line here.
#include "sdk/models/registry.h"

namespace krait {

const std::vector<ModelFamily>& model_families() {
    static const std::vector<ModelFamily> families = {
        mamba_family(),
        mamba2_family(),
        llama_family(),
        vit_family(),
        mambavision_family(),
        llava_family(),
        clip_vision_family(),
        composite_assistant_family(),
        onnx_family(),
    };
    return families;
}

}  // namespace krait
