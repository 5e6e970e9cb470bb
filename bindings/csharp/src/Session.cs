// Sessions: per-conversation state over a shared model. This file holds what every kind shares
// (creation, the call discipline, abort and cancellation, adapters) and the sequence-model calls;
// SessionImages.cs holds the classifier and assistant calls.
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using System.Threading;

namespace Krait
{
    /// <summary>Options of <see cref="Model.CreateSession"/> (krait_session_params). A new instance
    /// holds the library's defaults.</summary>
    public sealed class SessionOptions
    {
        /// <summary>Options with the library's defaults (krait_session_params_init).</summary>
        public SessionOptions()
        {
            NativeMethods.SessionParams p = Defaults.Session();
            Threads = p.n_threads;
            MaxImagePixels = p.max_image_pixels;
            MaxBatch = p.max_batch;
            ContextLength = p.context_length;
            ImageCacheBytes = p.image_cache_bytes;
        }

        /// <summary>The most threads one call runs on; 0 = all cores. Results depend on it.</summary>
        public int Threads { get; set; }
        /// <summary>Classifiers: images with more pixels are refused before decoding. Must be &gt; 0.</summary>
        public long MaxImagePixels { get; set; }
        /// <summary>Classifiers: images per forward pass; 0 = all images of a call at once.</summary>
        public int MaxBatch { get; set; }
        /// <summary>Models with a KV cache: the most tokens the context holds; 0 = the model's default.</summary>
        public long ContextLength { get; set; }
        /// <summary>Assistants: bytes of projected image rows kept for reuse; 0 = no cache.</summary>
        public long ImageCacheBytes { get; set; }
    }

    /// <summary>
    /// A session (krait_session): the state of one conversation or classification stream over a
    /// shared <see cref="Model"/>. The same class serves every kind of model; a call that does not
    /// fit the model's kind throws <see cref="KraitWrongKindException"/>.
    /// <para>Threads: the C ABI allows one call at a time per session. This class serializes its
    /// calls (and those of its conversations) with a lock, so using it from several threads is safe
    /// but not parallel; use one session per thread for parallelism (a model may be shared by any
    /// number of sessions). <see cref="Abort"/> and <see cref="ClearAbort"/> may be called from any
    /// thread at any time. A token callback must not call back into its own session
    /// (InvalidOperationException).</para>
    /// <para>Cancellation: abortable calls (forward, append, generate, chat, conversation replies,
    /// classify, the assistant calls) take a CancellationToken; cancelling it aborts the call
    /// (krait_session_abort), which then throws OperationCanceledException whose InnerException is
    /// the library's <see cref="KraitAbortedException"/>. A call stopped by <see cref="Abort"/>
    /// throws KraitAbortedException.</para>
    /// <para>Lifetime: Dispose releases the session; it holds a reference on its model, and its
    /// conversations hold one on it, so native objects are freed in a valid order whatever the
    /// order of Dispose or finalization.</para>
    /// </summary>
    public sealed partial class Session : IDisposable
    {
        private readonly Model _model;
        private readonly SessionHandle _handle;
        private readonly object _sync = new object();
        private AdapterScale[] _adapters = new AdapterScale[0];
        private readonly object _tokenizerLock = new object();
        private Tokenizer _tokenizer;
        private bool _tokenizerQueried;

        internal Session(Model model, SessionOptions options)
        {
            _model = model;
            ModelHandle mh = model.Handle;
            NativeMethods.SessionParams p = Defaults.Session();
            if (options != null)
            {
                p.n_threads = options.Threads;
                p.max_image_pixels = options.MaxImagePixels;
                p.max_batch = options.MaxBatch;
                p.context_length = options.ContextLength;
                p.image_cache_bytes = options.ImageCacheBytes;
            }
            using (ParentRef parent = ParentRef.Take(mh))
            {
                IntPtr s;
                Status.Check(NativeMethods.krait_session_create(mh, ref p, out s));
                _handle = new SessionHandle(s, parent.Transfer());
            }
        }

