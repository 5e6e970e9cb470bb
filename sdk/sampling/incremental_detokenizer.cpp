// IncrementalDetokenizer; the scheme and its reasons are in incremental_detokenizer.h.
#include "sdk/sampling/incremental_detokenizer.h"

#include <unicode/utf8.h>

#include <span>

#include "sdk/sampling/text_stream.h"

namespace krait {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

bool only_replacement_chars(const std::string& text, size_t begin) {
    if ((text.size() - begin) % 3 != 0) return false;
    for (size_t i = begin; i < text.size(); i += 3)
        if (text.compare(i, 3, kReplacement) != 0) return false;
    return true;
}

}  // namespace

bool IncrementalDetokenizer::joins_neighbours(int32_t id) const {
    bool special = false;
    const std::string* token = tok_.id_to_token(id, &special);
    if (!token || special) return true;
    // "<0xE2>": ByteFallback decodes a whole run of these together.
    return token->size() == 6 && token->compare(0, 3, "<0x") == 0 && (*token)[5] == '>';
}

std::string IncrementalDetokenizer::decode_range(size_t begin, size_t end) const {
    return tok_.decode(std::span<const int32_t>(ids_.data() + begin, end - begin), skip_special_);
}

std::string IncrementalDetokenizer::add(int32_t id) {
    if (finished_) return {};
    ids_.push_back(id);
    return step(false);
}

std::string IncrementalDetokenizer::finish() {
    if (finished_) return {};
    std::string piece = step(true);
    finished_ = true;
    return piece;
}

std::string IncrementalDetokenizer::step(bool final) {
    unstable_.clear();
    const std::string window = decode_range(prefix_, ids_.size());
    if (window.compare(0, emitted_.size(), emitted_) != 0) {
        // The decoder revised emitted text. Find the first changed character.
        size_t same = 0;
        const size_t common = std::min(emitted_.size(), window.size());
        while (same < common && window[same] == emitted_[same]) ++same;
        while (same > 0 && same < window.size() && U8_IS_TRAIL(static_cast<uint8_t>(window[same]))) --same;
        // A run of byte tokens shown as U+FFFDs while its last character is unfinished: wait for it.
        if (same < window.size() && only_replacement_chars(window, same)) return final ? kReplacement : "";
        emitted_.resize(same);
    }
    const size_t end = final ? window.size() : std::max(emitted_.size(), TextStream::stable_end(window, emitted_.size()));
    std::string piece = window.substr(emitted_.size(), end - emitted_.size());
    emitted_.append(piece);
    unstable_.assign(window, end, std::string::npos);
    if (!final && end == window.size()) {
        // All of the window is out: keep ids_[read_, end) as the next window's context, if their text
        // is not empty (a first-token rule needs a token with text to act on).
        // Not between two tokens that the decoder may treat as one group (a byte-fallback run, which
        // may continue across a skipped special token).
        if (read_ > prefix_ && !joins_neighbours(ids_[read_ - 1]) && !joins_neighbours(ids_[read_])) {
            std::string context = decode_range(read_, ids_.size());
            if (!context.empty()) {
                prefix_ = read_;
                emitted_ = std::move(context);
            }
        }
        read_ = ids_.size();
    }
    return piece;
}

}  // namespace krait
