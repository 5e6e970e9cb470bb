#!/usr/bin/env python3
"""Generates the tokenizer conformance fixtures under tests/fixtures/tokenizer/ for
tests/unit/tokenizer_test.cpp.

Run (from the repository root, in the tools environment made by tools/setup_tools_env.sh):
    .venv/bin/python tools/gen_tokenizer_fixtures.py
    .venv/bin/python tools/gen_tokenizer_fixtures.py --random-check 20000 --out /tmp/tokcheck
The second form (add --all-code-points to draw from every code point, not only those assigned in
this Python's Unicode version) writes no fixture: it writes expected files for N random strings per tokenizer
(llama3, qwen2, smollm2, bytelevel_neox, bytelevel_template, sp_legacy, sp_metaspace_split) into --out, which tokenizer_test then compares with
  KRAIT_TOKENIZER_CHECK_DIR=/tmp/tokcheck build/tests/tokenizer_test --gtest_filter='*External*'

There is no hub access here, so the tokenizers are BUILT with Hugging Face `tokenizers` itself:
a small BPE is trained on the multilingual text below and then configured the way the real
tokenizer.json files of the model families Krait serves are configured:

  bytelevel_neox      GPT-NeoX (state-spaces/mamba-*-hf): NFC normalizer, ByteLevel pre-tokenizer
                      (add_prefix_space false, GPT-2 regex), ByteLevel decoder and post-processor,
                      <|endoftext|> / <|padding|> special tokens and the added whitespace tokens of
                      2..24 spaces (normalized, not special). Merges stored as legacy "a b" strings.
  bytelevel_template  the same model with merges as ["a","b"] pairs, ignore_merges, a post-processor
                      Sequence[ByteLevel, TemplateProcessing("$A <|endoftext|>")] and added tokens
                      that exercise lstrip / rstrip / single_word / normalized matching.
  bytelevel_prefix    the same model, pre-tokenizer Sequence[ByteLevel(add_prefix_space true)] and a
                      template "<|endoftext|> $A".
  bytelevel_noregex   the same model, ByteLevel(use_regex false).
  sp_legacy           Llama / TinyLlama (legacy): normalizer Sequence[Prepend("▁"), Replace(" ", "▁")],
                      BPE with byte_fallback and the 256 <0xXX> tokens, <unk> with fuse_unk, decoder
                      Sequence[Replace("▁"," "), ByteFallback, Fuse, Strip(left 1)], TemplateProcessing
                      "<s> $A", plus one non-special added token (normalized, so matched as "▁<|user|>").
  sp_metaspace        the same model with a Metaspace pre-tokenizer (prepend_scheme first, split false)
                      instead of the normalizer (Llama non-legacy).
  sp_metaspace_split  Metaspace pre-tokenizer (prepend_scheme always, split true) and the Metaspace
                      decoder.
  llama3              Llama-3 / 3.1 / 3.2: no normalizer, pre-tokenizer Sequence[Split(Llama-3 regex,
                      Isolated), ByteLevel(use_regex false)], BPE with ignore_merges, ByteLevel
                      decoder, post-processor Sequence[ByteLevel, TemplateProcessing("<|begin_of_text|>
                      $A")], special tokens <|begin_of_text|> ... <|eot_id|> after the vocabulary.
                      Its vocabulary and merges are trained with that very pre-tokenizer.
  qwen2               Qwen2 / Qwen2.5: the same vocabulary with an NFC normalizer, the Qwen2 regex
                      (single digits), ByteLevel post-processor (no BOS), special tokens
                      <|endoftext|> <|im_start|> <|im_end|> and a non-special <tool_call>.
  smollm2             SmolLM2 (GPT-2-like): pre-tokenizer Sequence[Digits(individual_digits),
                      ByteLevel(GPT-2 regex)], special tokens <|endoftext|> <|im_start|> <|im_end|>.
  qwen2_config        a directory: qwen2 without some of its added tokens, and a tokenizer_config.json
                      that declares them (and more); expected values from transformers' AutoTokenizer
                      of the directory (its backend tokenizer).
  tiny_*              hand-written vocabularies (no training) for BPE options the trained ones do not
                      reach: ignore_merges, unk with and without fuse_unk, continuing_subword_prefix,
                      end_of_word_suffix, no decoder (tokens joined with spaces); and (tiny_split_*,
                      tiny_replace_regex) Split's five behaviours, invert, String and Regex patterns,
                      Digits without individual_digits, Replace with a Regex.

For each tokenizer: <name>.tokenizer.json and <name>.expected.json. The expected ids and strings are
computed by loading the SAVED file back with tokenizers.Tokenizer.from_file, so what is checked is
exactly what HF does with the file the C++ test reads. Each case holds
  text, ids (add_special_tokens=False), ids_special (add_special_tokens=True),
  decode (decode(ids_special, skip_special_tokens=False)), decode_skip (skip_special_tokens=True)
plus decode-only cases of random ids (partial UTF-8 sequences, specials in the middle) and a few
token_to_id look-ups. The curated hard strings are also written to hard_strings.json, and two error
fixtures: broken.tokenizer.json (truncated JSON) and wordpiece.tokenizer.json (valid for HF, a model
type Krait does not handle). Re-running the script reproduces every file byte for byte.
"""
import collections
import json
import os
import random
import sys
import unicodedata

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

