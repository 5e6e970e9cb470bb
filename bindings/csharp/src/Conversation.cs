// Conversations: the messages of a chat on a sequence or assistant session.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;

namespace Krait
{
    /// <summary>What the last successful reply of a conversation cost (krait_conversation_stats).</summary>
    public sealed class ConversationStats
    {
        internal ConversationStats(NativeMethods.ConversationStats s)
        {
            PromptTokens = s.prompt_tokens;
            ReusedTokens = s.reused_tokens;
            PrefilledTokens = s.prefilled_tokens;
            GeneratedTokens = s.generated_tokens;
            ImagesEncoded = s.images_encoded;
            ImagesCached = s.images_cached;
        }

        /// <summary>Tokens of the rendered prompt of the last reply.</summary>
        public long PromptTokens { get; private set; }
        /// <summary>Of those, already held by the session.</summary>
        public long ReusedTokens { get; private set; }
        /// <summary>Of those, run through the model.</summary>
        public long PrefilledTokens { get; private set; }
        /// <summary>Tokens generated, the end token included.</summary>
        public long GeneratedTokens { get; private set; }
        /// <summary>Images of the last reply that went through the image encoder.</summary>
        public long ImagesEncoded { get; private set; }
        /// <summary>Images of the last reply whose rows came from the session's image cache.</summary>
        public long ImagesCached { get; private set; }
    }

    /// <summary>
    /// A conversation (krait_conversation): the messages of a chat, rendered with the model's chat
    /// template; each reply computes only the tokens its session does not hold yet. Created by
    /// <see cref="Session.CreateConversation"/> or <see cref="Session.LoadConversation"/>; it holds
    /// a reference on its session, and its calls are calls on that session (serialized with the
    /// session's other calls; abort them with <see cref="Session.Abort"/> or a CancellationToken).
    /// A reply that fails, is aborted or cancelled, or whose token callback throws leaves the
    /// messages unchanged (the binding takes back the partial reply a throwing callback left).
    /// </summary>
    public sealed class Conversation : IDisposable
    {
        private readonly Session _session;
        private readonly ConversationHandle _handle;

        internal Conversation(Session session, ConversationHandle handle)
        {
            _session = session;
            _handle = handle;
        }

        /// <summary>The session the conversation runs on.</summary>
        public Session Session { get { return _session; } }

        private ConversationHandle Handle
        {
            get
            {
                if (_handle.IsDisposed) throw new ObjectDisposedException("Conversation");
                return _handle;
            }
        }

        /// <summary>Appends a message without replying (krait_conversation_add_message).</summary>
        /// <param name="role">"user", "assistant", "system", ... (any role the template accepts).</param>
        /// <param name="content">The text.</param>
        public void AddMessage(string role, string content)
        {
            AddMessage(role, content, null);
        }

        /// <summary>Appends a message with pictures (assistants) without replying
        /// (krait_conversation_add_message_images; no pictures: krait_conversation_add_message).</summary>
        public void AddMessage(string role, string content, ImageBatch images)
        {
            byte[] r = Utf8.Z(role, "role");
            byte[] c = Utf8.Z(content, "content");
            ConversationHandle ch = Handle;
            _session.Call(CancellationToken.None, null, true, h =>
            {
                if (images == null || images.Count == 0)
                    Status.Check(NativeMethods.krait_conversation_add_message(ch, r, c));
                else
                    Status.Check(NativeMethods.krait_conversation_add_message_images(
                        ch, r, c, images.Joined(), images.Count, images.Height, images.Width));
            });
        }

        /// <summary>Adds <paramref name="text"/> as a user message and returns the assistant's
        /// reply, which joins the messages (krait_conversation_say). On error neither stays.</summary>
        public string Say(string text, GenerateOptions options = null, TokenCallback onToken = null,
                          CancellationToken cancellationToken = default(CancellationToken))
        {
            return Say(text, null, options, onToken, cancellationToken);
        }

