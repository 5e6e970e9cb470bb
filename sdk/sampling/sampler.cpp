// Token sampler; see sampler.h for the chain, its order and the RNG contract.
#include "sdk/sampling/sampler.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "sdk/core/error.h"

namespace krait {

namespace {

template <typename T>
std::string to_text(T value) {
    std::ostringstream os;
    os << value;  // default precision: 1.5 -> "1.5", NaN -> "nan"
    return os.str();
}

[[noreturn]] void bad_field(const char* field, const char* rule, const std::string& got) {
    fail_argument(std::string("sampling: ") + field + " must be " + rule + ", got " + got);
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Order of "more likely first": higher score, then lower id (Krait's tie rule, see sampler.h).
bool more_likely(float score_a, int32_t id_a, float score_b, int32_t id_b) {
    return score_a > score_b || (score_a == score_b && id_a < id_b);
}

// NaN or +inf logits mean a broken model or caller; HF would silently produce NaN probabilities.
inline void check_logit(float l, size_t i) {
    if (std::isnan(l) || l == std::numeric_limits<float>::infinity())
        fail_argument("sampling: logit of token " + std::to_string(i) + " is " + to_text(l));
}

}  // namespace

void SamplingConfig::validate() const {
    // Written as !(ok) so that NaN, which fails every comparison, is rejected too.
    if (!(std::isfinite(temperature) && temperature >= 0.0f))
        bad_field("temperature", ">= 0 and finite (0 = greedy)", to_text(temperature));
    if (!(top_k >= 0)) bad_field("top_k", ">= 0 (0 = off)", to_text(top_k));
    if (!(top_p > 0.0f && top_p <= 1.0f)) bad_field("top_p", "in (0, 1]", to_text(top_p));
    if (!(min_p >= 0.0f && min_p <= 1.0f)) bad_field("min_p", "in [0, 1]", to_text(min_p));
    if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f))
        bad_field("repetition_penalty", "> 0 and finite", to_text(repetition_penalty));
}

Sampler::Sampler(const SamplingConfig& config) : config_(config), rng_(config.seed) { config_.validate(); }

void Sampler::apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history) {
    const size_t vocab = logits.size();
    // Ids are checked even when the penalty is off, so a bad history is caught whatever the settings.
    for (size_t i = 0; i < history.size(); ++i) {
        const int32_t id = history[i];
        if (id < 0 || static_cast<size_t>(id) >= vocab)
            fail_argument("sampling: history token " + std::to_string(i) + " has id " + std::to_string(id) +
                          ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
    const float penalty = config_.repetition_penalty;
    if (penalty == 1.0f) return;
    // HF gathers each id once (a token repeated in the history is penalised once): mark as we go.
    penalised_.assign(vocab, 0);
    for (const int32_t id : history) {
        if (penalised_[id]) continue;
        penalised_[id] = 1;
        float& l = logits[id];
        l = l < 0.0f ? l * penalty : l / penalty;  // float32 arithmetic, as torch
    }
}

int32_t Sampler::greedy(std::span<const float> logits) const {
    size_t argmax = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        check_logit(logits[i], i);
        if (logits[i] > logits[argmax]) argmax = i;  // strict: the first maximum wins, as torch.argmax
    }
    if (logits[argmax] == kNegInf) fail_argument("sampling: every logit is -inf, no token can be chosen");
    return static_cast<int32_t>(argmax);
}

double Sampler::filter(std::span<float> logits) {
    const size_t n = logits.size();

    // ---- Pass 1: reject NaN / +inf, find the maximum and the largest magnitude. -------------
    size_t argmax = 0;
    float max_abs = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        const float l = logits[i];
        check_logit(l, i);
        if (l > logits[argmax]) argmax = i;
        if (l != kNegInf) max_abs = std::max(max_abs, std::fabs(l));
    }
    if (logits[argmax] == kNegInf) fail_argument("sampling: every logit is -inf, no token can be chosen");

    // ---- Step 2: temperature (float32 division, bit-identical to torch's scores / temperature). --
    const float t = config_.temperature;
    if (t != 1.0f) {
        if (static_cast<double>(max_abs) / t <= FLT_MAX) {
            for (float& l : logits) l = l / t;
        } else {
            // A tiny temperature would overflow float32 (HF then produces NaN). Subtracting the maximum
            // first changes nothing after softmax and keeps every score finite or -inf.
            const double m = logits[argmax];
            for (float& l : logits) l = static_cast<float>((static_cast<double>(l) - m) / t);
        }
    }
    const double max_score = logits[argmax];  // division by t > 0 keeps the argmax

    // ---- Step 3: top-k. Threshold = k-th largest score. ----------------------------------------
    candidates_.clear();
    const float threshold = config_.top_k > 0 ? kth_largest(logits, static_cast<size_t>(config_.top_k)) : kNegInf;
    // Tokens at -inf have probability 0 in HF too and can never be drawn: leave them out.
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const float s = logits[i];
        if (s >= threshold && s != kNegInf) {
            const double w = std::exp(static_cast<double>(s) - max_score);
            candidates_.push_back({s, static_cast<int32_t>(i), w});
            total += w;
        }
    }

    // ---- Step 4: top-p. Survivors are the most likely prefix: a token is kept while the mass of
    // the tokens ranked above it is < top_p (HF's "ascending cumsum <= 1 - top_p is removed",
    // restated). The last survivor is found without sorting, by a weighted quickselect on a copy:
    // split the range at its middle rank (nth_element), keep the half that holds the boundary.
    // O(n) expected, where sorting a 50k vocabulary would be O(n log n).
    if (config_.top_p < 1.0f) {
        const double budget = static_cast<double>(config_.top_p) * total;
        auto rank_before = [](const Candidate& a, const Candidate& b) {
            return more_likely(a.score, a.id, b.score, b.id);
        };
        // Tokens lighter than eps are all cut: they rank below every heavier token, and together they
        // weigh < n * eps <= (total - budget) / 2, so the mass ranked above each of them is > budget.
        // Dropping them first leaves the quickselect only the head of a long-tailed distribution.
        const double eps = 0.5 * (total - budget) / static_cast<double>(candidates_.size());
        ranked_.clear();
        for (const Candidate& c : candidates_)
            if (c.weight >= eps) ranked_.push_back(c);
        size_t lo = 0, hi = ranked_.size();  // never empty: the maximum has weight 1 >= eps
        double above = 0.0;  // mass of every token ranked before lo; invariant: above < budget
        while (hi - lo > 32) {
            const size_t mid = lo + (hi - lo) / 2;
            std::nth_element(ranked_.begin() + lo, ranked_.begin() + mid, ranked_.begin() + hi, rank_before);
            double upper = 0.0;
            for (size_t j = lo; j < mid; ++j) upper += ranked_[j].weight;
            if (above + upper >= budget) {
                hi = mid;  // the first token that reaches the budget is in [lo, mid)
            } else {
                above += upper;
                lo = mid;
            }
        }
        std::sort(ranked_.begin() + lo, ranked_.begin() + hi, rank_before);
        size_t last = lo;  // kept: above < budget (for rank 0: budget > 0 = above)
        for (size_t j = lo; j < hi && above < budget; ++j) {
            last = j;
            above += ranked_[j].weight;
        }
        const Candidate boundary = ranked_[last];
        // Filtering candidates_ (not ranked_) keeps the ascending-id order without a sort.
        std::erase_if(candidates_, [&](const Candidate& c) { return rank_before(boundary, c); });
    }

    // ---- Step 5: min-p. p / p_max = weight, because the maximum's weight is exp(0) = 1 and it always
    // survives steps 3-4; so the renormalisation after top-k/top-p does not matter.
    if (config_.min_p > 0.0f) {
        const double min_p = config_.min_p;
        std::erase_if(candidates_, [min_p](const Candidate& c) { return c.weight < min_p; });
    }

    double kept = 0.0;
    for (const Candidate& c : candidates_) kept += c.weight;
    return kept;
}