        /// <summary>The model this session runs.</summary>
        public Model Model { get { return _model; } }

        /// <summary>The model's kind.</summary>
        public ModelKind Kind { get { return _model.Info.Kind; } }

        internal SessionHandle Handle
        {
            get
            {
                if (_handle.IsDisposed) throw new ObjectDisposedException("Session");
                return _handle;
            }
        }

        // ---- the call discipline ----------------------------------------------------------------

        /// <summary>Runs <paramref name="body"/> as one call on the session: under the session's
        /// lock, with a reference on the handle, with <paramref name="perCall"/> adapters active
        /// (null: the session's set), and with <paramref name="ct"/> wired to krait_session_abort.</summary>
        internal T Call<T>(CancellationToken ct, IList<AdapterScale> perCall, Func<SessionHandle, T> body)
        {
            return Call(ct, perCall, false, body);
        }

        /// <summary>As Call; <paramref name="forChild"/>: a call made for a conversation, which
        /// holds a reference on the session and may go on after the Session object was disposed.</summary>
        internal T Call<T>(CancellationToken ct, IList<AdapterScale> perCall, bool forChild, Func<SessionHandle, T> body)
        {
            if (Monitor.IsEntered(_sync))
                throw new InvalidOperationException(
                    "a call on this session is running on this thread (a callback must not call back into its own session)");
            Monitor.Enter(_sync);
            try
            {
                SessionHandle h = forChild ? _handle : Handle;
                ct.ThrowIfCancellationRequested();
                using (ParentRef reference = forChild ? ParentRef.TakeLive(h) : ParentRef.Take(h))
                {
                    SafeHandle[] saved = null;
                    AdapterScale[] savedSet = null;
                    if (perCall != null)
                    {
                        savedSet = _adapters;
                        saved = SwapAdapters(h, perCall);
                    }
                    try
                    {
                        var abort = new AbortRequest(reference.Pointer);
                        CancellationTokenRegistration registration = default(CancellationTokenRegistration);
                        if (ct.CanBeCanceled) registration = ct.Register(AbortRequest.Fire, abort);
                        bool aborted = false;
                        try
                        {
                            return body(h);
                        }
                        catch (KraitAbortedException e)
                        {
                            aborted = true;
                            registration.Dispose();
                            if (abort.Fired) throw new OperationCanceledException(e.Message, e, ct);
                            throw;
                        }
                        finally
                        {
                            registration.Dispose();
                            // A request that came as the call was returning would stop the next call.
                            if (abort.Fired && !aborted) NativeMethods.krait_session_clear_abort(reference.Pointer);
                        }
                    }
                    finally
                    {
                        if (saved != null) RestoreAdapters(h, saved, savedSet);
                    }
                }
            }
            finally
            {
                Monitor.Exit(_sync);
            }
        }

        internal void Call(CancellationToken ct, IList<AdapterScale> perCall, Action<SessionHandle> body)
        {
            Call(ct, perCall, false, body);
        }

        internal void Call(CancellationToken ct, IList<AdapterScale> perCall, bool forChild, Action<SessionHandle> body)
        {
            Call<object>(ct, perCall, forChild, h =>
            {
                body(h);
                return null;
            });
        }

        private sealed class AbortRequest
        {
            private readonly IntPtr _session;
            private int _fired;

            internal AbortRequest(IntPtr session) { _session = session; }

            internal bool Fired { get { return Volatile.Read(ref _fired) != 0; } }

            internal static void Fire(object state)
            {
                var self = (AbortRequest)state;
                Volatile.Write(ref self._fired, 1);
                NativeMethods.krait_session_abort(self._session);
            }
        }

        /// <summary>Asks the call running on this session, or the next one to start if none runs, to
        /// stop with <see cref="KraitAbortedException"/> (krait_session_abort). Any thread, any
        /// time, never blocks. See krait.h for which calls are abortable.</summary>
        public void Abort()
        {
            using (ParentRef r = ParentRef.Take(Handle)) NativeMethods.krait_session_abort(r.Pointer);
        }