        /// <summary>Adds a user message with pictures (assistants: the pictures render before the
        /// text) and returns the reply (krait_conversation_say_images). Later questions reuse the
        /// pictures' state.</summary>
        public string Say(string text, ImageBatch images, GenerateOptions options = null, TokenCallback onToken = null,
                          CancellationToken cancellationToken = default(CancellationToken))
        {
            byte[] t = Utf8.Z(text, "text");
            if (t == null) throw Status.Argument("text is null");
            bool withImages = images != null && images.Count > 0;
            return Generate(options, onToken, cancellationToken, ReplyKind.Say, (ch, call) => withImages
                ? NativeMethods.krait_conversation_say_images(ch, t, images.Joined(), images.Count, images.Height,
                                                              images.Width, ref call.Params)
                : NativeMethods.krait_conversation_say(ch, t, ref call.Params));
        }

        /// <summary>The assistant's reply to the messages so far, which joins them
        /// (krait_conversation_reply).</summary>
        public string Reply(GenerateOptions options = null, TokenCallback onToken = null,
                            CancellationToken cancellationToken = default(CancellationToken))
        {
            return Generate(options, onToken, cancellationToken, ReplyKind.Reply,
                            (ch, call) => NativeMethods.krait_conversation_reply(ch, ref call.Params));
        }

        /// <summary>Replaces the last reply with a new one (other sampling settings or seed)
        /// (krait_conversation_regenerate).</summary>
        /// <exception cref="KraitInvalidArgumentException">the last message is not a reply</exception>
        public string Regenerate(GenerateOptions options = null, TokenCallback onToken = null,
                                 CancellationToken cancellationToken = default(CancellationToken))
        {
            return Generate(options, onToken, cancellationToken, ReplyKind.Regenerate,
                            (ch, call) => NativeMethods.krait_conversation_regenerate(ch, ref call.Params));
        }

        /// <summary><see cref="Say(string, ImageBatch, GenerateOptions, TokenCallback, CancellationToken)"/>
        /// as a stream of text pieces; <see cref="GenerationStream.Result"/> is the reply.</summary>
        public GenerationStream SayStream(string text, ImageBatch images = null, GenerateOptions options = null,
                                          CancellationToken cancellationToken = default(CancellationToken))
        {
            return new GenerationStream((cb, token) => Say(text, images, options, cb, token), cancellationToken);
        }

        /// <summary><see cref="Reply"/> as a stream of text pieces.</summary>
        public GenerationStream ReplyStream(GenerateOptions options = null,
                                            CancellationToken cancellationToken = default(CancellationToken))
        {
            return new GenerationStream((cb, token) => Reply(options, cb, token), cancellationToken);
        }

        /// <summary><see cref="Regenerate"/> as a stream of text pieces.</summary>
        public GenerationStream RegenerateStream(GenerateOptions options = null,
                                                 CancellationToken cancellationToken = default(CancellationToken))
        {
            return new GenerationStream((cb, token) => Regenerate(options, cb, token), cancellationToken);
        }

        private delegate int ReplyCall(ConversationHandle ch, GenerationCall call);

        private enum ReplyKind { Say, Reply, Regenerate }

        private string Generate(GenerateOptions options, TokenCallback onToken, CancellationToken ct, ReplyKind kind,
                                ReplyCall body)
        {
            ConversationHandle ch = Handle;
            return _session.Call(ct, options == null ? null : options.Adapters, true, h =>
            {
                int before = CountOf(ch);
                string last = before > 0 ? MessageAt(ch, before - 1).Content : null;
                using (var call = new GenerationCall(options, onToken))
                {
                    int status = body(ch, call);
                    KraitException error = Status.ToException(status);
                    if (call.Error != null && status == 0) Restore(ch, kind, before, last);
                    call.RethrowCallbackError();
                    if (error != null) throw error;
                    return MessageAt(ch, CountOf(ch) - 1).Content;
                }
            });
        }

        /// <summary>After a reply stopped by a callback that threw (the library saw a normal stop
        /// and kept the partial reply): puts the messages back as they were, as after any failed
        /// reply.</summary>
        private static void Restore(ConversationHandle ch, ReplyKind kind, int before, string last)
        {
            int now = CountOf(ch);
            if (kind == ReplyKind.Say && now == before + 2)
                Status.Check(NativeMethods.krait_conversation_undo(ch));  // the user message and the partial reply
            else if (kind == ReplyKind.Reply && now == before + 1 && before > 0)
                Status.Check(NativeMethods.krait_conversation_edit(ch, Size.Of(before - 1), Utf8.Z(last, "content")));
            else if (kind == ReplyKind.Regenerate && now == before && before > 0)
                Status.Check(NativeMethods.krait_conversation_edit(ch, Size.Of(before - 1), Utf8.Z(last, "content")));
        }