OUT_DIR = os.path.join("tests", "fixtures", "tokenizer")

# ---------------------------------------------------------------------------------------------------
# Training text: English prose, code, several scripts, emoji, digits, whitespace runs. Repeated with
# small variations so that the trainer sees frequencies worth merging.
CORPUS_BASE = [
    "The quick brown fox jumps over the lazy dog. It's a truth universally acknowledged that a model",
    "in possession of good weights must be in want of a tokenizer. We've seen they're fast; you'll see.",
    "Once upon a time, there was a little girl who lived in a village near the forest. She'd go out",
    "every day and play with her friends. One day, she found a shiny red ball under a big old tree.",
    "State space models process sequences in linear time: h_t = A h_{t-1} + B x_t, y_t = C h_t + D x_t.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 1000 2024 3.14159 2.71828 1,000,000 -17 +3 1e-5 0x1F",
    "def tokenize(text: str) -> list[int]:\n    ids = []\n    for word in text.split():\n        ids.append(vocab[word])\n    return ids\n",
    "int main(int argc, char** argv) {\n\tprintf(\"hello %d\\n\", argc);\n\treturn 0;\n}\n",
    "for (size_t i = 0; i < n; ++i) { if (x[i] != y[i] && !done) { sum += x[i] * y[i]; } }",
    "    indented line with four spaces\n        and eight spaces\n\t\ttwo tabs\n",
    "Le café est très bon, à côté de la crème brûlée. Où est la bibliothèque? Ça va très bien, merci.",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein. Straße, Mädchen, Größe, schön, fünf.",
    "El niño comió la piña en la mañana. ¿Dónde está el baño? ¡Qué día tan bonito! Añoranza.",
    "Привет, мир! Как дела? Это простой тест для токенизатора. Москва, Санкт-Петербург.",
    "Γειά σου Κόσμε! Η γλώσσα είναι ελληνική. Αλφάβητο: α β γ δ ε ζ η θ.",
    "你好，世界！这是一个测试。我们正在训练一个小型的分词器。中文字符很多。",
    "こんにちは、世界。これはテストです。カタカナとひらがなを使います。",
    "안녕하세요 세계. 이것은 테스트입니다. 한국어 문장입니다.",
    "مرحبا بالعالم. هذا اختبار بسيط للمحلل. اللغة العربية جميلة.",
    "नमस्ते दुनिया। यह एक परीक्षण है। हिंदी भाषा।",
    "Emoji: 😀 😃 😄 😁 👍 👍🏽 ❤️ 🎉 🚀 🇺🇸 🇫🇷 👨‍👩‍👧‍👦 ✨ 🔥",
    "Punctuation!!! Really??? Yes... No --- maybe; (parentheses) [brackets] {braces} <angles> \"quotes\"",
    "email@example.com https://huggingface.co/state-spaces/mamba-130m-hf #hashtag @mention $100 50% a&b",
    "Line one\nLine two\r\nLine three\n\n\nAfter blank lines.   Trailing spaces   \n",
    "I'm sure he's right, they'd agree, we'll go, I've been, you're here, it isn't, don't, can't.",
]


def training_corpus():
    rng = random.Random(1234)
    lines = []
    for rep in range(30):
        for line in CORPUS_BASE:
            words = line.split(" ")
            if rep % 3 == 1:
                rng.shuffle(words)
            lines.append(" ".join(words))
    return lines