        /// <summary>Withdraws an <see cref="Abort"/> request no call has consumed yet
        /// (krait_session_clear_abort). Any thread, any time.</summary>
        public void ClearAbort()
        {
            using (ParentRef r = ParentRef.Take(Handle)) NativeMethods.krait_session_clear_abort(r.Pointer);
        }

        /// <summary>Changes the most threads a call of this session runs on (0 = all cores).</summary>
        public void SetThreads(int threads)
        {
            Call(CancellationToken.None, null, h => Status.Check(NativeMethods.krait_session_set_threads(h, threads)));
        }

        // ---- adapters -----------------------------------------------------------------------------

        /// <summary>The session's active adapters and their scales (empty: the base model).</summary>
        public IList<AdapterScale> Adapters { get { return new ReadOnlyCollection<AdapterScale>(_adapters); } }

        /// <summary>Makes <paramref name="adapters"/> the session's active set from its next call on
        /// (krait_session_set_adapters; their low-rank terms add up); none = the base model. The
        /// session keeps the adapters alive while they are in its set, even if disposed.</summary>
        /// <exception cref="KraitInvalidArgumentException">an adapter of another model, a non-finite
        /// scale, two adapters replacing the same module; the set is then unchanged</exception>
        public void SetAdapters(params AdapterScale[] adapters)
        {
            Call(CancellationToken.None, null, h =>
            {
                SafeHandle[] old = SwapAdapters(h, adapters ?? new AdapterScale[0]);
                foreach (SafeHandle o in old) o.DangerousRelease();
            });
        }

        /// <summary>Makes one adapter the session's active set, with <paramref name="scale"/>.</summary>
        public void SetAdapter(Adapter adapter, float scale = 1f)
        {
            SetAdapters(new AdapterScale(adapter, scale));
        }

        /// <summary>Returns the session to the base model (no adapter).</summary>
        public void ClearAdapters()
        {
            SetAdapters();
        }

        /// <summary>Makes <paramref name="adapters"/> active until the returned scope is disposed,
        /// which restores the set active before. Scopes must be disposed in reverse order.</summary>
        public IDisposable UseAdapters(params AdapterScale[] adapters)
        {
            SafeHandle[] saved = null;
            AdapterScale[] savedSet = null;
            Call(CancellationToken.None, null, h =>
            {
                savedSet = _adapters;
                saved = SwapAdapters(h, adapters ?? new AdapterScale[0]);
            });
            return new AdapterScope(this, saved, savedSet);
        }

        private sealed class AdapterScope : IDisposable
        {
            private Session _session;
            private readonly SafeHandle[] _saved;
            private readonly AdapterScale[] _savedSet;

            internal AdapterScope(Session session, SafeHandle[] saved, AdapterScale[] savedSet)
            {
                _session = session;
                _saved = saved;
                _savedSet = savedSet;
            }

            public void Dispose()
            {
                Session s = Interlocked.Exchange(ref _session, null);
                if (s == null) return;
                try
                {
                    s.Call(CancellationToken.None, null, h => s.RestoreAdapters(h, _saved, _savedSet));
                }
                catch (ObjectDisposedException)
                {
                    // The session is gone: nothing to restore; drop the saved set's references.
                    foreach (SafeHandle h in _saved) h.DangerousRelease();
                }
            }
        }

        /// <summary>Installs <paramref name="set"/> (taking a reference on each adapter) and returns
        /// the previous set's handles, whose references now belong to the caller.</summary>
        private SafeHandle[] SwapAdapters(SessionHandle h, IList<AdapterScale> set)
        {
            var handles = new List<SafeHandle>();
            try
            {
                var ptrs = new IntPtr[set.Count];
                var scales = new float[set.Count];
                for (int i = 0; i < set.Count; i++)
                {
                    if (set[i].Adapter == null) throw Status.Argument("adapter " + i + " is null");
                    SafeHandle ah = set[i].Adapter.Handle;
                    bool added = false;
                    ah.DangerousAddRef(ref added);
                    handles.Add(ah);
                    ptrs[i] = ah.DangerousGetHandle();
                    scales[i] = set[i].Scale;
                }
                Status.Check(NativeMethods.krait_session_set_adapters(h, ptrs, scales, Size.Of(set.Count)));
            }
            catch
            {
                foreach (SafeHandle ah in handles) ah.DangerousRelease();
                throw;
            }
            var copy = new AdapterScale[set.Count];
            set.CopyTo(copy, 0);
            _adapters = copy;
            return h.ExchangeAdapters(handles.ToArray());
        }

