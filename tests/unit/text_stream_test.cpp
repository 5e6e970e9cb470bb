// Tests for krait::TextStream (sdk/sampling/text_stream.h).
//
// The "decoder" here is the plainest one: the decoded text is the concatenation of the tokens' bytes,
// so a multi-byte character can be split anywhere. Expected texts are written out or computed with
// std::string::find; UTF-8 validity is judged by ICU's u_strFromUTF8 (not the U8_NEXT walk that
// TextStream itself uses).
#include "sdk/sampling/text_stream.h"

#include <gtest/gtest.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "sdk/core/error.h"

namespace krait {
namespace {

bool is_valid_utf8(const std::string& s) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t needed = 0;
    u_strFromUTF8(nullptr, 0, &needed, s.data(), static_cast<int32_t>(s.size()), &status);
    return status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING || U_SUCCESS(status);
}

const std::string kFFFD = "\xEF\xBF\xBD";

std::string replacements(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += kFFFD;
    return out;
}

struct StreamRun {
    std::vector<std::string> pieces;  // one per update, then the flush piece last
    std::string emitted;
    bool stopped = false;
};

// Feeds tokens one at a time (full text = bytes so far), then flushes. Checks the invariants that hold
// for every stream: each piece is valid UTF-8 (so is any concatenation of them), and emitted() is the
// concatenation of the pieces at every step.
StreamRun feed(const std::vector<std::string>& tokens, std::vector<std::string> stops = {}) {
    TextStream stream(std::move(stops));
    StreamRun run;
    std::string full, concatenated;
    auto take = [&](std::string piece) {
        EXPECT_TRUE(is_valid_utf8(piece)) << "piece is not valid UTF-8";
        concatenated += piece;
        EXPECT_EQ(stream.emitted(), concatenated);
        run.pieces.push_back(std::move(piece));
    };
    for (const std::string& token : tokens) {
        full += token;
        take(stream.update(full));
    }
    take(stream.flush(full));
    run.emitted = stream.emitted();
    run.stopped = stream.stopped();
    return run;
}

using Pieces = std::vector<std::string>;

TEST(TextStream, ValidityOracleWorks) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("a\xC3\xA9\xF0\x9F\x98\x80"));
    EXPECT_FALSE(is_valid_utf8("\xFF"));
    EXPECT_FALSE(is_valid_utf8("a\xF0\x9F"));
    EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
}

TEST(TextStream, AsciiPassesThrough) {
    const StreamRun r = feed({"Hello", ",", " world"});
    EXPECT_EQ(r.pieces, (Pieces{"Hello", ",", " world", ""}));
    EXPECT_FALSE(r.stopped);
}

TEST(TextStream, TwoByteCharacterSplitOverTokens) {
    // "é" = C3 A9
    const StreamRun r = feed({"caf", "\xC3", "\xA9", "!"});
    EXPECT_EQ(r.pieces, (Pieces{"caf", "", "\xC3\xA9", "!", ""}));
}

TEST(TextStream, EmojiSplitOverFourTokens) {
    // U+1F600 = F0 9F 98 80
    const StreamRun r = feed({"a ", "\xF0", "\x9F", "\x98", "\x80", " b"});
    EXPECT_EQ(r.pieces, (Pieces{"a ", "", "", "", "\xF0\x9F\x98\x80", " b", ""}));
    EXPECT_EQ(r.emitted, "a \xF0\x9F\x98\x80 b");
}

TEST(TextStream, CharacterTailAndNextCharacterHeadInOneToken) {
    // "日本" = E6 97 A5 | E6 9C AC, tokens cut across both characters.
    const StreamRun r = feed({"\xE6\x97", "\xA5\xE6", "\x9C\xAC"});
    EXPECT_EQ(r.pieces, (Pieces{"", "\xE6\x97\xA5", "\xE6\x9C\xAC", ""}));
}

TEST(TextStream, StopStringSpanningPieces) {
    const StreamRun r = feed({"Hi", "<", "/", "s>", " more"}, {"</s>"});
    EXPECT_EQ(r.pieces, (Pieces{"Hi", "", "", "", "", ""}));
    EXPECT_TRUE(r.stopped);
    EXPECT_EQ(r.emitted, "Hi");
}