# ---------------------------------------------------------------------------------------------------
# Hard strings shared by every tokenizer.
HARD_STRINGS = [
    "",
    "Hello world",
    "Hello, world! How's it going? I'm fine; they're here, we've done it, you'll see, he'd go.",
    "DON'T SHOUT: I'M HE'S THEY'RE WE'VE",
    "'s 't 're 've 'm 'll 'd",
    "x's y't ''s '''",
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "\tTab\tseparated\tvalues\t",
    "line1\nline2\r\nline3\n\n\nline4",
    "a  b   c    d     e      f",
    "spaces at the end     ",
    "          ",
    " ",
    "\n",
    "\t\t\t",
    " \n \n ",
    " " * 30 + "x",
    "x" + " " * 25 + "y" + " " * 24,
    "Café naïve résumé façade",
    "Cafe\u0301 nai\u0308ve re\u0301sume\u0301",
    "e\u0301\u0301 a\u0300\u0316 q\u0303",
    "\u212b \u2126 \u00c5",
    "\u1100\u1161\u11a8 \uac01",
    "\u0301 leading combining mark",
    "😀",
    "👍🏽 thumbs",
    "👨‍👩‍👧‍👦 family",
    "🇺🇸🇫🇷🇯🇵",
    "❤️ 1️⃣ #️⃣",
    "你好，世界！這是一個測試。",
    "こんにちは、世界。カタカナ",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "Привет, мир!",
    "Γειά σου Κόσμε",
    "1234567890",
    "3.14159 2,718 1,000,000 -42 +7 1e-10",
    "x2 + y3 = 42",
    "０１２３ ²³ Ⅻ ٣٤٥ ½",
    "!!!???...,,,;;;:::",
    "--->>> <<<=== !== ===",
    "@#$%^&*()_+{}|:\"<>?~`",
    "\"quoted\" 'single' `back`",
    "Hello<|endoftext|>World",
    "<|endoftext|><|endoftext|>",
    " <|endoftext|> ",
    "<|endoftext",
    "<|padding|>text",
    "<s>Hello</s>",
    "<s> Hello </s>",
    "a<unk>b",
    "def foo(x):\n    return x ** 2  # square\n",
    "int main() {\n\tprintf(\"%d\\n\", 42);\n}",
    "if (a && b || !c) { x->y = z[0]; }",
    "supercalifragilistic" * 50,
    "x" * 3000,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ ꙮ 𓀀",
    "\x01\x02\x7f\x00 controls",
    "zero\u200bwidth \ufeffbom soft\u00adhyphen \ue000private \uffff",
    "nb\u00a0sp ideo\u3000space line\u2028sep vt\x0bff\x0cnel\x85end",
    "a\u00a0 b \u00a0c\u2003d",
    "The year 2024: 😀 café 你好 مرحبا!",
    "▁▁Hello ▁world▁",
    "<0x41> <0xZZ> <0x",
    "Ġ Ċ ĠĠ",
    "\ufffd replacement",
    "MiXeD CaSe WoRdS ÀÉÎÕÜ",
]

# Strings for the byte-level Split tokenizers (Llama-3, Qwen2, SmolLM2), on top of HARD_STRINGS:
# what their regexes treat specially (case-insensitive contractions, digit runs of 1..7, CR/LF runs,
# whitespace before a newline or the end, a punctuation run swallowing its newlines, non-Latin
# letters after punctuation, emoji) and their special tokens inside text.
SPLIT_STRINGS = [
    "I'M HERE. DON'T GO! WE'LL SEE, THEY'RE OK, YOU'VE WON, SHE'D GO, IT'S",
    "i'm I'm I'M i'M It'S it'S", "'S 'T 'RE 'VE 'M 'LL 'D 'Re 'rE 'lL",
    "ſ ’s don’t it’S 'ſ 'K 'K", "O'Neil's rock'n'roll ''' 'x",
    "1 12 123 1234 12345 123456 1234567", "a1b22c333d4444 x55555y 0.5 1,234,567.89",
    "٣٤٥٦ ０１２３４ ²³⁴ ⅫⅩ 12½", "price: $1234567!",
    "a\rb\r\nc\n\rd\r\r\n\n",
    "line\r\n\r\n\r\nnext",
    "trailing   \n  indented", "x  \n\n  y  ", "end   ",
    " \t \n", "!!!\n\n...\r\n",
    "a.\nb:\n\n",
    "-Привет ,Мир (你好) «中文» —日本語 ¿Qué? 'αβγ'", "ÀÉÎ'S ÑOÑO'LL", "\u0130stanbul I\u0307 \u00df\u1e9e",
    "😀😀 👍🏽x 🇺🇸!", "a😀b ☃☃ 𝔘𝔫", "\u00a0a \u3000b \u2028c \x85d",
    "<|begin_of_text|>Hello<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>",
    "x<|endoftext|>y <|endoftext|> <tool_call>{\"a\": 1}</tool_call>", "<|im_start|><|im_start|>", "<|im_end",
    "<|end_of_text|> <|reserved_special_token_0|>",
]

