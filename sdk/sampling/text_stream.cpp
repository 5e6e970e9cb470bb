// TextStream; the rules for what is held back are in text_stream.h.
#include "sdk/sampling/text_stream.h"

#include <unicode/utf8.h>

#include <algorithm>
#include <cstdint>

#include "sdk/core/error.h"

namespace krait {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
constexpr int64_t kReplacementCodePoint = 0xFFFD;

// One character of the walk: [begin, end) in bytes; code_point < 0 for an ill-formed maximal subpart.
struct Char {
    size_t begin, end;
    int64_t code_point;
};

// Splits text[begin, end) into characters with ICU's U8_NEXT (ill-formed input -> maximal subparts).
void walk_utf8(const std::string& text, size_t begin, size_t end, std::vector<Char>& out) {
    out.clear();
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    int64_t i = static_cast<int64_t>(begin);
    const int64_t length = static_cast<int64_t>(end);
    while (i < length) {
        const int64_t start = i;
        UChar32 c;
        U8_NEXT(s, i, length, c);
        out.push_back({static_cast<size_t>(start), static_cast<size_t>(i), c});
    }
}

// text[begin, end) with every ill-formed subpart replaced by U+FFFD: always valid UTF-8.
std::string sanitized(const std::string& text, size_t begin, size_t end, std::vector<Char>& scratch) {
    walk_utf8(text, begin, end, scratch);
    std::string out;
    out.reserve(end - begin);
    for (const Char& c : scratch) {
        if (c.code_point < 0)
            out += kReplacement;
        else
            out.append(text, c.begin, c.end - c.begin);
    }
    return out;
}

// True if text[begin, end of text) is a run of U+FFFD characters.
bool only_replacement_chars(const std::string& text, size_t begin) {
    for (size_t i = begin; i < text.size(); i += 3)
        if (text.compare(i, 3, kReplacement) != 0) return false;
    return true;
}

bool valid_utf8(const std::string& s) {
    std::vector<Char> chars;
    walk_utf8(s, 0, s.size(), chars);
    return std::all_of(chars.begin(), chars.end(), [](const Char& c) { return c.code_point >= 0; });
}

}  // namespace

TextStream::TextStream(std::vector<std::string> stop_strings) : stop_strings_(std::move(stop_strings)) {
    for (size_t i = 0; i < stop_strings_.size(); ++i) {
        if (stop_strings_[i].empty())
            fail_argument("text stream: stop string " + std::to_string(i) + " is empty");
        if (!valid_utf8(stop_strings_[i]))
            fail_argument("text stream: stop string " + std::to_string(i) + " is not valid UTF-8");
    }
}

std::string TextStream::update(const std::string& full_text) { return advance(full_text, false); }

std::string TextStream::flush(const std::string& full_text) {
    std::string piece = advance(full_text, true);
    finished_ = true;
    return piece;
}

size_t TextStream::stable_end(const std::string& text, size_t from) {
    std::vector<Char> chars;
    walk_utf8(text, from, text.size(), chars);
    size_t k = chars.size();
    if (k > 0) {
        const Char& last = chars[k - 1];
        const auto lead = static_cast<uint8_t>(text[last.begin]);
        if (last.code_point < 0 && last.end == text.size() && U8_IS_LEAD(lead)) --k;  // may still complete
    }
    while (k > 0 && chars[k - 1].code_point == kReplacementCodePoint) --k;
    return k < chars.size() ? chars[k].begin : text.size();
}

std::string TextStream::push(const std::string& new_text, const std::string& unstable) {
    if (stopped_ || finished_) return {};
    // advance() over the held-back text alone: nothing before it can still change or hold a stop
    // string's start (a stop string beginning earlier would have been held back as its prefix).
    held_ += new_text;
    consumed_ = 0;
    released_raw_.clear();
    // A stop string found with the unstable tail ends the stream (advance() cuts before it) as update()
    // would. Otherwise only held_ is considered, its end taken as the end of the text: the unstable
    // tail may still become anything, so a stop-string prefix at the end of held_ stays held back.
    if (!unstable.empty()) {
        const std::string text = held_ + unstable;
        for (const std::string& stop : stop_strings_) {
            if (text.find(stop) != std::string::npos) {
                std::string piece = advance(text, false);
                held_.clear();
                return piece;
            }
        }
    }
    std::string piece = advance(held_, false);
    held_.erase(0, consumed_);
    return piece;
}

std::string TextStream::finish() {
    if (stopped_ || finished_) return {};
    consumed_ = 0;
    released_raw_.clear();
    std::string piece = advance(held_, true);
    held_.clear();
    finished_ = true;
    return piece;
}

std::string TextStream::advance(const std::string& full_text, bool final) {
    if (stopped_ || finished_) return {};
    if (full_text.compare(0, consumed_, released_raw_) != 0) {
        // The decoder revised text already released (see text_stream.h). Continue from the first
        // changed character: back up from the first differing byte to the start of its character.
        size_t same = 0;
        const size_t common = std::min(consumed_, full_text.size());
        while (same < common && full_text[same] == released_raw_[same]) ++same;
        while (same > 0 && same < full_text.size() && U8_IS_TRAIL(static_cast<uint8_t>(full_text[same]))) --same;
        // Transient: HF's ByteFallback decoder turns a whole run of <0xXX> tokens into U+FFFDs while
        // its last character is unfinished, then back into the same text once it completes. Wait.
        if (same < full_text.size() && only_replacement_chars(full_text, same)) {
            if (!final) return {};
            // Ended unfinished: one U+FFFD stands for the unfinished character (what was released
            // before it stays as it was).
            emitted_ += kReplacement;
            return kReplacement;
        }
        consumed_ = same;
        released_raw_.resize(same);
    }
    if (full_text.size() <= consumed_) return {};
    const size_t length = full_text.size();
    std::vector<Char> chars;

    // A stop string can only begin after consumed_: any earlier start would have been a held-back prefix.
    size_t stop_at = std::string::npos;
    for (const std::string& stop : stop_strings_) stop_at = std::min(stop_at, full_text.find(stop, consumed_));
    if (stop_at != std::string::npos) {
        std::string piece = sanitized(full_text, consumed_, stop_at, chars);
        released_raw_.append(full_text, consumed_, stop_at - consumed_);
        consumed_ = stop_at;
        stopped_ = true;
        emitted_ += piece;
        return piece;
    }

    size_t release_to = length;
    if (!final) {
        // Hold back the longest tail that is a proper prefix of some stop string.
        for (const std::string& stop : stop_strings_) {
            const size_t longest = std::min(stop.size() - 1, length - consumed_);
            for (size_t n = longest; n > 0 && length - n < release_to; --n) {
                if (full_text.compare(length - n, n, stop, 0, n) == 0) {
                    release_to = length - n;
                    break;
                }
            }
        }
        // Stop strings are valid UTF-8, so release_to is at a character boundary of this walk.
        release_to = std::min(release_to, stable_end(full_text, consumed_));
    }

    std::string piece = sanitized(full_text, consumed_, release_to, chars);
    released_raw_.append(full_text, consumed_, release_to - consumed_);
    consumed_ = release_to;
    emitted_ += piece;
    return piece;
}

}  // namespace krait