float Sampler::kth_largest(std::span<const float> scores, size_t k) {
    const size_t n = scores.size();
    if (k >= n) return kNegInf;  // HF: min(top_k, vocab), i.e. keep everything
    if (k <= 1024) {
        // One pass with a min-heap of the k best so far: after the first few thousand tokens almost
        // every score fails the single comparison with the heap's top.
        kth_scratch_.assign(scores.begin(), scores.begin() + k);
        std::make_heap(kth_scratch_.begin(), kth_scratch_.end(), std::greater<float>());
        for (size_t i = k; i < n; ++i) {
            if (scores[i] > kth_scratch_.front()) {
                std::pop_heap(kth_scratch_.begin(), kth_scratch_.end(), std::greater<float>());
                kth_scratch_.back() = scores[i];
                std::push_heap(kth_scratch_.begin(), kth_scratch_.end(), std::greater<float>());
            }
        }
        return kth_scratch_.front();
    }
    kth_scratch_.assign(scores.begin(), scores.end());
    std::nth_element(kth_scratch_.begin(), kth_scratch_.begin() + (k - 1), kth_scratch_.end(), std::greater<float>());
    return kth_scratch_[k - 1];
}

void Sampler::filtered_probabilities(std::span<float> logits, std::span<const int32_t> history,
                                     std::vector<TokenProbability>& out) {
    out.clear();
    if (logits.empty()) fail_argument("sampling: the logits are empty (vocabulary of size 0)");
    apply_repetition_penalty(logits, history);
    if (config_.temperature == 0.0f) {
        out.push_back({greedy(logits), 1.0});
        return;
    }
    const double total = filter(logits);
    out.reserve(candidates_.size());
    for (const Candidate& c : candidates_) out.push_back({c.id, c.weight / total});
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
    if (logits.empty()) fail_argument("sampling: the logits are empty (vocabulary of size 0)");
    apply_repetition_penalty(logits, history);
    if (config_.temperature == 0.0f) return greedy(logits);
    const double total = filter(logits);
    // Inverse-CDF draw over the survivors in ascending id order (see sampler.h).
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    const double target = u * total;
    double cumulative = 0.0;
    for (const Candidate& c : candidates_) {
        cumulative += c.weight;
        if (target < cumulative) return c.id;
    }
    return candidates_.back().id;  // only reachable through rounding in the last ulp
}

}  // namespace krait