        /// <summary>Reinstalls a set saved by SwapAdapters (its references come back to the
        /// session) and releases the set it replaces.</summary>
        private void RestoreAdapters(SessionHandle h, SafeHandle[] saved, AdapterScale[] savedSet)
        {
            var ptrs = new IntPtr[saved.Length];
            var scales = new float[saved.Length];
            for (int i = 0; i < saved.Length; i++)
            {
                ptrs[i] = saved[i].DangerousGetHandle();
                scales[i] = savedSet[i].Scale;
            }
            int status = NativeMethods.krait_session_set_adapters(h, ptrs, scales, Size.Of(saved.Length));
            if (status != 0)
            {
                KraitException e = Status.ToException(status);
                foreach (SafeHandle s in saved) s.DangerousRelease();
                throw e;
            }
            _adapters = savedSet;
            h.ReplaceAdapters(saved);
        }

        // ---- sequence models ----------------------------------------------------------------------

        /// <summary>Full-sequence forward pass of one row of ids: float32 logits [length, vocab]
        /// (krait_session_forward). Stateless.</summary>
        public float[] Forward(int[] ids, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (ids == null) throw Status.Argument("ids is null");
            return Forward(ids, 1, ids.Length, cancellationToken);
        }

        /// <summary>Forward pass of <paramref name="batch"/> rows of <paramref name="length"/> ids
        /// (laid out [batch, length]): float32 logits [batch, length, vocab] (krait_session_forward).
        /// Stateless: the session's context is neither read nor changed.</summary>
        /// <exception cref="KraitInvalidArgumentException">an id out of range, zero sizes</exception>
        /// <exception cref="KraitWrongKindException">not a sequence model</exception>
        public float[] Forward(int[] ids, long batch, long length,
                               CancellationToken cancellationToken = default(CancellationToken))
        {
            if (ids == null) throw Status.Argument("ids is null");
            if (batch * length != ids.Length)
                throw Status.Argument("ids holds " + ids.Length + " ids, batch * length is " + batch * length);
            return Call(cancellationToken, null, h =>
            {
                UIntPtr n;
                Status.Check(NativeMethods.krait_session_forward(h, ids, batch, length, null, UIntPtr.Zero, out n));
                float[] logits = new float[Size.ToInt(n, "logits")];
                Status.Check(NativeMethods.krait_session_forward(h, ids, batch, length, logits, n, out n));
                return logits;
            });
        }

        /// <summary>Appends tokens to the session's context in one pass (prefill) and returns the
        /// logits after the last one, float32 [vocab] (null when <paramref name="logits"/> is false).
        /// Aborted: the context is then empty, as after Reset.</summary>
        public float[] Append(int[] ids, bool logits = true,
                              CancellationToken cancellationToken = default(CancellationToken))
        {
            if (ids == null) throw Status.Argument("ids is null");
            return Call(cancellationToken, null, h =>
            {
                float[] output = logits ? new float[checked((int)Math.Max(1, _model.Info.VocabSize))] : null;
                Status.Check(NativeMethods.krait_session_append(h, ids, Size.Of(ids.Length), output,
                                                                Size.Of(output == null ? 0 : output.Length)));
                return output;
            });
        }

        /// <summary>Appends <paramref name="text"/>, encoded with the model's tokenizer without
        /// special tokens; returns the logits after it.</summary>
        public float[] Append(string text, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Append(Encode(text), true, cancellationToken);
        }