# Atoms for the seeded random strings: whitespace of every kind the GPT-2 regex and the Metaspace
# rules care about, letters/marks/numbers from several categories, specials and marker characters.
FUZZ_ATOMS = [
    " ", " ", " ", " ", "  ", "   ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x85", "\xa0", "\u2028", "\u3000",
    "\u200b", "a", "b", "the", "The", "hello", "world", "s", "t", "re", "'", "'s", "'t", "'re", "'ll",
    "0", "7", "42", "2024", ".", ",", "!", "?", "-", "_", "(", ")", "#", "\"", "é", "e\u0301", "\u0301",
    "\u0308", "ß", "ñ", "Å", "\u212b", "你", "好", "世界", "こ", "ん", "한", "م", "ر", "ب", "ा", "न",
    "😀", "👍", "\U0001f3fd", "\u200d", "🇺", "🇸", "\ufe0f", "²", "Ⅻ", "٣", "½", "▁", "Ġ", "<0x41>",
    "<|endoftext|>", "<s>", "</s>", "<unk>", "𝔘", "☃", "\x01",
]


# More atoms for the Split tokenizers: upper-case contractions, digit runs, CR, their special tokens.
SPLIT_ATOMS = FUZZ_ATOMS + [
    "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "'Ll", "I", "DON", "\u017f", "\u212a", "\u2019", "\r", "\r\r",
    "\n\n", " \n", "1", "23", "456", "7890", "12345", "1234567", "٣٤", "０", "A", "Z", "É", "Ω", "Ж", "漢", "…",
    "«", "—", "$", "<|begin_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "\U0001f600",
]


def fuzz_strings(n, seed, atoms=None, max_atoms=24):
    atoms = atoms or FUZZ_ATOMS
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, max_atoms)
        out.append("".join(rng.choice(atoms) for _ in range(k)))
    return out


