// Disposal, finalization, callbacks that throw, cancellation from another thread, and threads.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using NUnit.Framework;

namespace Krait.Tests
{
    [TestFixture]
    public class LifetimeTests
    {
        private const string Prompt = "Return the value of";

        [Test]
        public void EverythingMayBeDisposedTwice()
        {
            int open = Library.OpenHandleCount;
            Model m = Model.Load(Paths.ChatDemo);
            Session s = m.CreateSession();
            s.Append(m.Tokenizer.Encode("hello"));
            State st = s.Snapshot();
            Conversation c = s.CreateConversation();
            Tokenizer t = Tokenizer.Load(Paths.ChatDemo);
            Tokenizer borrowed = m.Tokenizer;
            Assert.AreEqual(open + 5, Library.OpenHandleCount, "model, session, state, conversation, tokenizer");
            foreach (IDisposable d in new IDisposable[] { c, st, s, t, borrowed, m })
            {
                d.Dispose();
                d.Dispose();
            }
            Assert.AreEqual(open, Library.OpenHandleCount);
        }

        [Test]
        public void UseAfterDisposeThrowsObjectDisposed()
        {
            Model m = Model.Load(Paths.ChatDemo);
            Session s = m.CreateSession();
            State st = s.Snapshot();
            Conversation c = s.CreateConversation();
            Tokenizer t = Tokenizer.Load(Paths.ChatDemo);
            Adapter a;
            using (Model mamba = Model.Load(Paths.MambaDemo))
            {
                a = mamba.LoadAdapter(Paths.MambaLora);
                a.Dispose();
                Assert.Throws<ObjectDisposedException>(() => a.GetLabel(0));
            }
            c.Dispose();
            Assert.Throws<ObjectDisposedException>(() => c.Say("hi"));
            Assert.Throws<ObjectDisposedException>(() => { int n = c.Count; });
            st.Dispose();
            Assert.Throws<ObjectDisposedException>(() => { long n = st.TokenCount; });
            Assert.Throws<ObjectDisposedException>(() => s.Restore(st));
            t.Dispose();
            Assert.Throws<ObjectDisposedException>(() => t.Encode("hi"));
            s.Dispose();
            Assert.Throws<ObjectDisposedException>(() => s.Generate(new[] { 1 }));
            Assert.Throws<ObjectDisposedException>(() => s.Abort());
            Assert.Throws<ObjectDisposedException>(() => { var tokens = s.Tokens; });
            Tokenizer borrowed = m.Tokenizer;
            m.Dispose();
            Assert.Throws<ObjectDisposedException>(() => m.CreateSession());
            Assert.Throws<ObjectDisposedException>(() => m.Describe());
            Assert.Throws<ObjectDisposedException>(() => borrowed.Encode("hi"), "a borrowed tokenizer goes with its model");
            Assert.Throws<ObjectDisposedException>(() => m.LoadAdapter(Paths.MambaLora));
        }