        /// <summary>Clears the context (krait_session_reset).</summary>
        public void Reset()
        {
            Call(CancellationToken.None, null, h => Status.Check(NativeMethods.krait_session_reset(h)));
        }

        /// <summary>Generates up to MaxNewTokens tokens after the session's context extended by
        /// <paramref name="prompt"/> (which may be empty if the context is not); the new tokens join
        /// the context (krait_session_generate).</summary>
        /// <param name="prompt">Prompt token ids (null or empty: continue the context).</param>
        /// <param name="options">Sampling, stop strings, per-call adapters; null = the library's defaults.</param>
        /// <param name="onToken">Streaming callback (see <see cref="TokenCallback"/>), or null.</param>
        /// <param name="cancellationToken">Aborts the call: OperationCanceledException.</param>
        public GenerationResult Generate(int[] prompt, GenerateOptions options = null, TokenCallback onToken = null,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            int[] ids = prompt ?? new int[0];
            return Call(cancellationToken, options == null ? null : options.Adapters, h => RunGenerate(h, ids, options, onToken));
        }

        /// <summary>Generates after <paramref name="prompt"/>, encoded with the model's tokenizer
        /// without special tokens (see the ids overload).</summary>
        public GenerationResult Generate(string prompt, GenerateOptions options = null, TokenCallback onToken = null,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            return Generate(Encode(prompt), options, onToken, cancellationToken);
        }

        /// <summary>The generation of <see cref="Generate(int[], GenerateOptions, TokenCallback, CancellationToken)"/>
        /// as a stream of text pieces (see <see cref="GenerationStream"/>).</summary>
        public GenerationStream GenerateStream(int[] prompt, GenerateOptions options = null,
                                               CancellationToken cancellationToken = default(CancellationToken))
        {
            return new GenerationStream((cb, token) => Generate(prompt, options, cb, token).Text, cancellationToken);
        }

        /// <summary>The generation after a text prompt as a stream of text pieces.</summary>
        public GenerationStream GenerateStream(string prompt, GenerateOptions options = null,
                                               CancellationToken cancellationToken = default(CancellationToken))
        {
            int[] ids = Encode(prompt);
            return GenerateStream(ids, options, cancellationToken);
        }

        internal GenerationResult RunGenerate(SessionHandle h, int[] prompt, GenerateOptions options,
                                              TokenCallback onToken)
        {
            var ids = new List<int>();
            TokenCallback collect = (id, piece) =>
            {
                ids.Add(id);
                return onToken != null && onToken(id, piece);
            };
            using (var call = new GenerationCall(options, collect))
            {
                int capacity = Math.Max(1, Math.Min(call.Params.max_new_tokens, 1 << 16));
                int[] output = new int[capacity];
                UIntPtr n;
                int status = NativeMethods.krait_session_generate(h, prompt, Size.Of(prompt.Length), ref call.Params,
                                                                  output, Size.Of(capacity), out n);
                KraitException error = Status.ToException(status);
                call.RethrowCallbackError();
                if (error != null) throw error;
                ulong count = n.ToUInt64();
                int[] result;
                if (count <= (ulong)capacity)
                {
                    result = new int[count];
                    Array.Copy(output, result, (int)count);
                }
                else
                {
                    result = ids.ToArray();  // more than the buffer: every token went through the callback
                }
                return new GenerationResult(result, call.Text);
            }
        }

        /// <summary>One reply to <paramref name="messages"/>, formatted by the model's chat
        /// template (krait_session_chat): keeps the longest common token prefix of what the session
        /// holds, prefills the rest and generates until the end of the turn. Calling it again with
        /// the reply and a new message appended reuses the session's state. For an assistant,
        /// messages may carry pictures (then it runs on a temporary <see cref="Conversation"/>).</summary>
        /// <returns>The reply's text.</returns>
        public string Chat(IEnumerable<ChatMessage> messages, GenerateOptions options = null,
                           TokenCallback onToken = null,
                           CancellationToken cancellationToken = default(CancellationToken))
        {
            if (messages == null) throw Status.Argument("messages is null");
            var list = new List<ChatMessage>(messages);
            bool images = false;
            foreach (ChatMessage m in list)
                if (m != null && m.Images != null && m.Images.Count > 0) images = true;
            if (!images) return ChatJson(Json.Messages(list), options, onToken, cancellationToken);
            using (Conversation conversation = CreateConversation())
            {
                foreach (ChatMessage m in list) conversation.AddMessage(m.Role, m.Content, m.Images);
                return conversation.Reply(options, onToken, cancellationToken);
            }
        }

