// Tokenizers: a model's own (borrowed) or one loaded from tokenizer.json.
using System;

namespace Krait
{
    /// <summary>A Hugging Face tokenizer.json tokenizer (krait_tokenizer). Immutable: thread-safe
    /// for all uses. Either loaded with <see cref="Load"/> (owned: Dispose releases it) or borrowed
    /// from a model with <see cref="Model.Tokenizer"/> (released with the model).</summary>
    public sealed class Tokenizer : IDisposable
    {
        private readonly TokenizerHandle _handle;
        private readonly bool _owned;

        internal Tokenizer(TokenizerHandle handle, bool owned)
        {
            _handle = handle;
            _owned = owned;
        }

        /// <summary>Loads a tokenizer.json file, or a directory holding tokenizer.json (and
        /// optionally tokenizer_config.json) (krait_tokenizer_load).</summary>
        /// <exception cref="KraitIOException">missing or unreadable file</exception>
        /// <exception cref="KraitFormatException">malformed JSON or tokenizer</exception>
        public static Tokenizer Load(string path)
        {
            if (path == null) throw Status.Argument("path is null");
            Library.CheckCompatible();
            IntPtr t;
            Status.Check(NativeMethods.krait_tokenizer_load(Utf8.Z(path, "path"), out t));
            return new Tokenizer(new TokenizerHandle(t, null), true);
        }

        private TokenizerHandle Handle
        {
            get
            {
                if (_handle.IsDisposed) throw new ObjectDisposedException("Tokenizer");
                return _handle;
            }
        }

        /// <summary>Whether this tokenizer belongs to a model (and is released with it).</summary>
        public bool IsBorrowed { get { return !_owned; } }

        /// <summary>Number of ids in the vocabulary, added tokens included.</summary>
        public long VocabSize
        {
            get
            {
                long n;
                Status.Check(NativeMethods.krait_tokenizer_vocab_size(Handle, out n));
                return n;
            }
        }

        /// <summary>Encodes text into token ids, as HF tokenizers' encode(text, add_special_tokens).</summary>
        /// <param name="text">The text (sent to the library as UTF-8).</param>
        /// <param name="addSpecialTokens">Add the tokenizer's special tokens (such as BOS).</param>
        public int[] Encode(string text, bool addSpecialTokens = false)
        {
            if (text == null) throw Status.Argument("text is null");
            return EncodeUtf8(Utf8.Encode(text, "text"), addSpecialTokens);
        }

        /// <summary>Encodes UTF-8 bytes into token ids (invalid UTF-8: KraitInvalidArgumentException
        /// naming the byte offset).</summary>
        /// <param name="utf8">The text's UTF-8 bytes.</param>
        /// <param name="addSpecialTokens">Add the tokenizer's special tokens (such as BOS).</param>
        public int[] EncodeUtf8(byte[] utf8, bool addSpecialTokens = false)
        {
            if (utf8 == null) throw Status.Argument("text is null");
            TokenizerHandle h = Handle;
            UIntPtr n;
            // A first guess that fits almost every text (ids <= bytes + specials), then the size reported.
            int[] ids = new int[utf8.Length + 8];
            int status = NativeMethods.krait_tokenizer_encode(h, utf8, Size.Of(utf8.Length), addSpecialTokens ? 1 : 0,
                                                              ids, Size.Of(ids.Length), out n);
            if (status == (int)KraitStatus.BufferTooSmall)
            {
                Status.ToException(status);
                ids = new int[Size.ToInt(n, "ids")];
                status = NativeMethods.krait_tokenizer_encode(h, utf8, Size.Of(utf8.Length), addSpecialTokens ? 1 : 0,
                                                              ids, Size.Of(ids.Length), out n);
            }
            Status.Check(status);
            int count = Size.ToInt(n, "ids");
            if (count == ids.Length) return ids;
            int[] result = new int[count];
            Array.Copy(ids, result, count);
            return result;
        }

        /// <summary>Decodes ids into text (krait_tokenizer_decode_v2). Bytes that do not form
        /// valid UTF-8 (a character cut between ids) become U+FFFD; <see cref="DecodeUtf8"/> gives
        /// the bytes.</summary>
        /// <param name="ids">The token ids.</param>
        /// <param name="skipSpecialTokens">Drop special tokens (BOS, EOS, ...), as transformers'
        /// decode(ids, skip_special_tokens=True).</param>
        /// <exception cref="KraitInvalidArgumentException">an id out of range (the message names it)</exception>
        public string Decode(int[] ids, bool skipSpecialTokens = false)
        {
            byte[] bytes = DecodeUtf8(ids, skipSpecialTokens);
            return Utf8.Decode(bytes, bytes.Length);
        }

        /// <summary>Decodes ids into UTF-8 bytes.</summary>
        /// <param name="ids">The token ids.</param>
        /// <param name="skipSpecialTokens">Drop special tokens.</param>
        public byte[] DecodeUtf8(int[] ids, bool skipSpecialTokens = false)
        {
            if (ids == null) throw Status.Argument("ids is null");
            TokenizerHandle h = Handle;
            UIntPtr n;
            Status.Check(NativeMethods.krait_tokenizer_decode_v2(h, ids, Size.Of(ids.Length), skipSpecialTokens ? 1 : 0,
                                                                 null, UIntPtr.Zero, out n));
            byte[] text = new byte[Size.ToInt(n, "text")];
            Status.Check(NativeMethods.krait_tokenizer_decode_v2(h, ids, Size.Of(ids.Length), skipSpecialTokens ? 1 : 0,
                                                                 text, n, out n));
            return text;
        }

        /// <summary>Releases an owned tokenizer; does nothing for one borrowed from a model.
        /// Safe to call twice.</summary>
        public void Dispose()
        {
            if (_owned) _handle.Dispose();
        }

        /// <summary>Drops a borrowed tokenizer's reference on its model (Model.Dispose).</summary>
        internal void Release()
        {
            _handle.Dispose();
        }
    }
}