TEST(TextStream, StopStringPrefixThatDoesNotComplete) {
    const StreamRun r = feed({"a<", "/", "b"}, {"</s>"});
    EXPECT_EQ(r.pieces, (Pieces{"a", "", "</b", ""}));
    EXPECT_FALSE(r.stopped);
}

TEST(TextStream, StopStringAtStart) {
    const StreamRun r = feed({"###", " tail"}, {"###"});
    EXPECT_EQ(r.pieces, (Pieces{"", "", ""}));
    EXPECT_TRUE(r.stopped);
    EXPECT_EQ(r.emitted, "");
}

TEST(TextStream, StopStringInsideOneTokenCutsBeforeIt) {
    const StreamRun r = feed({"one", " two\n\nUser: three"}, {"\nUser:"});
    EXPECT_EQ(r.pieces, (Pieces{"one", " two\n", ""}));
    EXPECT_TRUE(r.stopped);
}

TEST(TextStream, EarliestOfSeveralStopStringsWins) {
    const StreamRun r = feed({"xx foo bar"}, {"bar", "foo"});
    EXPECT_EQ(r.emitted, "xx ");
    EXPECT_TRUE(r.stopped);
}

TEST(TextStream, OverlappingStopStrings) {
    // "ab" is held as a prefix of "abcd"; then "bc" (another stop) completes inside it.
    const StreamRun r = feed({"xab", "c"}, {"abcd", "bc"});
    EXPECT_EQ(r.pieces, (Pieces{"x", "a", ""}));
    EXPECT_TRUE(r.stopped);
}

TEST(TextStream, MultiByteStopStringSplitOverTokens) {
    // Stop "。" = E3 80 82, split after its second byte.
    const StreamRun r = feed({"\xE6\x96\x87", "\xE3\x80", "\x82", "x"}, {"\xE3\x80\x82"});
    EXPECT_EQ(r.pieces, (Pieces{"\xE6\x96\x87", "", "", "", ""}));
    EXPECT_EQ(r.emitted, "\xE6\x96\x87");
}

TEST(TextStream, NoStopStringsAndEmptyText) {
    const StreamRun empty = feed({});
    EXPECT_EQ(empty.pieces, (Pieces{""}));
    const StreamRun empty_tokens = feed({"", "", ""}, {"stop"});
    EXPECT_EQ(empty_tokens.emitted, "");
    EXPECT_FALSE(empty_tokens.stopped);
}

TEST(TextStream, FlushReleasesHeldStopPrefix) {
    const StreamRun r = feed({"ok", "</"}, {"</s>"});
    EXPECT_EQ(r.pieces, (Pieces{"ok", "", "</"}));
    EXPECT_FALSE(r.stopped);
}

TEST(TextStream, FlushReplacesIncompleteTrailingSequence) {
    const StreamRun r = feed({"ab", "\xF0\x9F"});
    EXPECT_EQ(r.pieces, (Pieces{"ab", "", kFFFD}));
}

TEST(TextStream, IllFormedBytesInsideTheTextBecomeReplacementCharacters) {
    // Lone continuation byte, a lead byte followed by ASCII, a surrogate encoding (ED A0 80: ICU
    // gives one U+FFFD per maximal subpart, so 3 here).
    const StreamRun r = feed({"a\x80", "b\xC3", "c", "\xED\xA0\x80", "d"});
    EXPECT_EQ(r.emitted, "a" + kFFFD + "b" + kFFFD + "c" + kFFFD + kFFFD + kFFFD + "d");
}