def random_unicode_strings(n, seed, all_code_points=False):
    """Strings of random code points mixed with SPLIT_ATOMS. By default only code points assigned in
    this Python's Unicode version (unicodedata.unidata_version) are drawn: characters assigned later
    are classified by each library's own Unicode tables (HF's bundled Oniguruma: Unicode 16; Debian's
    libonig 6.9.8: Unicode 14; ICU 72: Unicode 15), see tests/fixtures/tokenizer/README.md."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 16)):
            r = rng.random()
            if r < 0.5:
                parts.append(rng.choice(SPLIT_ATOMS))
                continue
            limit = 0x7F if r < 0.6 else 0x2FFF if r < 0.85 else 0x10FFFF
            while True:
                cp = rng.randint(0, limit)
                if 0xD800 <= cp <= 0xDFFF:
                    continue
                if all_code_points or unicodedata.category(chr(cp)) != "Cn":
                    break
            parts.append(chr(cp))
        out.append("".join(parts))
    return out


# ---------------------------------------------------------------------------------------------------
def train_bytelevel():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=1600,
        special_tokens=["<|endoftext|>", "<|padding|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_corpus(), trainer)
    # GPT-NeoX's added whitespace tokens: runs of 24 down to 2 spaces, normalized, not special.
    tok.add_tokens([AddedToken(" " * n, normalized=True, special=False) for n in range(24, 1, -1)])
    return json.loads(tok.to_str())


def train_sentencepiece_bpe():
    # Trained the way SentencePiece segments (words begin with ▁); the final tokenizer.json is then
    # assembled Llama-style: <unk> <s> </s> at 0..2, the 256 byte tokens at 3..258, pieces after.
    # The alphabet is limited to the 120 most frequent characters (ties by code point) so that rarer
    # scripts and emoji reach the model only through byte fallback. This is done on the text, not
    # with BpeTrainer's limit_alphabet, whose tie-breaking is not reproducible from run to run.
    lines = training_corpus()
    counts = collections.Counter(c for line in lines for c in line if c != " ")
    keep = set(sorted(counts, key=lambda c: (-counts[c], ord(c)))[:120]) | {" "}
    lines = ["".join(c for c in line if c in keep) for line in lines]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=1000, show_progress=False)
    tok.train_from_iterator(lines, trainer)
    trained = json.loads(tok.to_str())["model"]
    pieces = sorted(trained["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in pieces:
        assert piece not in vocab, piece
        vocab[piece] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    return vocab, merges


def sp_decoder():
    return decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                              decoders.Strip(content=" ", left=1, right=0)])


def build_sp(vocab, merges, variant):
    tok = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(merges), unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    if variant == "legacy":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = sp_decoder()
    elif variant == "metaspace":
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = sp_decoder()
    elif variant == "metaspace_split":
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    else:
        raise ValueError(variant)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    if variant == "legacy":
        # A non-special added token keeps normalized=True: HF matches it in its normalized form "▁<|user|>".
        tok.add_tokens([AddedToken("<|user|>", normalized=True, special=False)])
    return json.loads(tok.to_str())


def bytelevel_template_variant(base):
    tok = Tokenizer.from_str(json.dumps(base))
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="$A <|endoftext|>", pair="$A <|endoftext|> $B <|endoftext|>",
                                      special_tokens=[("<|endoftext|>", 0)]),
    ])
    tok.add_special_tokens([
        AddedToken("<mask>", lstrip=True, special=True, normalized=False),
        AddedToken("<|im_end|>", rstrip=True, special=True, normalized=False),
    ])
    tok.add_tokens([
        AddedToken("hello", single_word=True, normalized=True, special=False),
        AddedToken("wörld", normalized=True, special=False),            # matched after NFC
        AddedToken("nai\u0308ve", normalized=False, special=False),     # matched only in raw (decomposed) text
        AddedToken("[B]", lstrip=True, rstrip=True, single_word=True, normalized=False, special=False),
    ])
    d = json.loads(tok.to_str())
    d["model"]["ignore_merges"] = True
    return d


def bytelevel_prefix_variant(base):
    # GPT-2 / RoBERTa style: a space is prepended to every piece; wrapped in a pre-tokenizer Sequence,
    # and a template that puts <|endoftext|> in front.
    tok = Tokenizer.from_str(json.dumps(base))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tok.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", 0)])
    return json.loads(tok.to_str())


def bytelevel_noregex_variant(base):
    # ByteLevel without the GPT-2 split: every piece between added tokens is one BPE word.
    tok = Tokenizer.from_str(json.dumps(base))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return json.loads(tok.to_str())


# The split regexes of the real tokenizer.json files (pre_tokenizer.pretokenizers[0].pattern.Regex).
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def split_bytelevel_pre(regex):
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])


def train_split_bytelevel():
    """Byte-level BPE trained with Llama-3's pre-tokenizer; returns (vocab, merges)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = split_bytelevel_pre(LLAMA3_REGEX)
    trainer = trainers.BpeTrainer(vocab_size=1400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    lines = training_corpus()
    lines += [line.upper() for line in CORPUS_BASE] * 5  # upper-case words and contractions
    tok.train_from_iterator(lines, trainer)
    trained = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    return trained["vocab"], merges


def build_split_bytelevel(vocab, merges, family):
    tok = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(merges)))
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    if family == "llama3":
        tok.pre_tokenizer = split_bytelevel_pre(LLAMA3_REGEX)
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                    "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
            processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                          pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                          special_tokens=[("<|begin_of_text|>", bos)]),
        ])
    elif family == "qwen2":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = split_bytelevel_pre(QWEN2_REGEX)
        tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                    "<|box_start|>", "<|box_end|>", "<|vision_start|>", "<|vision_end|>"]
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ("<tool_call>", "</tool_call>")])
    elif family == "smollm2":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ])
        tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<file_sep>"]
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    else:
        raise ValueError(family)
    d = json.loads(tok.to_str())
    d["model"]["ignore_merges"] = family == "llama3"
    return d


SPLIT_FAMILIES = ("llama3", "qwen2", "smollm2")


def qwen2_config_variant(qwen2):
    """A model directory whose tokenizer.json lacks tokens that its tokenizer_config.json declares
    (added_tokens_decoder, named special tokens as strings and as AddedToken objects, additional
    special tokens, a token whose flags the config changes, a special token from the model vocab)."""
    d = json.loads(json.dumps(qwen2))
    d["added_tokens"] = [t for t in d["added_tokens"] if t["content"] not in ("<|im_end|>", "<tool_call>")]

    def entry(content, special, **flags):
        e = {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
             "special": special}
        e.update(flags)
        return e

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": {
            "1400": entry("<|endoftext|>", True),
            "1402": entry("<|im_end|>", True),
            "1405": entry("<|box_start|>", True, lstrip=True),  # tokenizer.json has lstrip false
            "1409": entry("<tool_call>", False),
        },
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": {"__type": "AddedToken", "content": "<unk_x>", "lstrip": False, "normalized": True,
                      "rstrip": True, "single_word": False},
        "mask_token": "the",  # in the model vocabulary: becomes a special added token with that id
        "additional_special_tokens": ["<|im_start|>", "<extra_special>"],
        "model_max_length": 32768,
    }
    return d, config


