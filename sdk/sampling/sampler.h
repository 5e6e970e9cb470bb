// Token sampler: turns one step's logits into the next token id.
//
// The filtering chain and its order are those of Hugging Face transformers' generate()
// (transformers.generation.logits_process), so that the same settings give the same
// distribution as a Python reference run:
//
//   1. RepetitionPenaltyLogitsProcessor  every token id that occurs in `history` (counted once):
//                                         logit < 0 ? logit * penalty : logit / penalty   (float32)
//   2. TemperatureLogitsWarper           logit / temperature                              (float32)
//   3. TopKLogitsWarper                  keep every token whose score is >= the k-th largest score
//                                         (so ties with the k-th are kept, as torch.topk + '<' does)
//   4. TopPLogitsWarper                  keep the smallest set of most likely tokens whose probability
//                                         sums to >= top_p (HF: sort ascending, drop cumulative <= 1-top_p;
//                                         the most likely token is always kept)
//   5. MinPLogitsWarper                  drop tokens with p < min_p * p_max, p from the scores after steps
//                                         1-4 (post-temperature, as HF)
//   6. softmax over the survivors, one categorical draw.
//
// temperature == 0 is greedy decoding: argmax after step 1, ties to the lowest id (as torch.argmax);
// steps 2-6 and the RNG are skipped. A setting at its "off" value (temperature 1, top_k 0, top_p 1,
// min_p 0, penalty 1) leaves the distribution unchanged, exactly as HF skips the processor.
//
// Ties. HF sorts with torch.sort, which does not order equal scores; where equal scores straddle the
// top-p boundary Krait keeps the lower token id first. (Top-k and min-p have no such ambiguity.)
//
// Randomness. Each Sampler owns a std::mt19937_64 seeded with config.seed (its output sequence is fixed
// by the C++ standard). Every non-greedy sample() consumes exactly one 64-bit draw r and turns it into a
// uniform u = (r >> 11) * 2^-53 in [0, 1) by hand (std::uniform_real_distribution is implementation-
// defined); the token is the first survivor, in ascending id order, whose cumulative probability
// exceeds u. So a given seed and the same logits give the same tokens on every platform.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace krait {

struct SamplingConfig {
    float temperature = 1.0f;        // 0 = greedy
    int32_t top_k = 50;              // 0 = off
    float top_p = 1.0f;              // 1 = off
    float min_p = 0.0f;              // 0 = off
    float repetition_penalty = 1.0f; // 1 = off
    uint64_t seed = 0;               // every value, 0 included, is a fixed seed

    // Throws krait::Error(KRAIT_ERR_INVALID_ARGUMENT, "sampling: <field> must be ..., got <value>")
    // for the first bad field. NaN and infinities are rejected everywhere.
    void validate() const;
};

// One token of the filtered distribution.
struct TokenProbability {
    int32_t id;
    double probability;  // normalised over the survivors
};

class Sampler {
public:
    explicit Sampler(const SamplingConfig& config);  // validates config, seeds the RNG

    // logits:  [vocab] raw logits of the next position; used as scratch (overwritten).
    // history: every token of the context so far (prompt + generated), for the repetition penalty;
    //          each id must be in [0, vocab).
    // Throws INVALID_ARGUMENT for an empty vocab, an id out of range, a NaN or +inf logit,
    // or logits that are all -inf.
    int32_t sample(std::span<float> logits, std::span<const int32_t> history);

    // The distribution sample() draws from: the surviving tokens, ascending by id, with their
    // probabilities (steps 1-5 above, then softmax). Greedy configs give {argmax, 1.0}.
    // Same arguments and errors as sample(); the RNG is not touched. `out` is replaced.
    void filtered_probabilities(std::span<float> logits, std::span<const int32_t> history,
                                std::vector<TokenProbability>& out);

    const SamplingConfig& config() const { return config_; }

private:
    struct Candidate {
        float score;  // post-temperature logit
        int32_t id;
        double weight;  // exp(score - max score), unnormalised probability
    };

    void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history);
    int32_t greedy(std::span<const float> logits) const;
    // Runs steps 2-5; leaves the survivors in candidates_ (ascending id) and returns their weight sum.
    double filter(std::span<float> logits);
    // The k-th largest of `scores` (-inf when k >= size: nothing is cut).
    float kth_largest(std::span<const float> scores, size_t k);

    SamplingConfig config_;
    std::mt19937_64 rng_;
    // Scratch reused across calls so a 50k-vocab step does not allocate.
    std::vector<Candidate> candidates_;
    std::vector<Candidate> ranked_;
    std::vector<float> kth_scratch_;
    std::vector<uint8_t> penalised_;
};

}  // namespace krait