TEST(TextStream, LossyDecoderReplacementCharacterIsHeldUntilResolved) {
    // A Hugging Face-style decoder shows an unfinished emoji as U+FFFD, then the emoji.
    TextStream stream({});
    EXPECT_EQ(stream.update("x" + kFFFD), "x");
    EXPECT_EQ(stream.update("x\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
    // A real U+FFFD is released once text follows it, or at the end.
    EXPECT_EQ(stream.update("x\xF0\x9F\x98\x80" + kFFFD), "");
    EXPECT_EQ(stream.update("x\xF0\x9F\x98\x80" + kFFFD + "y"), kFFFD + "y");
    EXPECT_EQ(stream.update("x\xF0\x9F\x98\x80" + kFFFD + "y" + kFFFD), "");
    EXPECT_EQ(stream.flush("x\xF0\x9F\x98\x80" + kFFFD + "y" + kFFFD), kFFFD);
}

TEST(TextStream, ByteFallbackRevisionToReplacementCharactersIsWaitedOut) {
    // SentencePiece ByteFallback: "😀" then one more byte token (F0) -> the run of 5 byte tokens is
    // invalid -> 5 U+FFFD, including the emoji already released; "👍" completes it -> text is back.
    const std::string smile = "\xF0\x9F\x98\x80", thumbs = "\xF0\x9F\x91\x8D";
    TextStream stream({});
    EXPECT_EQ(stream.update("Hi " + smile), "Hi " + smile);
    EXPECT_EQ(stream.update("Hi " + replacements(5)), "");
    EXPECT_EQ(stream.update("Hi " + smile + thumbs), thumbs);
    // Ending in such a state: one U+FFFD for the unfinished character.
    EXPECT_EQ(stream.update("Hi " + replacements(9)), "");
    EXPECT_EQ(stream.flush("Hi " + replacements(9)), kFFFD);
    EXPECT_EQ(stream.emitted(), "Hi " + smile + thumbs + kFFFD);
}

TEST(TextStream, DecoderThatRevisesReleasedText) {
    // Released text stays released; the stream goes on from the first changed character.
    TextStream stream({});
    EXPECT_EQ(stream.update("Hello "), "Hello ");
    EXPECT_EQ(stream.update("Hello."), ".");
    EXPECT_EQ(stream.update("Hello. \xC3\xA9"), " \xC3\xA9");
    // The revision starts inside "é" (C3 A9 -> C3 AA): the whole new character "ê" is released.
    EXPECT_EQ(stream.update("Hello. \xC3\xAA!"), "\xC3\xAA!");
    // Text that shrinks releases nothing until it grows past the release point again.
    EXPECT_EQ(stream.update("Hello"), "");
    EXPECT_EQ(stream.flush("Hello?"), "?");
    EXPECT_EQ(stream.emitted(), "Hello . \xC3\xA9\xC3\xAA!?");
    EXPECT_TRUE(is_valid_utf8(stream.emitted()));
}

TEST(TextStream, NothingAfterStopOrFlush) {
    TextStream stopped({"END"});
    EXPECT_EQ(stopped.update("abEND"), "ab");
    EXPECT_TRUE(stopped.stopped());
    EXPECT_EQ(stopped.update("abENDcd"), "");
    EXPECT_EQ(stopped.flush("abENDcd"), "");
    EXPECT_EQ(stopped.emitted(), "ab");

    TextStream flushed({});
    EXPECT_EQ(flushed.flush("ab"), "ab");
    EXPECT_EQ(flushed.update("abc"), "");
    EXPECT_FALSE(flushed.stopped());
}

TEST(TextStream, RejectsBadStopStrings) {
    for (const auto& [stops, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"ok", ""}, "text stream: stop string 1 is empty"},
             {{"\xFF"}, "text stream: stop string 0 is not valid UTF-8"},
             {{"a\xE3\x80"}, "text stream: stop string 0 is not valid UTF-8"}}) {
        try {
            TextStream stream(stops);
            FAIL() << "accepted: " << message;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
            EXPECT_EQ(std::string(e.what()), message);
        }
    }
}