        /// <summary>As <see cref="Chat"/>, with the messages as a JSON array in transformers' chat
        /// format (string contents or text parts; any field the template reads).</summary>
        public string ChatJson(string messagesJson, GenerateOptions options = null, TokenCallback onToken = null,
                               CancellationToken cancellationToken = default(CancellationToken))
        {
            byte[] json = Utf8.Z(messagesJson, "messages JSON");
            if (json == null) throw Status.Argument("messages JSON is null");
            return Call(cancellationToken, options == null ? null : options.Adapters, h =>
            {
                using (var call = new GenerationCall(options, onToken))
                {
                    UIntPtr n;
                    int status = NativeMethods.krait_session_chat(h, json, ref call.Params, IntPtr.Zero, UIntPtr.Zero,
                                                                  out n);
                    KraitException error = Status.ToException(status);
                    call.RethrowCallbackError();
                    if (error != null) throw error;
                    return call.Text;  // the whole reply went through on_token (krait.h)
                }
            });
        }

        /// <summary>The reply of <see cref="Chat"/> as a stream of text pieces.</summary>
        public GenerationStream ChatStream(IEnumerable<ChatMessage> messages, GenerateOptions options = null,
                                           CancellationToken cancellationToken = default(CancellationToken))
        {
            var list = new List<ChatMessage>(messages);
            return new GenerationStream((cb, token) => Chat(list, options, cb, token), cancellationToken);
        }

        // ---- session state --------------------------------------------------------------------

        /// <summary>A copy of the session's state (context tokens, model state, logits)
        /// (krait_session_snapshot).</summary>
        public State Snapshot()
        {
            return Call(CancellationToken.None, null, h =>
            {
                using (ParentRef model = ParentRef.TakeLive(h.Model))
                {
                    IntPtr s;
                    Status.Check(NativeMethods.krait_session_snapshot(h, out s));
                    return new State(new StateHandle(s, model.Transfer()));
                }
            });
        }

        /// <summary>Makes the session's state equal to <paramref name="state"/> (krait_session_restore).</summary>
        /// <exception cref="KraitInvalidArgumentException">a state of another model</exception>
        public void Restore(State state)
        {
            if (state == null) throw Status.Argument("state is null");
            Call(CancellationToken.None, null, h => Status.Check(NativeMethods.krait_session_restore(h, state.Handle)));
        }

        /// <summary>The context's tokens, oldest first (krait_session_get_tokens).</summary>
        public int[] Tokens
        {
            get
            {
                return Call(CancellationToken.None, null, h =>
                {
                    UIntPtr n;
                    Status.Check(NativeMethods.krait_session_get_tokens(h, null, UIntPtr.Zero, out n));
                    int[] ids = new int[Size.ToInt(n, "tokens")];
                    Status.Check(NativeMethods.krait_session_get_tokens(h, ids, n, out n));
                    return ids;
                });
            }
        }

        /// <summary>Keeps the first <paramref name="tokens"/> tokens of the context
        /// (krait_session_truncate). A Mamba state accepts only 0, the whole context or the tokens
        /// it has not run yet (KraitUnsupportedException otherwise: restore a snapshot instead).</summary>
        public void Truncate(long tokens)
        {
            Call(CancellationToken.None, null, h => Status.Check(NativeMethods.krait_session_truncate(h, tokens)));
        }