        /// <summary>Removes the last user message and every message after it
        /// (krait_conversation_undo). Computes nothing.</summary>
        public void Undo()
        {
            ConversationHandle ch = Handle;
            _session.Call(CancellationToken.None, null, true, h => Status.Check(NativeMethods.krait_conversation_undo(ch)));
        }

        /// <summary>Replaces message <paramref name="index"/>'s content (0 = the first, the system
        /// prompt if any) and drops every later message (krait_conversation_edit).</summary>
        public void Edit(int index, string content)
        {
            if (index < 0) throw Status.Argument("index " + index + " is negative");
            byte[] c = Utf8.Z(content, "content");
            ConversationHandle ch = Handle;
            _session.Call(CancellationToken.None, null, true,
                          h => Status.Check(NativeMethods.krait_conversation_edit(ch, Size.Of(index), c)));
        }

        /// <summary>The number of messages.</summary>
        public int Count
        {
            get
            {
                ConversationHandle ch = Handle;
                return _session.Call(CancellationToken.None, null, true, h => CountOf(ch));
            }
        }

        /// <summary>Message <paramref name="index"/> (role and content).</summary>
        public ChatMessage GetMessage(int index)
        {
            if (index < 0) throw Status.Argument("index " + index + " is negative");
            ConversationHandle ch = Handle;
            return _session.Call(CancellationToken.None, null, true, h => MessageAt(ch, index));
        }

        /// <summary>All messages, oldest first (a copy).</summary>
        public IList<ChatMessage> Messages
        {
            get
            {
                ConversationHandle ch = Handle;
                return _session.Call(CancellationToken.None, null, true, h =>
                {
                    int n = CountOf(ch);
                    var list = new List<ChatMessage>(n);
                    for (int i = 0; i < n; i++) list.Add(MessageAt(ch, i));
                    return (IList<ChatMessage>)list.AsReadOnly();
                });
            }
        }

        /// <summary>The prompt the next reply would run, as the chat template renders the
        /// messages (krait_conversation_render; for debugging).</summary>
        public string Render(bool addGenerationPrompt = true)
        {
            ConversationHandle ch = Handle;
            return _session.Call(CancellationToken.None, null, true, h =>
            {
                UIntPtr n;
                Status.Check(NativeMethods.krait_conversation_render(ch, addGenerationPrompt ? 1 : 0, null,
                                                                     UIntPtr.Zero, out n));
                byte[] text = new byte[Size.ToInt(n, "text")];
                Status.Check(NativeMethods.krait_conversation_render(ch, addGenerationPrompt ? 1 : 0, text, n, out n));
                return Utf8.Decode(text, Size.ToInt(n, "text"));
            });
        }

        /// <summary>What the last successful reply cost (all 0 before the first).</summary>
        public ConversationStats Stats
        {
            get
            {
                ConversationHandle ch = Handle;
                return _session.Call(CancellationToken.None, null, true, h =>
                {
                    var s = new NativeMethods.ConversationStats();
                    s.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.ConversationStats));
                    Status.Check(NativeMethods.krait_conversation_get_stats(ch, ref s));
                    return new ConversationStats(s);
                });
            }
        }

        /// <summary>Writes the messages (with their pictures) and the session's state to a file
        /// (krait_conversation_save; atomic). Load it with <see cref="Session.LoadConversation"/>.</summary>
        public void Save(string path)
        {
            byte[] p = Utf8.Z(path, "path");
            ConversationHandle ch = Handle;
            _session.Call(CancellationToken.None, null, true, h => Status.Check(NativeMethods.krait_conversation_save(ch, p)));
        }

        private static int CountOf(ConversationHandle ch)
        {
            UIntPtr n;
            Status.Check(NativeMethods.krait_conversation_get_n_messages(ch, out n));
            return Size.ToInt(n, "messages");
        }

        private static ChatMessage MessageAt(ConversationHandle ch, int index)
        {
            IntPtr role, content;
            Status.Check(NativeMethods.krait_conversation_get_message(ch, Size.Of(index), out role, out content));
            return new ChatMessage(Utf8.FromNative(role), Utf8.FromNative(content));
        }

        /// <summary>Releases the conversation (the session keeps its context). Safe to call twice.</summary>
        public void Dispose()
        {
            _handle.Dispose();
        }
    }
}
