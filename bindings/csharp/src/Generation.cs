// Generation options, results, the token callback across the native boundary, and streaming as
// an IEnumerable of text pieces.
using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Krait
{
    /// <summary>Receives each generated token (streaming). Called on the thread that made the call,
    /// once per token, after it was sampled. It may use the model, its tokenizer and other sessions,
    /// and call <see cref="Session.Abort"/>, but no other method of the generating session
    /// (InvalidOperationException). An exception it throws stops the generation and is rethrown by
    /// the call once the library has returned; the session stays usable.</summary>
    /// <param name="tokenId">The token's id.</param>
    /// <param name="piece">The text it completes: possibly "" while a multi-byte character is
    /// incomplete or a stop string may be starting; the pieces concatenated are the generated text
    /// (special tokens such as EOS excluded).</param>
    /// <returns>true to stop generating (not an error: the call returns the tokens so far, this
    /// one included); false to go on.</returns>
    public delegate bool TokenCallback(int tokenId, string piece);

    /// <summary>A LoRA adapter and the scale it applies with (1 = as trained).</summary>
    public struct AdapterScale
    {
        /// <summary>Pairs <paramref name="adapter"/> with <paramref name="scale"/>.</summary>
        public AdapterScale(Adapter adapter, float scale)
            : this()
        {
            Adapter = adapter;
            Scale = scale;
        }

        /// <summary>The adapter.</summary>
        public Adapter Adapter { get; private set; }

        /// <summary>Its scale: 1 = as trained; may be 0 or negative.</summary>
        public float Scale { get; private set; }
    }

    /// <summary>Options of generate, chat and conversation calls (krait_generate_params). A new
    /// instance holds the library's defaults (krait_generate_params_init): 32 new tokens,
    /// temperature 1 (sampling), top_k 50, top_p 1, min_p 0, repetition penalty 1, seed 0, stop at
    /// EOS. Set <see cref="Temperature"/> to 0 for greedy decoding (or use <see cref="Greedy"/>).
    /// An instance may be reused and shared between calls that do not change it.</summary>
    public sealed class GenerateOptions
    {
        /// <summary>Options with the library's defaults.</summary>
        public GenerateOptions()
        {
            NativeMethods.GenerateParams p = Defaults.Generate();
            MaxNewTokens = p.max_new_tokens;
            Temperature = p.sampling.temperature;
            TopK = p.sampling.top_k;
            TopP = p.sampling.top_p;
            MinP = p.sampling.min_p;
            RepetitionPenalty = p.sampling.repetition_penalty;
            Seed = p.sampling.seed;
            StopAtEos = p.stop_at_eos != 0;
            StopStrings = new List<string>();
        }

        /// <summary>Greedy decoding (temperature 0) of up to <paramref name="maxNewTokens"/> tokens.</summary>
        public static GenerateOptions Greedy(int maxNewTokens)
        {
            return new GenerateOptions { MaxNewTokens = maxNewTokens, Temperature = 0f };
        }

        /// <summary>The most tokens to generate; must be &gt; 0.</summary>
        public int MaxNewTokens { get; set; }
        /// <summary>Sampling temperature; 0 = greedy (argmax).</summary>
        public float Temperature { get; set; }
        /// <summary>Keep the k most likely tokens; 0 = off.</summary>
        public int TopK { get; set; }
        /// <summary>Nucleus sampling; 1 = off.</summary>
        public float TopP { get; set; }
        /// <summary>Drop tokens below MinP * p_max; 0 = off.</summary>
        public float MinP { get; set; }
        /// <summary>CTRL-style repetition penalty over the prompt and output; 1 = off.</summary>
        public float RepetitionPenalty { get; set; }
        /// <summary>Random seed: the same seed and inputs give the same output.</summary>
        public ulong Seed { get; set; }
        /// <summary>Stop at the model's EOS token (included in the ids).</summary>
        public bool StopAtEos { get; set; }
        /// <summary>Generation stops once the text contains one of these; the text returned and
        /// streamed ends right before it.</summary>
        public IList<string> StopStrings { get; set; }
        /// <summary>LoRA adapters active for the call only (the session's own set is restored
        /// afterwards); null = the session's set (<see cref="Session.SetAdapters"/>), empty = the
        /// base model.</summary>
        public IList<AdapterScale> Adapters { get; set; }
    }

    /// <summary>What a generation produced.</summary>
    public sealed class GenerationResult
    {
        internal GenerationResult(int[] ids, string text)
        {
            Ids = ids;
            Text = text;
        }

        /// <summary>The new tokens' ids (an EOS reached included).</summary>
        public int[] Ids { get; private set; }

        /// <summary>The text of the new tokens: the streamed pieces concatenated (special tokens
        /// excluded, cut before a stop string); "" for a model without a tokenizer.</summary>
        public string Text { get; private set; }

        /// <summary>The text.</summary>
        public override string ToString() { return Text; }
    }

    /// <summary>One message of a chat: a role ("system", "user", "assistant", ...) and its text;
    /// for an assistant, optionally the pictures of the message (rendered before its text).</summary>
    public sealed class ChatMessage
    {
        /// <summary>A message without pictures.</summary>
        public ChatMessage(string role, string content)
        {
            Role = role;
            Content = content;
        }

        /// <summary>A message with pictures (assistants).</summary>
        public ChatMessage(string role, string content, ImageBatch images)
            : this(role, content)
        {
            Images = images;
        }

        /// <summary>The role.</summary>
        public string Role { get; private set; }
        /// <summary>The text.</summary>
        public string Content { get; private set; }
        /// <summary>The message's pictures, or null (never filled for messages read back from a
        /// conversation: the C ABI does not return them).</summary>
        public ImageBatch Images { get; private set; }

        /// <summary>"role: content".</summary>
        public override string ToString() { return Role + ": " + Content; }
    }

    /// <summary>The native side of one generating call: krait_generate_params with the stop strings
    /// in unmanaged memory and the token callback's state behind a GCHandle (freed in Dispose).</summary>
    internal sealed class GenerationCall : IDisposable
    {
        // Static: its function pointer stays valid for the process; the per-call state travels
        // through user_data.
        private static readonly NativeMethods.TokenFn s_trampoline = OnToken;

        private readonly NativeStrings _stops;
        private GCHandle _self;
        private readonly MemoryStreamLike _text = new MemoryStreamLike();

        internal NativeMethods.GenerateParams Params;
        internal TokenCallback Callback;
        internal Exception Error;

        internal GenerationCall(GenerateOptions options, TokenCallback callback)
        {
            Params = Defaults.Generate();
            if (options != null)
            {
                Params.max_new_tokens = options.MaxNewTokens;
                Params.sampling.temperature = options.Temperature;
                Params.sampling.top_k = options.TopK;
                Params.sampling.top_p = options.TopP;
                Params.sampling.min_p = options.MinP;
                Params.sampling.repetition_penalty = options.RepetitionPenalty;
                Params.sampling.seed = options.Seed;
                Params.stop_at_eos = options.StopAtEos ? 1 : 0;
                if (options.StopStrings != null && options.StopStrings.Count > 0)
                {
                    _stops = new NativeStrings(options.StopStrings, "stop string");
                    Params.stop_strings = _stops.Array;
                    Params.n_stop_strings = Size.Of(_stops.Count);
                }
            }
            Callback = callback;
            _self = GCHandle.Alloc(this);
            Params.on_token = Marshal.GetFunctionPointerForDelegate(s_trampoline);
            Params.user_data = GCHandle.ToIntPtr(_self);
        }

        /// <summary>The pieces streamed so far, concatenated.</summary>
        internal string Text { get { return _text.ToText(); } }

        internal int TextBytes { get { return _text.Length; } }

        /// <summary>Rethrows the callback's exception, if it threw, with its own stack trace.</summary>
        internal void RethrowCallbackError()
        {
            if (Error != null) ExceptionDispatchInfo.Capture(Error).Throw();
        }

        public void Dispose()
        {
            if (_self.IsAllocated) _self.Free();
            if (_stops != null) _stops.Dispose();
        }

        private static int OnToken(int tokenId, IntPtr piece, UIntPtr pieceLen, IntPtr userData)
        {
            GenerationCall call = null;
            try
            {
                call = (GenerationCall)GCHandle.FromIntPtr(userData).Target;
                int len = (int)pieceLen.ToUInt64();
                byte[] bytes = new byte[len];
                if (len > 0) Marshal.Copy(piece, bytes, 0, len);
                call._text.Write(bytes);
                if (call.Callback == null) return 0;
                return call.Callback(tokenId, Encoding.UTF8.GetString(bytes)) ? 1 : 0;
            }
            catch (Exception e)
            {
                // Never unwind through the library: stop it, and rethrow after it returned.
                if (call != null && call.Error == null) call.Error = e;
                return 1;
            }
        }

        /// <summary>A growable byte buffer (UTF-8 pieces; decoded once at the end).</summary>
        private sealed class MemoryStreamLike
        {
            private byte[] _bytes = new byte[256];
            private int _n;

            internal int Length { get { return _n; } }

            internal void Write(byte[] b)
            {
                if (_n + b.Length > _bytes.Length) Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _n + b.Length));
                Buffer.BlockCopy(b, 0, _bytes, _n, b.Length);
                _n += b.Length;
            }

            internal string ToText() { return Encoding.UTF8.GetString(_bytes, 0, _n); }
        }
    }

    /// <summary>A generation streamed as its text pieces, as they are generated. Enumerate it
    /// once (foreach): the call runs on a worker thread and each piece arrives as soon as the
    /// library reports its token. Leaving the loop early stops the generation (the worker is
    /// stopped and joined before the enumerator's Dispose returns). Errors of the call, the
    /// callback's included, are thrown from the enumeration (MoveNext); cancellation through the
    /// call's CancellationToken throws OperationCanceledException. After a complete enumeration
    /// <see cref="Result"/> holds the result.</summary>
    public sealed class GenerationStream : IEnumerable<string>
    {
        private readonly Func<TokenCallback, CancellationToken, string> _run;
        private readonly CancellationToken _token;
        private int _started;

        /// <summary><paramref name="run"/> makes the call with a token callback and a cancellation
        /// token, and returns its text (the reply).</summary>
        internal GenerationStream(Func<TokenCallback, CancellationToken, string> run, CancellationToken token)
        {
            _run = run;
            _token = token;
        }

        /// <summary>The text of the whole generation (the reply), once the enumeration completed; null before.</summary>
        public string Result { get; private set; }

        /// <summary>The token ids streamed, once the enumeration completed; null before.</summary>
        public int[] Ids { get; private set; }

        /// <summary>Starts the generation. A stream can be enumerated only once
        /// (InvalidOperationException).</summary>
        public IEnumerator<string> GetEnumerator()
        {
            if (Interlocked.Exchange(ref _started, 1) != 0)
                throw new InvalidOperationException("a GenerationStream can be enumerated only once");
            return Iterate();
        }

        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }

        private IEnumerator<string> Iterate()
        {
            var queue = new BlockingCollection<string>();
            var ids = new List<int>();
            var stop = new CancellationTokenSource();
            var linked = CancellationTokenSource.CreateLinkedTokenSource(_token, stop.Token);
            bool abandon = false;
            Exception error = null;
            string result = null;
            var worker = new Thread(() =>
            {
                try
                {
                    result = _run((id, piece) =>
                    {
                        lock (ids) ids.Add(id);
                        if (piece.Length > 0) queue.Add(piece);
                        return Volatile.Read(ref abandon);
                    }, linked.Token);
                }
                catch (Exception e)
                {
                    error = e;
                }
                finally
                {
                    queue.CompleteAdding();
                }
            });
            worker.IsBackground = true;
            worker.Name = "krait-generate";
            worker.Start();
            bool completed = false;
            try
            {
                foreach (string piece in queue.GetConsumingEnumerable()) yield return piece;
                completed = true;
            }
            finally
            {
                if (!completed)
                {
                    // Left early: stop at the next token (callback) or abort a long prefill.
                    Volatile.Write(ref abandon, true);
                    stop.Cancel();
                }
                worker.Join();
                queue.Dispose();
                linked.Dispose();
                stop.Dispose();
            }
            if (error != null)
            {
                var oce = error as OperationCanceledException;
                if (oce != null && !_token.IsCancellationRequested)
                    throw new OperationCanceledException(oce.Message, oce.InnerException);
                if (oce != null) throw new OperationCanceledException(oce.Message, oce.InnerException, _token);
                ExceptionDispatchInfo.Capture(error).Throw();
            }
            lock (ids) Ids = ids.ToArray();
            Result = result;
        }
    }
}