        [Test]
        public void ChildrenKeepTheirParentsAlive()
        {
            int open = Library.OpenHandleCount;
            Model m = Model.Load(Paths.ChatDemo);
            Session s = m.CreateSession();
            Conversation c = s.CreateConversation();
            string want;
            using (Session fresh = m.CreateSession())
            using (Conversation fc = fresh.CreateConversation())
                want = fc.Say("How much is the red teapot?", GenerateOptions.Greedy(20));
            m.Dispose();
            // The session still works: text prompts (its own borrowed tokenizer), snapshots.
            Assert.AreEqual(3, s.Generate("Hello", GenerateOptions.Greedy(3)).Ids.Length);
            using (State st = s.Snapshot()) Assert.Greater(st.TokenCount, 0);
            Assert.Throws<ObjectDisposedException>(() => m.CreateSession());
            s.Reset();
            s.Dispose();
            // The conversation still works: its session and model are alive natively.
            Assert.AreEqual(want, c.Say("How much is the red teapot?", GenerateOptions.Greedy(20)));
            Assert.AreEqual(open + 3, Library.OpenHandleCount);
            c.Dispose();
            Assert.AreEqual(open, Library.OpenHandleCount, "the conversation took its session and model with it");
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void LeakObjects(List<WeakReference> refs)
        {
            Model m = Model.Load(Paths.ChatDemo);
            Session s = m.CreateSession();
            s.Append(m.Tokenizer.Encode("hello there"));
            State st = s.Snapshot();
            Conversation c = s.CreateConversation();
            Adapter a = Model.Load(Paths.MambaDemo).LoadAdapter(Paths.MambaLora);
            Tokenizer t = Tokenizer.Load(Paths.ChatDemo);
            refs.AddRange(new object[] { m, s, st, c, a, t }.Select(o => new WeakReference(o)));
        }

        [Test]
        public void FinalizersReleaseWhatWasNotDisposed()
        {
            Gc.Full();
            int open = Library.OpenHandleCount;
            var refs = new List<WeakReference>();
            // On a thread of its own, so that no stack slot of this one keeps the objects.
            var thread = new Thread(() => LeakObjects(refs));
            thread.Start();
            thread.Join();
            Assert.AreEqual(open + 7, Library.OpenHandleCount, "2 models, session, state, conversation, adapter, tokenizer");
            Gc.Full();
            Assert.AreEqual(open, Library.OpenHandleCount, "every native object was released by the finalizers");
            Assert.IsTrue(refs.All(r => !r.IsAlive));
        }

        [Test]
        public void ACallbackThatThrowsReachesTheCallerAndTheSessionGoesOn()
        {
            using (Model m = Model.Load(Paths.MambaDemo))
            using (Session s = m.CreateSession())
            {
                int[] want;
                using (Session fresh = m.CreateSession()) want = fresh.Generate(Prompt, GenerateOptions.Greedy(10)).Ids;
                int calls = 0;
                var e = Assert.Throws<InvalidTimeZoneException>(() => s.Generate(Prompt, GenerateOptions.Greedy(50), (id, piece) =>
                {
                    if (++calls == 3) throw new InvalidTimeZoneException("thrown in the callback");
                    return false;
                }));
                Assert.AreEqual("thrown in the callback", e.Message);
                StringAssert.Contains("LifetimeTests", e.StackTrace, "the callback's own stack trace is kept");
                Assert.AreEqual(3, calls, "the generation stopped at the token that threw");
                s.Reset();
                CollectionAssert.AreEqual(want, s.Generate(Prompt, GenerateOptions.Greedy(10)).Ids);
                // In a stream the exception comes out of the enumeration.
                s.Reset();
                using (Conversation c = s.CreateConversation(null, "{% for m in messages %}{{ m['content'] }}{% endfor %}"))
                {
                    Assert.Throws<ArithmeticException>(() => c.Say("Return", GenerateOptions.Greedy(5),
                                                                    (id, piece) => { throw new ArithmeticException(); }));
                    Assert.AreEqual(0, c.Count, "a failed reply leaves the messages unchanged");
                }
            }
        }

        [Test]
        public void ACallbackMustNotCallBackIntoItsSession()
        {
            using (Model m = Model.Load(Paths.MambaDemo))
            using (Session s = m.CreateSession())
            using (Session other = m.CreateSession())
            {
                Assert.Throws<InvalidOperationException>(() => s.Generate(Prompt, GenerateOptions.Greedy(5),
                                                                          (id, piece) => { s.Reset(); return false; }));
                // Other sessions, the model and its tokenizer are fine.
                GenerationResult r = s.Generate(Prompt, GenerateOptions.Greedy(3), (id, piece) =>
                {
                    other.Forward(new[] { id });
                    m.Tokenizer.Decode(new[] { id });
                    return false;
                });
                Assert.AreEqual(3, r.Ids.Length);
            }
        }

        private static GenerateOptions Long()
        {
            var o = GenerateOptions.Greedy(1000000);
            o.StopAtEos = false;
            return o;
        }

        [Test, Timeout(60000)]
        public void ACancellationTokenStopsALongGenerationFromAnotherThread()
        {
            using (Model m = Model.Load(Paths.MambaDemo))
            using (Session s = m.CreateSession())
            using (var cts = new CancellationTokenSource())
            {
                int tokens = 0;
                var fiveTokens = new ManualResetEventSlim();
                var canceller = new Thread(() =>
                {
                    fiveTokens.Wait();
                    cts.Cancel();
                });
                canceller.Start();
                var watch = Stopwatch.StartNew();
                var e = Assert.Throws<OperationCanceledException>(() => s.Generate(Prompt, Long(), (id, piece) =>
                {
                    if (++tokens == 5) fiveTokens.Set();
                    return false;
                }, cts.Token));
                watch.Stop();
                canceller.Join();
                Assert.GreaterOrEqual(tokens, 5);
                Assert.AreEqual(cts.Token, e.CancellationToken);
                Assert.IsInstanceOf<KraitAbortedException>(e.InnerException);
                Assert.AreEqual(KraitStatus.Aborted, ((KraitException)e.InnerException).Status);
                Assert.Less(tokens, 1000000);
                Assert.Less(watch.ElapsedMilliseconds, 20000);
                // The context holds the prompt and the tokens generated so far (krait.h).
                Assert.AreEqual(m.Tokenizer.Encode(Prompt).Length + tokens, s.Tokens.Length);
                // No request is left pending: the next call runs.
                s.Reset();
                Assert.AreEqual(4, s.Generate(Prompt, GenerateOptions.Greedy(4)).Ids.Length);
            }
        }

        [Test, Timeout(60000)]
        public void CancellingAStreamThrowsFromTheEnumeration()
        {
            using (Model m = Model.Load(Paths.MambaDemo))
            using (Session s = m.CreateSession())
            using (var cts = new CancellationTokenSource())
            {
                int pieces = 0;
                Assert.Throws<OperationCanceledException>(() =>
                {
                    foreach (string piece in s.GenerateStream(Prompt, Long(), cts.Token))
                        if (++pieces == 5) cts.Cancel();
                });
                Assert.GreaterOrEqual(pieces, 5);
                s.Reset();
                Assert.AreEqual(2, s.Generate(Prompt, GenerateOptions.Greedy(2)).Ids.Length);
            }
        }

        [Test, Timeout(60000)]
        public void AbortFromAnotherThreadIsKraitAborted()
        {
            using (Model m = Model.Load(Paths.MambaDemo))
            using (Session s = m.CreateSession())
            {
                var started = new ManualResetEventSlim();
                var aborter = new Thread(() =>
                {
                    started.Wait();
                    Thread.Sleep(100);
                    s.Abort();
                });
                aborter.Start();
                var e = Assert.Throws<KraitAbortedException>(
                    () => s.Generate(Prompt, Long(), (id, piece) => { started.Set(); return false; }));
                aborter.Join();
                Assert.AreEqual(KraitStatus.Aborted, e.Status);
                // An abort with no call running stops the next one; ClearAbort withdraws it.
                s.Abort();
                s.ClearAbort();
                s.Reset();
                Assert.AreEqual(3, s.Generate(Prompt, GenerateOptions.Greedy(3)).Ids.Length);
            }
        }

        [Test, Timeout(120000)]
        public void TwoSessionsOnOneModelInTwoThreadsEqualSequential()
        {
            using (Model m = Model.Load(Paths.ChatDemo))
            {
                string[] questions = { "How much is the red teapot?", "How many black toasters do you have?",
                                       "What colours does the mug come in?", "How much is the green fan?" };
                var sequential = new string[questions.Length];
                using (Session s = m.CreateSession())
                    for (int i = 0; i < questions.Length; i++)
                    {
                        s.Reset();
                        sequential[i] = s.Chat(new[] { new ChatMessage("user", questions[i]) }, GenerateOptions.Greedy(30));
                    }
                float[] logitsSequential;
                int[] ids = m.Tokenizer.Encode("<|im_start|>user\nHow much is the blue vase?<|im_end|>\n");
                using (Session s = m.CreateSession()) logitsSequential = s.Forward(ids);

                var parallel = new string[questions.Length];
                var logitsParallel = new float[2][];
                Exception failure = null;
                var threads = new Thread[2];
                for (int t = 0; t < 2; t++)
                {
                    int which = t;
                    threads[t] = new Thread(() =>
                    {
                        try
                        {
                            using (Session s = m.CreateSession())
                                for (int round = 0; round < 3; round++)
                                    for (int i = which; i < questions.Length; i += 2)
                                    {
                                        s.Reset();
                                        parallel[i] = s.Chat(new[] { new ChatMessage("user", questions[i]) },
                                                             GenerateOptions.Greedy(30));
                                        logitsParallel[which] = s.Forward(ids);
                                    }
                        }
                        catch (Exception e)
                        {
                            failure = e;
                        }
                    });
                    threads[t].Start();
                }
                foreach (Thread t in threads) t.Join();
                Assert.IsNull(failure, failure == null ? "" : failure.ToString());
                CollectionAssert.AreEqual(sequential, parallel);
                Assert.AreEqual(0.0, Num.MaxAbsDiff(logitsSequential, logitsParallel[0]));
                Assert.AreEqual(0.0, Num.MaxAbsDiff(logitsSequential, logitsParallel[1]));
                Assert.AreEqual("The red teapot costs 17 euros.", parallel[0]);
            }
        }

        [Test, Timeout(120000)]
        public void OneSessionSharedByThreadsIsSerialized()
        {
            using (Model m = Model.Load(Paths.MambaDemo))
            using (Session s = m.CreateSession())
            {
                int[] ids = m.Tokenizer.Encode(Prompt);
                float[] want = s.Forward(ids);
                var results = new float[4][];
                var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
                {
                    for (int k = 0; k < 5; k++) results[i] = s.Forward(ids);
                })).ToArray();
                foreach (Thread t in threads) t.Start();
                foreach (Thread t in threads) t.Join();
                foreach (float[] r in results) Assert.AreEqual(0.0, Num.MaxAbsDiff(want, r));
            }
        }
    }
}