def expected_for_directory(directory, texts, n_random_decode, seed):
    """As expected_for, with the tokenizer as transformers loads the directory (tokenizer.json plus
    tokenizer_config.json)."""
    import transformers  # only needed here

    backend = transformers.AutoTokenizer.from_pretrained(directory).backend_tokenizer
    path = os.path.join(directory, "backend.tokenizer.json")
    backend.save(path)
    try:
        exp = expected_for(path, texts, n_random_decode, seed)
    finally:
        os.remove(path)
    exp["tokenizer"] = os.path.basename(directory)
    return exp


def tiny_tokenizers():
    def model(vocab, merges, **kw):
        m = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
             "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges}
        m.update(kw)
        return m

    def wrap(m, added, **kw):
        d = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
             "pre_tokenizer": None, "post_processor": None, "decoder": None, "model": m}
        d.update(kw)
        return d

    def special(content, id_):
        return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}

    out = {}
    # "abc" is in the vocab but merges alone give [ab, c]: ignore_merges takes the whole word.
    out["tiny_ignore_merges"] = wrap(
        model(["<unk>", "a", "b", "c", "ab", "bc", "abc", "x"], ["a b", "b c"], unk_token="<unk>",
              ignore_merges=True),
        [special("<unk>", 0)])
    out["tiny_unk"] = wrap(
        model(["<unk>", "a", "b", "c", "ab", "bc", "abc"], ["a b", "b c", "ab c"], unk_token="<unk>"),
        [special("<unk>", 0)])
    out["tiny_fuse_unk_prefix"] = wrap(
        model(["<unk>", "a", "b", "c", "##a", "##b", "##c", "ab", "##bc"],
              [["a", "##b"], ["##b", "##c"]], unk_token="<unk>", fuse_unk=True, continuing_subword_prefix="##"),
        [special("<unk>", 0)])
    out["tiny_suffix"] = wrap(
        model(["a", "b", "c", "a</w>", "b</w>", "c</w>", "ab</w>", "ab", "abc</w>"],
              [["a", "b</w>"], ["a", "b"], ["ab", "c</w>"]], end_of_word_suffix="</w>"),
        [])
    # Split's five delimiter behaviours, invert, String and Regex patterns, Digits without
    # individual_digits, Replace with a Regex (normalizer and decoder). The merges join a delimiter
    # with its neighbours, so the ids show where each piece was cut.
    split_model = model(["a", "b", "-", "1", "2", "a-", "-b", "--", "ab", "12", "a1", "-1"],
                        ["a -", "- b", "- -", "a b", "1 2", "a 1", "- 1"])

    def split(pattern, behavior, invert=False, regex=True):
        return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern}, "behavior": behavior,
                "invert": invert}

    out["tiny_split_removed"] = wrap(split_model, [], pre_tokenizer=split("-", "Removed", regex=False))
    out["tiny_split_isolated"] = wrap(split_model, [], pre_tokenizer=split("-+", "Isolated"))
    out["tiny_split_previous"] = wrap(split_model, [], pre_tokenizer=split("-", "MergedWithPrevious"))
    out["tiny_split_next"] = wrap(split_model, [], pre_tokenizer=split("-", "MergedWithNext"))
    out["tiny_split_contiguous"] = wrap(split_model, [], pre_tokenizer=split("-", "Contiguous", regex=False))
    out["tiny_split_invert"] = wrap(split_model, [], pre_tokenizer={
        "type": "Sequence", "pretokenizers": [split("[ab]+", "MergedWithNext", invert=True),
                                               {"type": "Digits", "individual_digits": False}]})
    out["tiny_replace_regex"] = wrap(split_model, [], normalizer={
        "type": "Replace", "pattern": {"Regex": "x+|(?=1)"}, "content": "-"}, decoder={
        "type": "Replace", "pattern": {"Regex": "-(?=b)|^a"}, "content": "_"})
    return out


SPLIT_TINY_STRINGS = ["", "a", "-", "--", "a-b", "a--b", "-a-", "ab-ab", "a-b-", "---a", "b--", "a1", "a12-1",
                      "12ab", "1-2", "-1", "axxb", "x", "abx1", "a-x-b", "aé-b"]

TINY_STRINGS = ["", "a", "abc", "abcab", "abxc", "axxb", "xyz", "bca", "cab", "abcabc", "ab ab", "aaa", "bbbb",
                "a b c", "\u00e9", "abc<unk>", "<unk><unk>"]


