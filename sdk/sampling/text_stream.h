// TextStream: turns "the whole generation decoded so far" into pieces that are safe to stream.
//
// The session decodes all generated ids each step (full = tokenizer.decode(generated_ids)) and calls
// update(full); at the end it calls flush(full). A piece is released only when it cannot change or be
// taken back later:
//
//  * UTF-8. Only whole characters are released. An incomplete multi-byte sequence at the end of the
//    text (a byte-level BPE token often carries half an emoji) is held back until it completes.
//    Byte-level decoders that follow Hugging Face's (String::from_utf8_lossy) render such an unfinished
//    tail as U+FFFD instead, so a trailing run of U+FFFD is held back too and released as soon as other
//    text follows it (the decoder then shows the finished character, or the U+FFFD was real).
//    Ill-formed bytes inside the text become U+FFFD (one per maximal subpart, as ICU/WHATWG), so the
//    pieces concatenated are always valid UTF-8, whatever the decoder returns.
//  * Stop strings. A tail that is a prefix of some stop string is held back. Once the text contains a
//    stop string, stopped() becomes true and the released text ends right before the earliest one,
//    like llama.cpp's server: the stop string and anything after it are never released. Matching is
//    on bytes, after the last released byte.
//
// So emitted() == concatenation of all pieces, and after flush() it equals the final text (cut before
// a stop string, ill-formed bytes replaced). Once stopped or flushed, update/flush return "".
//
// Decoders that revise released text. Released text cannot be taken back.
//  * HF's ByteFallback decoder (SentencePiece <0xXX> tokens) shows a whole run of byte tokens as
//    U+FFFDs while the run ends in an unfinished character, revising characters of that run already
//    released; once the character completes, the text is back. A revision to nothing but U+FFFDs is
//    therefore waited out (nothing released); if the text ends that way, flush() releases one U+FFFD.
//  * Any other revision (cleanup merging " ." into ".", bytes that turned out invalid): the stream
//    continues from the first changed character.
// The pieces stay valid UTF-8 either way, but emitted() can then differ from the decoder's final text.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace krait {

class TextStream {
public:
    // Throws krait::Error(KRAIT_ERR_INVALID_ARGUMENT) for an empty stop string or one that is not
    // valid UTF-8 (it could not be matched at a character boundary).
    explicit TextStream(std::vector<std::string> stop_strings);

    // full_text: the decoded text of the whole generation so far. Returns the new safe piece (maybe "").
    std::string update(const std::string& full_text);

    // End of generation: releases what was held back (a stop-string prefix that never completed, a
    // trailing U+FFFD run), an incomplete trailing UTF-8 sequence as U+FFFD; still cuts at a stop string.
    std::string flush(const std::string& full_text);

    // Append mode, for a caller that already hands over only new text (IncrementalDetokenizer): the
    // pieces pushed are the text so far, concatenated; they are never revised. Only stop strings and
    // UTF-8 validity are then the stream's business, and its work per call is bounded by the text it
    // holds back, not by the length of the generation. Do not mix with update()/flush().
    // `unstable`: text after new_text that may still change (IncrementalDetokenizer::unstable(): an
    // unfinished character, a trailing U+FFFD run). It is never released here, but a stop string is
    // looked for in it too, as update() looks for one in the whole decoded text.
    std::string push(const std::string& new_text, const std::string& unstable = {});
    std::string finish();

    // The end of the part of text[from, end) that cannot change as more tokens are decoded: before an
    // unfinished UTF-8 character at the very end and before a trailing run of U+FFFD (how lossy
    // decoders show an unfinished character). Shared with IncrementalDetokenizer.
    static size_t stable_end(const std::string& text, size_t from);

    bool stopped() const { return stopped_; }
    const std::string& emitted() const { return emitted_; }

private:
    std::string advance(const std::string& full_text, bool final);

    std::vector<std::string> stop_strings_;
    size_t consumed_ = 0;       // bytes of full_text already released (or replaced by U+FFFD)
    std::string released_raw_;  // those bytes, to notice a decoder that revises them
    std::string held_;          // append mode: pushed text not released yet (a stop-string prefix, ...)
    std::string emitted_;
    bool stopped_ = false;
    bool finished_ = false;
};

}  // namespace krait
