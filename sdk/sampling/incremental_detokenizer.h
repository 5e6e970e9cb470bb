// IncrementalDetokenizer: the text of a growing list of token ids, one new piece per token, decoding
// only a bounded window of recent tokens each step (the prefix-offset / read-offset scheme of
// Hugging Face's text-generation-inference and vLLM), instead of the whole generation every step.
//
// Decoders are not concatenative: Metaspace and SentencePiece's Strip drop the space of the first
// token, byte-fallback runs (<0xE2><0x82><0xAC>) and byte-level BPE form one character over several
// tokens, and the text decoded so far can end in an unfinished character. So each step decodes
//   window = decode(ids[prefix_:])  and knows how much of that window text was already emitted.
// The tokens ids[prefix_:read_) are context: their text was emitted before, and whatever the decoder
// does to the first token of a list happens to them, not to the new tokens. Only the new tail of the
// window is emitted, up to TextStream::stable_end (no unfinished character, no trailing U+FFFD run that
// a later byte may still turn into a character). When the whole window has been emitted, the window
// moves on: prefix_ = read_, read_ = the end, provided the context left still decodes to some text
// (so a first-token rule still has a token to act on) and the new start does not split a group the
// decoder decodes as one (a ByteFallback run of <0xXX> tokens); otherwise the window just grows.
//
// A decoder that revises text already emitted (HF's ByteFallback shows a whole run of byte tokens as
// U+FFFDs while the run is unfinished): handled as TextStream::update always did: a revision to
// nothing but U+FFFDs is waited out (at the end it becomes one U+FFFD), any other revision continues
// from the first changed character. The concatenated pieces equal decode(all ids) whenever the decoder
// never revises (tests/unit/text_stream_test.cpp checks this on every tokenizer fixture).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sdk/tokenizer/tokenizer.h"

namespace krait {

class IncrementalDetokenizer {
public:
    IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
        : tok_(tokenizer), skip_special_(skip_special_tokens) {}

    // Adds one id (in [0, vocab_size)) and returns the text that became final with it (maybe "").
    std::string add(int32_t id);
    // End of the sequence: the rest of the text, unfinished characters included (as the decoder gives
    // them: bytes or U+FFFD; TextStream sanitizes).
    std::string finish();

    // The window's text after what was emitted: held back because it may still change (see above).
    const std::string& unstable() const { return unstable_; }

    const std::vector<int32_t>& ids() const { return ids_; }

private:
    std::string step(bool final);
    std::string decode_range(size_t begin, size_t end) const;
    bool joins_neighbours(int32_t id) const;

    const Tokenizer& tok_;
    bool skip_special_;
    std::vector<int32_t> ids_;
    size_t prefix_ = 0;       // the window starts here
    size_t read_ = 0;         // ids_[prefix_, read_) are context whose text was all emitted
    std::string emitted_;     // the part of the window's text already emitted (window coordinates)
    std::string unstable_;
    bool finished_ = false;
};

}  // namespace krait