# ---------------------------------------------------------------------------------------------------
def expected_for(path, texts, n_random_decode, seed):
    tok = Tokenizer.from_file(path)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    ids_all = set(tok.get_vocab(with_added_tokens=True).values())
    assert max(ids_all) + 1 == vocab_size and len(ids_all) == vocab_size, (path, "vocab has holes")
    cases = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        ids_special = tok.encode(text, add_special_tokens=True).ids
        cases.append({
            "text": text,
            "ids": ids,
            "ids_special": ids_special,
            "decode": tok.decode(ids_special, skip_special_tokens=False),
            "decode_skip": tok.decode(ids_special, skip_special_tokens=True),
        })
    rng = random.Random(seed)
    decode_cases = []
    for _ in range(n_random_decode):
        ids = [rng.randrange(vocab_size) for _ in range(rng.randint(1, 12))]
        decode_cases.append({"ids": ids, "decode": tok.decode(ids, skip_special_tokens=False),
                             "decode_skip": tok.decode(ids, skip_special_tokens=True)})
    probe = ["<|begin_of_text|>", "<|im_start|>", "<tool_call>", "ĠHello", "<|endoftext|>", "<|padding|>", "<s>", "</s>", "<unk>", "<0x41>", "Ġthe", "▁the", "the", "  ",
             "<mask>", "hello", "ab", "abc", "not-a-token-at-all", ""]
    token_to_id = [{"token": t, "id": tok.token_to_id(t)} for t in probe]
    return {"generator": "tools/gen_tokenizer_fixtures.py", "tokenizers_version": tokenizers.__version__,
            "tokenizer": os.path.basename(path), "vocab_size": vocab_size, "cases": cases,
            "decode_cases": decode_cases, "token_to_id": token_to_id}