        /// <summary>Writes the session's state to a file (krait_session_save_state; atomic).</summary>
        public void SaveState(string path)
        {
            byte[] p = Utf8.Z(path, "path");
            Call(CancellationToken.None, null, h => Status.Check(NativeMethods.krait_session_save_state(h, p)));
        }

        /// <summary>Replaces the session's state with one saved by <see cref="SaveState"/>
        /// (krait_session_load_state).</summary>
        /// <exception cref="KraitIOException">missing file</exception>
        /// <exception cref="KraitFormatException">not a state file, damaged</exception>
        /// <exception cref="KraitInvalidArgumentException">a file of another model</exception>
        public void LoadState(string path)
        {
            byte[] p = Utf8.Z(path, "path");
            Call(CancellationToken.None, null, h => Status.Check(NativeMethods.krait_session_load_state(h, p)));
        }

        // ---- conversations ------------------------------------------------------------------------

        /// <summary>A conversation on this session (krait_conversation_create). The conversation
        /// holds a reference on the session; its calls are calls on the session.</summary>
        /// <param name="systemPrompt">Null, or the first message (role "system").</param>
        /// <param name="templateSource">Null for the model's chat template, or a Jinja template.</param>
        /// <param name="extraJson">Null, or a JSON object of extra template variables.</param>
        public Conversation CreateConversation(string systemPrompt = null, string templateSource = null,
                                               string extraJson = null)
        {
            byte[] system = Utf8.Z(systemPrompt, "system prompt");
            byte[] src = Utf8.Z(templateSource, "template");
            byte[] extra = Utf8.Z(extraJson, "extra JSON");
            return Call(CancellationToken.None, null, h =>
            {
                using (ParentRef parent = ParentRef.Take(h))
                {
                    IntPtr c;
                    Status.Check(NativeMethods.krait_conversation_create(h, system, src, extra, out c));
                    return new Conversation(this, new ConversationHandle(c, parent.Transfer()));
                }
            });
        }

        /// <summary>A conversation saved by <see cref="Conversation.Save"/>, with the session's
        /// state replaced by the saved one (krait_conversation_load). Pass the same template and
        /// variables as when it was created (they are not saved).</summary>
        public Conversation LoadConversation(string path, string templateSource = null, string extraJson = null)
        {
            byte[] p = Utf8.Z(path, "path");
            byte[] src = Utf8.Z(templateSource, "template");
            byte[] extra = Utf8.Z(extraJson, "extra JSON");
            return Call(CancellationToken.None, null, h =>
            {
                using (ParentRef parent = ParentRef.Take(h))
                {
                    IntPtr c;
                    Status.Check(NativeMethods.krait_conversation_load(h, p, src, extra, out c));
                    return new Conversation(this, new ConversationHandle(c, parent.Transfer()));
                }
            });
        }

        // ---- helpers --------------------------------------------------------------------------------

        /// <summary>The model's tokenizer, borrowed through the session's own reference on the model
        /// (so that it keeps working after the Model object was disposed; released with the
        /// session); null for a model without tokenizer.json. Text prompts are encoded with it.</summary>
        public Tokenizer Tokenizer
        {
            get
            {
                lock (_tokenizerLock)
                {
                    if (!_tokenizerQueried)
                    {
                        _tokenizer = Krait.Model.BorrowTokenizer(Handle.Model);
                        _tokenizerQueried = true;
                    }
                    return _tokenizer;
                }
            }
        }

        private int[] Encode(string text)
        {
            if (text == null) throw Status.Argument("prompt is null");
            Tokenizer t = Tokenizer;
            if (t == null)
                throw new KraitUnsupportedException("cannot use a text prompt: " + _model.Path + " has no tokenizer.json");
            return t.Encode(text, false);
        }

        /// <summary>Releases the session (its native memory goes once its conversations are
        /// released too). Safe to call twice; must not overlap a call running on another thread
        /// (such a call finishes first: the native session is freed after it).</summary>
        public void Dispose()
        {
            lock (_tokenizerLock)
            {
                if (_tokenizer != null) _tokenizer.Release();
            }
            _handle.Dispose();
        }
    }
}