// What a session really hands TextStream: Hugging Face tokenizers' decode of the growing id sequence,
// for byte-level BPE (an unfinished character shows as one U+FFFD) and SentencePiece ByteFallback
// (a whole run of byte tokens shows as U+FFFDs until its last character completes), recorded by
// tools/gen_sampler_fixtures.py. Expected: the final decode; for generations cut inside a character,
// the contract in text_stream.h (computed in the generator).
TEST(TextStreamFixture, HuggingFaceDecodeSequences) {
    std::ifstream in("tests/fixtures/sampler/text_stream_hf_decode.json");
    ASSERT_TRUE(in) << "run from the repository root";
    const nlohmann::json data = nlohmann::json::parse(in);
    int checked = 0, revised = 0;
    for (const nlohmann::json& seq : data.at("sequences")) {
        SCOPED_TRACE(seq.at("name").get<std::string>());
        const auto prefixes = seq.at("prefixes").get<std::vector<std::string>>();
        TextStream stream({});
        std::string concatenated;
        for (const std::string& full : prefixes) {
            const std::string piece = stream.update(full);
            ASSERT_TRUE(is_valid_utf8(piece));
            concatenated += piece;
            // Never a U+FFFD mid-stream: every U+FFFD in these texts stands for an unfinished character.
            ASSERT_EQ(piece.find(kFFFD), std::string::npos) << "released a placeholder early: " << piece;
            revised += !full.starts_with(stream.emitted());
        }
        const std::string piece = stream.flush(prefixes.back());
        ASSERT_TRUE(is_valid_utf8(piece));
        concatenated += piece;
        EXPECT_EQ(concatenated, seq.at("expected").get<std::string>());
        EXPECT_EQ(stream.emitted(), concatenated);
        ++checked;
    }
    EXPECT_GE(checked, 30);
    EXPECT_GT(revised, 0);  // the ByteFallback revisions were exercised
}

// Random valid UTF-8 texts over a small alphabet (so stop strings actually occur), cut into tokens at
// random byte offsets. Reference: the text up to the first occurrence of any stop string.
TEST(TextStream, RandomSplitsMatchReference) {
    const std::vector<std::string> alphabet = {"a", "b", " ", "<", "/", ">", "\xC3\xA9", "\xE6\x97\xA5",
                                               "\xF0\x9F\x98\x80", "\xE3\x80\x82"};
    const std::vector<std::vector<std::string>> stop_sets = {
        {}, {"</>"}, {"ab", "\xE3\x80\x82"}, {"\xF0\x9F\x98\x80 <"}, {"b\xC3\xA9", "a a a"}};
    std::mt19937 rng(2024);
    int stops_seen = 0;
    for (int trial = 0; trial < 2000; ++trial) {
        const auto& stops = stop_sets[trial % stop_sets.size()];
        std::string text;
        const int chars = 1 + static_cast<int>(rng() % 40);
        for (int i = 0; i < chars; ++i) text += alphabet[rng() % alphabet.size()];
        std::vector<std::string> tokens;
        for (size_t at = 0; at < text.size();) {
            const size_t len = std::min<size_t>(1 + rng() % 5, text.size() - at);
            tokens.push_back(text.substr(at, len));
            at += len;
        }

        size_t cut = std::string::npos;
        size_t longest_stop = 0;
        for (const std::string& s : stops) {
            cut = std::min(cut, text.find(s));
            longest_stop = std::max(longest_stop, s.size());
        }
        const std::string expected = cut == std::string::npos ? text : text.substr(0, cut);
        stops_seen += cut != std::string::npos;

        TextStream stream(stops);
        std::string full;
        for (const std::string& token : tokens) {
            full += token;
            const std::string piece = stream.update(full);
            ASSERT_TRUE(is_valid_utf8(piece)) << "trial " << trial;
            // Never released too early, and never held longer than a stop prefix or a partial character.
            ASSERT_EQ(expected.compare(0, stream.emitted().size(), stream.emitted()), 0) << "trial " << trial;
            if (!stream.stopped()) {
                ASSERT_LE(full.size() - stream.emitted().size(), std::max<size_t>(longest_stop - 1, 3))
                    << "trial " << trial;
            }
        }
        stream.flush(full);
        ASSERT_EQ(stream.emitted(), expected) << "trial " << trial;
        ASSERT_EQ(stream.stopped(), cut != std::string::npos) << "trial " << trial;
    }
    EXPECT_GT(stops_seen, 200);  // the property was exercised with stops, not only without
}

}  // namespace
}  // namespace krait