def save_json(obj, path, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def save_expected(exp, path):
    # One case per line: compact, yet a diff shows which case changed.
    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        keys = list(exp)
        for i, k in enumerate(keys):
            v = exp[k]
            f.write(" " + dump(k) + ":")
            if isinstance(v, list):
                f.write("[\n" + ",\n".join("  " + dump(x) for x in v) + "\n ]")
            else:
                f.write(dump(v))
            f.write(",\n" if i + 1 < len(keys) else "\n")
        f.write("}\n")


def random_check(n, out_dir, all_code_points=False):
    """Expected files for n random strings per Split tokenizer (not committed; see the docstring)."""
    os.makedirs(out_dir, exist_ok=True)
    for name in SPLIT_FAMILIES + ("bytelevel_neox", "bytelevel_template", "sp_legacy", "sp_metaspace_split"):
        src = os.path.join(OUT_DIR, name + ".tokenizer.json")
        dst = os.path.join(out_dir, name + ".tokenizer.json")
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        texts = fuzz_strings(n // 2, seed=7, atoms=SPLIT_ATOMS, max_atoms=40) + random_unicode_strings(n - n // 2, 8, all_code_points)
        exp = expected_for(dst, texts, n_random_decode=n // 10, seed=9)
        save_expected(exp, os.path.join(out_dir, name + ".expected.json"))
        print(f"{name}: {len(exp['cases'])} random strings, {len(exp['decode_cases'])} random id lists -> {out_dir}")


def main():
    if not os.path.isdir(os.path.join("tests", "fixtures")):
        sys.exit("run from the repository root")
    if "--random-check" in sys.argv:
        args = sys.argv[1:]
        n = int(args[args.index("--random-check") + 1])
        out = args[args.index("--out") + 1] if "--out" in args else "/tmp/tokcheck"
        random_check(n, out, all_code_points="--all-code-points" in args)
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    save_json(HARD_STRINGS, os.path.join(OUT_DIR, "hard_strings.json"))
    fuzz = fuzz_strings(200, seed=20240607)

    configs = {}
    neox = train_bytelevel()
    templ = bytelevel_template_variant(neox)
    # The real GPT-NeoX tokenizer.json stores merges as "a b" strings; byte-level tokens never contain a
    # space (it is mapped to 'Ġ'), so the legacy form is lossless.
    neox["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in neox["model"]["merges"]]
    configs["bytelevel_neox"] = neox
    configs["bytelevel_template"] = templ
    configs["bytelevel_prefix"] = bytelevel_prefix_variant(neox)
    configs["bytelevel_noregex"] = bytelevel_noregex_variant(neox)
    vocab, merges = train_sentencepiece_bpe()
    for variant in ("legacy", "metaspace", "metaspace_split"):
        d = build_sp(vocab, merges, variant)
        if variant == "legacy":
            d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
        configs["sp_" + variant] = d

    extra = {
        "bytelevel_template": ["a <mask> b", "a    <mask>b", "<mask>", "x<|im_end|>   next", "<|im_end|>\n\n",
                               "hello world", "xhello", "hello_there", "say hello!", "héllo hello", "hello",
                               "wo\u0308rld", "wörld", "nai\u0308ve", "naïve", "a [B] b", "a[B]b", "  [B]  x",
                               "<|endoftext|> <mask>"],
        "sp_legacy": ["hi <|user|> x", "<|user|>x", "a<|user|>", " <|user|>", "<s><|user|></s>"],
    }
    for name, d in configs.items():
        path = os.path.join(OUT_DIR, name + ".tokenizer.json")
        save_json(d, path, compact=True)
        # The two small variants get the hard strings only, to keep the fixtures small.
        small = name in ("bytelevel_prefix", "bytelevel_noregex")
        texts = HARD_STRINGS + extra.get(name, []) + ([] if small else fuzz)
        exp = expected_for(path, texts, n_random_decode=20 if small else 80, seed=len(name) * 7919)
        save_expected(exp, os.path.join(OUT_DIR, name + ".expected.json"))
        print(f"{name}: vocab {exp['vocab_size']}, {len(exp['cases'])} cases, "
              f"{os.path.getsize(path) // 1024} KiB tokenizer.json")

    split_vocab, split_merges = train_split_bytelevel()
    split_fuzz = fuzz_strings(80, seed=20251206, atoms=SPLIT_ATOMS) + random_unicode_strings(30, seed=20251207)
    for family in SPLIT_FAMILIES:
        d = build_split_bytelevel(split_vocab, split_merges, family)
        path = os.path.join(OUT_DIR, family + ".tokenizer.json")
        save_json(d, path, compact=True)
        exp = expected_for(path, HARD_STRINGS + SPLIT_STRINGS + split_fuzz, n_random_decode=40, seed=len(family))
        save_expected(exp, os.path.join(OUT_DIR, family + ".expected.json"))
        print(f"{family}: vocab {exp['vocab_size']}, {len(exp['cases'])} cases, "
              f"{os.path.getsize(path) // 1024} KiB tokenizer.json")

        if family == "qwen2":
            qwen2 = d

    # tokenizer_config.json: a model directory, checked against transformers' AutoTokenizer.
    config_dir = os.path.join(OUT_DIR, "qwen2_config")
    os.makedirs(config_dir, exist_ok=True)
    d, config = qwen2_config_variant(qwen2)
    save_json(d, os.path.join(config_dir, "tokenizer.json"), compact=True)
    save_json(config, os.path.join(config_dir, "tokenizer_config.json"))
    extra = ["<unk_x> x<unk_x>  y", "the theme other", "<|box_start|>a  <|box_start|>", "<extra_special>!",
             "<|im_end|><tool_call><|im_start|>"]
    exp = expected_for_directory(config_dir, SPLIT_STRINGS + extra + split_fuzz[:40], n_random_decode=20, seed=5)
    save_expected(exp, os.path.join(OUT_DIR, "qwen2_config.expected.json"))
    print(f"qwen2_config: vocab {exp['vocab_size']}, {len(exp['cases'])} cases")

    for name, d in tiny_tokenizers().items():
        path = os.path.join(OUT_DIR, name + ".tokenizer.json")
        save_json(d, path)
        texts = SPLIT_TINY_STRINGS if name.startswith(("tiny_split", "tiny_replace")) else TINY_STRINGS
        exp = expected_for(path, texts, n_random_decode=20, seed=len(name))
        save_expected(exp, os.path.join(OUT_DIR, name + ".expected.json"))
        print(f"{name}: vocab {exp['vocab_size']}, {len(exp['cases'])} cases")

    # Error fixtures: truncated JSON, and a valid file whose model type Krait does not handle.
    with open(os.path.join(OUT_DIR, "broken.tokenizer.json"), "w", encoding="utf-8") as f:
        f.write('{"version": "1.0", "added_tokens": [], "model": {"type": "BPE", "vocab": {"a": 0,\n')
    wordpiece = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
                 "pre_tokenizer": None, "post_processor": None, "decoder": None,
                 "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                           "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "a": 1}}}
    Tokenizer.from_str(json.dumps(wordpiece))  # a valid tokenizer.json for HF
    save_json(wordpiece, os.path.join(OUT_DIR, "wordpiece.tokenizer.json"))


if __name__ == "__main__":
    main()
