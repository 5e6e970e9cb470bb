#include "sdk/models/assistant.h"

#include <cstring>

#include "sdk/core/error.h"

namespace krait {

uint64_t image_hash(const float* pixels, int64_t height, int64_t width) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a 64
    auto mix = [&h](const unsigned char* p, size_t n) {
        for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    mix(reinterpret_cast<const unsigned char*>(&height), sizeof height);
    mix(reinterpret_cast<const unsigned char*>(&width), sizeof width);
    mix(reinterpret_cast<const unsigned char*>(pixels), sizeof(float) * static_cast<size_t>(3 * height * width));
    return h;
}

int64_t count_prompt_images(const AssistantModel& model, const int32_t* ids, int64_t n, int64_t n_images) {
    const int32_t image = model.image_token_id();
    const int64_t rows = model.image_rows();
    int64_t tokens = 0;
    for (int64_t i = 0; i < n; ++i) tokens += ids[i] == image;
    if (tokens % rows != 0)
        fail_argument("the prompt holds " + std::to_string(tokens) + " image tokens (id " + std::to_string(image) +
                      "), not a whole number of images of " + std::to_string(rows) +
                      " rows each: each image must be its token repeated once per feature row");
    const int64_t found = tokens / rows;
    if (n_images >= 0 && found != n_images)
        fail_argument("the prompt holds " + std::to_string(found) + " image" + (found == 1 ? "" : "s") + " (" +
                      std::to_string(tokens) + " image tokens of id " + std::to_string(image) + ", " +
                      std::to_string(rows) + " per image) but " + std::to_string(n_images) + " image" +
                      (n_images == 1 ? " was" : "s were") + " given");
    return found;
}

void prompt_embedding_rows(const AssistantModel& model, const int32_t* ids, int64_t n, const float* image_rows,
                           float* out, ThreadPool& pool, const LoraSet* lora) {
    const LanguageModel& lm = *model.language_model();
    const int64_t D = lm.info().hidden_size;
    const int32_t image = model.image_token_id();
    // Runs of text ids are embedded together; each image token takes the next image row.
    int64_t next_image_row = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        if (ids[i] == image) {
            for (; j < n && ids[j] == image; ++j, ++next_image_row)
                std::memcpy(out + j * D, image_rows + next_image_row * D, sizeof(float) * static_cast<size_t>(D));
        } else {
            while (j < n && ids[j] != image) ++j;
            lm.embed(ids + i, j - i, out + i * D, pool, lora);
        }
        i = j;
    }
}

}  // namespace krait
