// AssistantModel: the interface of a vision-language assistant (LLaVA; composite assistants
// next): an image encoder whose features, projected to the language model's width, take the
// place of the prompt's image tokens, and the language model that reads the result. Sessions,
// sampling, streaming and adapters run the language model through the LanguageModel interface;
// this adds what images need.
//
// Prompts are token ids in which each image is a run of image_rows() copies of image_token_id(),
// as transformers' LlavaProcessor expands its <image> marker: every image token's embedding row is
// replaced by the next row of image features, images in order (transformers' masked_scatter).
// Where a chat puts those runs is the model's image_placement(): where the template writes the
// image token (LLaVA), or all before the text (Cobra's placement for a Mamba LM).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "sdk/adapters/lora_set.h"
#include "sdk/core/thread_pool.h"
#include "sdk/image/preprocess.h"
#include "sdk/models/image_encoder.h"
#include "sdk/models/language_model.h"

namespace krait {

enum class ImagePlacement {
    AtMarker,    // each image at the image token the chat template writes for its image part
    BeforeText,  // the images of a prompt first, in order, then its text (the template writes no image token)
};

class AssistantModel {
public:
    virtual ~AssistantModel() = default;

    virtual const char* architecture() const = 0;  // "llava", "krait_assistant"
    virtual ImagePlacement image_placement() const { return ImagePlacement::AtMarker; }
    // The directory whose tokenizer.json, tokenizer_config.json and chat template serve the
    // assistant ("" = the model's own directory).
    virtual std::string text_dir() const { return ""; }
    // The language model, shared with the krait_model that serves it as a sequence model.
    virtual std::shared_ptr<LanguageModel> language_model() const = 0;
    virtual int32_t image_token_id() const = 0;
    // Embedding rows each image becomes (the processor's rule: patches, + the class token when kept).
    virtual int64_t image_rows() const = 0;
    // The input size of the image encoder (images are preprocessed to it).
    virtual int64_t image_height() const = 0;
    virtual int64_t image_width() const = 0;
    // How an image becomes pixels [3, image_height, image_width] (preprocessor_config.json).
    virtual const PreprocessConfig& preprocess() const = 0;
    // The modules adapters may change: the language model's (same slots as its own table), then
    // the image encoder's and the projector's (image_slots()), so that one adapter file may hold
    // LoRA on all three. encode_images() takes a LoraSet resolved against this table.
    virtual const AdapterTargets& adapter_targets() const = 0;
    // The slots [first, second) of the encoder and projector: adapters that touch none of them
    // leave an image's rows as they are (the image cache keys rows by the adapters on these).
    virtual std::pair<size_t, size_t> image_slots() const = 0;
    // The encoder and projector's parameters and bytes (the language model's are its own).
    virtual int64_t num_parameters() const = 0;
    virtual int64_t weight_bytes() const = 0;

    // pixels [n, 3, height, width] -> rows [n, image_rows(), language_model()->info().hidden_size];
    // `lora` (resolved against adapter_targets(), or null) reaches the encoder and the projector.
    // Throws KRAIT_ERR_INVALID_ARGUMENT for another input size, KRAIT_ERR_ABORTED if *abort becomes
    // true between blocks.
    virtual void encode_images(const float* pixels, int64_t n, int64_t height, int64_t width, float* rows,
                               ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                               const LoraSet* lora) const = 0;
};

// A 64-bit hash of model-ready pixels [3, height, width] (FNV-1a over their bytes and the size): what
// identifies an image in a context (two different images with the same tokens) and in caches.
uint64_t image_hash(const float* pixels, int64_t height, int64_t width);

// The number of images a prompt of `n` ids holds: its image tokens / image_rows. Throws
// KRAIT_ERR_INVALID_ARGUMENT when the image tokens are not whole images, or (n_images >= 0) when
// they are not n_images images, naming both counts.
int64_t count_prompt_images(const AssistantModel& model, const int32_t* ids, int64_t n, int64_t n_images);

// The language model's input rows for a prompt: ids [n] -> out [n, hidden_size], the embedding of
// each id except image tokens, whose rows come from image_rows [images, image_rows(), hidden_size]
// in order. The caller has checked the counts (count_prompt_images).
void prompt_embedding_rows(const AssistantModel& model, const int32_t* ids, int64_t n, const float* image_rows,
                           float* out, ThreadPool& pool, const LoraSet* lora);

}  // namespace krait
