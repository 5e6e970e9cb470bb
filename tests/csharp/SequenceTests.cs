// Sequence sessions on models/mamba-demo (Mamba) and models/chat-demo (Llama): forward, append,
// generate, streaming, stop strings, sampling, state.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using NUnit.Framework;

namespace Krait.Tests
{
    [TestFixture]
    public class SequenceTests
    {
        private Model _mamba;
        private Model _llama;
        private const string Prompt = "Return the value of";

        [TestFixtureSetUp]
        public void Load()
        {
            _mamba = Model.Load(Paths.MambaDemo);
            _llama = Model.Load(Paths.ChatDemo);
        }

        [TestFixtureTearDown]
        public void Free()
        {
            _mamba.Dispose();
            _llama.Dispose();
        }

        private int[] Ids(string text) { return _mamba.Tokenizer.Encode(text); }

        [Test]
        public void ForwardHasOneRowOfLogitsPerToken()
        {
            using (Session s = _mamba.CreateSession())
            {
                int[] ids = Ids(Prompt);
                float[] logits = s.Forward(ids);
                Assert.AreEqual(ids.Length * 4096, logits.Length);
                Assert.IsTrue(logits.All(x => !float.IsNaN(x) && !float.IsInfinity(x)));
            }
        }

        [Test]
        public void BatchedForwardEqualsOneRowAtATime()
        {
            using (Session s = _mamba.CreateSession())
            {
                int[] a = Ids("The value of the attribute");
                int[] b = Ids("Raises an error if it is");
                int length = Math.Min(a.Length, b.Length);
                a = a.Take(length).ToArray();
                b = b.Take(length).ToArray();
                float[] both = s.Forward(a.Concat(b).ToArray(), 2, length);
                float[] ra = s.Forward(a), rb = s.Forward(b);
                Assert.Less(Num.MaxAbsDiff(Num.Slice(both, 0, ra.Length), ra), 1e-4);
                Assert.Less(Num.MaxAbsDiff(Num.Slice(both, ra.Length, rb.Length), rb), 1e-4);
            }
        }

        [Test]
        public void GreedyGenerationEqualsAnArgmaxLoopOverForward()
        {
            using (Session s = _mamba.CreateSession())
            {
                var ids = new List<int>(Ids(Prompt));
                var expected = new List<int>();
                for (int i = 0; i < 12; i++)
                {
                    float[] logits = s.Forward(ids.ToArray());
                    int next = Num.ArgMax(logits, (ids.Count - 1) * 4096, 4096);
                    expected.Add(next);
                    ids.Add(next);
                }
                var options = GenerateOptions.Greedy(12);
                options.StopAtEos = false;
                GenerationResult r = s.Generate(Ids(Prompt), options);
                CollectionAssert.AreEqual(expected, r.Ids);
                Assert.AreEqual(_mamba.Tokenizer.Decode(expected.ToArray(), true), r.Text);
            }
        }

        [Test]
        public void AppendGivesTheLogitsOfForwardsLastRow()
        {
            using (Session s = _mamba.CreateSession())
            {
                int[] ids = Ids(Prompt);
                float[] all = s.Forward(ids);
                float[] last = s.Append(ids);
                Assert.AreEqual(4096, last.Length);
                Assert.Less(Num.MaxAbsDiff(Num.Slice(all, (ids.Length - 1) * 4096, 4096), last), 1e-4);
                CollectionAssert.AreEqual(ids, s.Tokens);
                Assert.IsNull(s.Append(Ids(" the"), false));
                Assert.AreEqual(ids.Length + Ids(" the").Length, s.Tokens.Length);
                s.Reset();
                Assert.AreEqual(0, s.Tokens.Length);
            }
        }

        [Test]
        public void GenerationContinuesTheContext()
        {
            using (Session a = _mamba.CreateSession())
            using (Session b = _mamba.CreateSession())
            {
                var options = GenerateOptions.Greedy(8);
                GenerationResult whole = a.Generate(Prompt, options);
                b.Append(Ids(Prompt));
                GenerationResult after = b.Generate((int[])null, options);
                CollectionAssert.AreEqual(whole.Ids, after.Ids);
                CollectionAssert.AreEqual(Ids(Prompt).Concat(whole.Ids).ToArray(), a.Tokens);
            }
        }

        [Test]
        public void StreamingCallbackSeesEveryTokenAndPiece()
        {
            using (Session s = _mamba.CreateSession())
            {
                var ids = new List<int>();
                var text = new StringBuilder();
                GenerationResult r = s.Generate(Prompt, GenerateOptions.Greedy(20), (id, piece) =>
                {
                    ids.Add(id);
                    text.Append(piece);
                    return false;
                });
                CollectionAssert.AreEqual(r.Ids, ids);
                Assert.AreEqual(r.Text, text.ToString());
                Assert.IsNotEmpty(r.Text);
            }
        }

        [Test]
        public void CallbackReturningTrueStopsAfterThatToken()
        {
            using (Session s = _mamba.CreateSession())
            {
                int calls = 0;
                GenerationResult r = s.Generate(Prompt, GenerateOptions.Greedy(20), (id, piece) => ++calls == 3);
                Assert.AreEqual(3, calls);
                Assert.AreEqual(3, r.Ids.Length);
            }
        }

        [Test]
        public void GenerateStreamYieldsTheTextOfGenerate()
        {
            using (Session s = _mamba.CreateSession())
            {
                var options = GenerateOptions.Greedy(24);
                string expected = s.Generate(Prompt, options).Text;
                s.Reset();
                GenerationStream stream = s.GenerateStream(Prompt, options);
                var pieces = new List<string>();
                foreach (string piece in stream) pieces.Add(piece);
                Assert.Greater(pieces.Count, 1, "streamed in several pieces");
                Assert.AreEqual(expected, string.Concat(pieces));
                Assert.AreEqual(expected, stream.Result);
                Assert.AreEqual(24, stream.Ids.Length);
                Assert.Throws<InvalidOperationException>(() => stream.GetEnumerator());
            }
        }

        [Test]
        public void LeavingAStreamEarlyStopsItAndTheSessionGoesOn()
        {
            using (Session s = _mamba.CreateSession())
            {
                var options = GenerateOptions.Greedy(5000);
                options.StopAtEos = false;
                int n = 0;
                foreach (string piece in s.GenerateStream(Prompt, options))
                    if (++n == 3) break;
                Assert.Less(s.Tokens.Length, 1000, "the generation stopped when the loop was left");
                s.Reset();
                CollectionAssert.AreEqual(FreshGreedy(Prompt, 6), s.Generate(Prompt, GenerateOptions.Greedy(6)).Ids);
            }
        }

        private int[] FreshGreedy(string prompt, int n)
        {
            using (Session fresh = _mamba.CreateSession()) return fresh.Generate(prompt, GenerateOptions.Greedy(n)).Ids;
        }

        [Test]
        public void StopStringsCutTheText()
        {
            using (Session s = _mamba.CreateSession())
            {
                var options = GenerateOptions.Greedy(40);
                options.StopAtEos = false;
                string full = s.Generate(Prompt, options).Text;
                // Stop at a word that occurs in the greedy text: the text ends right before it.
                string word = full.Split(new[] { ' ', '\n' }, StringSplitOptions.RemoveEmptyEntries)
                                  .First(w => w.Length >= 3 && full.IndexOf(w, StringComparison.Ordinal) > 0);
                int at = full.IndexOf(word, StringComparison.Ordinal);
                s.Reset();
                options.StopStrings = new List<string> { word, "never-seen-\u00e9" };
                GenerationResult r = s.Generate(Prompt, options);
                Assert.AreEqual(full.Substring(0, at), r.Text);
                Assert.Less(r.Ids.Length, 40);
            }
        }

        [Test]
        public void SamplingIsSeededAndSettingsAreChecked()
        {
            using (Session s = _mamba.CreateSession())
            {
                var options = new GenerateOptions { MaxNewTokens = 16, Temperature = 1.2f, TopK = 0, Seed = 7, StopAtEos = false };
                int[] first = s.Generate(Prompt, options).Ids;
                s.Reset();
                CollectionAssert.AreEqual(first, s.Generate(Prompt, options).Ids, "same seed, same tokens");
                var differ = 0;
                for (ulong seed = 100; seed < 104; seed++)
                {
                    s.Reset();
                    options.Seed = seed;
                    if (!s.Generate(Prompt, options).Ids.SequenceEqual(first)) differ++;
                }
                Assert.Greater(differ, 0, "other seeds give other samples");
                s.Reset();
                options.TopK = 1;
                int[] topOne = s.Generate(Prompt, options).Ids;
                s.Reset();
                CollectionAssert.AreEqual(s.Generate(Prompt, new GenerateOptions { MaxNewTokens = 16, Temperature = 0f, StopAtEos = false }).Ids,
                                          topOne, "top_k 1 samples the argmax");
                s.Reset();
                var e = Assert.Throws<KraitInvalidArgumentException>(
                    () => s.Generate(Prompt, new GenerateOptions { TopP = 1.5f }));
                StringAssert.Contains("top_p", e.Message);
                Assert.Throws<KraitInvalidArgumentException>(() => s.Generate(Prompt, new GenerateOptions { MaxNewTokens = 0 }));
                Assert.Throws<KraitInvalidArgumentException>(() => s.Generate(Prompt, new GenerateOptions { Temperature = -1f }));
            }
        }

        [Test]
        public void OutOfRangeTokenIdsAreRefused()
        {
            using (Session s = _mamba.CreateSession())
            {
                var e = Assert.Throws<KraitInvalidArgumentException>(() => s.Forward(new[] { 1, 4096 }));
                StringAssert.Contains("4096", e.Message);
                Assert.Throws<KraitInvalidArgumentException>(() => s.Append(new[] { -3 }));
                Assert.Throws<KraitInvalidArgumentException>(() => s.Generate(new[] { 70000 }));
                Assert.Throws<KraitInvalidArgumentException>(() => s.Generate(new int[0]), "empty prompt on an empty context");
                Assert.Throws<KraitInvalidArgumentException>(() => s.Forward(new[] { 1, 2, 3 }, 2, 2));
                Assert.AreEqual(0, s.Tokens.Length, "nothing was appended");
            }
        }

        [Test]
        public void SnapshotAndRestoreResumeExactly()
        {
            using (Session s = _mamba.CreateSession())
            {
                s.Append(Ids(Prompt));
                using (State state = s.Snapshot())
                {
                    Assert.AreEqual(Ids(Prompt).Length, state.TokenCount);
                    int[] first = s.Generate((int[])null, GenerateOptions.Greedy(10)).Ids;
                    s.Restore(state);
                    CollectionAssert.AreEqual(Ids(Prompt), s.Tokens);
                    CollectionAssert.AreEqual(first, s.Generate((int[])null, GenerateOptions.Greedy(10)).Ids);
                    using (Session other = _mamba.CreateSession())
                    {
                        other.Restore(state);
                        CollectionAssert.AreEqual(first, other.Generate((int[])null, GenerateOptions.Greedy(10)).Ids);
                    }
                    using (Session llama = _llama.CreateSession())
                        Assert.Throws<KraitInvalidArgumentException>(() => llama.Restore(state), "a state of another model");
                }
            }
        }

        [Test]
        public void TruncateFollowsTheStateKind()
        {
            using (Session mamba = _mamba.CreateSession())
            {
                mamba.Append(Ids(Prompt));
                var e = Assert.Throws<KraitUnsupportedException>(() => mamba.Truncate(1));
                Assert.AreEqual(KraitStatus.Unsupported, e.Status);
                Assert.Throws<KraitInvalidArgumentException>(() => mamba.Truncate(1000));
                mamba.Truncate(0);
                Assert.AreEqual(0, mamba.Tokens.Length);
            }
            using (Session llama = _llama.CreateSession())
            {
                int[] ids = _llama.Tokenizer.Encode("How much is the red teapot?");
                llama.Append(ids);
                llama.Truncate(3);
                CollectionAssert.AreEqual(ids.Take(3).ToArray(), llama.Tokens);
                // The KV cache was cut: appending the rest gives the logits of the whole prompt.
                float[] logits = llama.Append(ids.Skip(3).ToArray());
                float[] reference = llama.Forward(ids);
                Assert.Less(Num.MaxAbsDiff(Num.Slice(reference, (ids.Length - 1) * 464, 464), logits), 1e-3);
            }
        }

        [Test]
        public void StateFilesRoundTripAndDamageIsRefused()
        {
            string dir = Paths.TempDir();
            try
            {
                string file = Path.Combine(dir, "state.krait");
                int[] expected;
                using (Session s = _mamba.CreateSession())
                {
                    s.Append(Ids(Prompt));
                    s.SaveState(file);
                    expected = s.Generate((int[])null, GenerateOptions.Greedy(8)).Ids;
                }
                using (Session s = _mamba.CreateSession())
                {
                    s.LoadState(file);
                    CollectionAssert.AreEqual(Ids(Prompt), s.Tokens);
                    CollectionAssert.AreEqual(expected, s.Generate((int[])null, GenerateOptions.Greedy(8)).Ids);
                    Assert.Throws<KraitIOException>(() => s.LoadState(Path.Combine(dir, "missing.krait")));
                    File.WriteAllText(Path.Combine(dir, "junk.krait"), "this is not a state file at all");
                    Assert.Throws<KraitFormatException>(() => s.LoadState(Path.Combine(dir, "junk.krait")));
                    byte[] bytes = File.ReadAllBytes(file);
                    bytes[bytes.Length / 2] ^= 0x55;
                    File.WriteAllBytes(Path.Combine(dir, "damaged.krait"), bytes);
                    Assert.Throws<KraitFormatException>(() => s.LoadState(Path.Combine(dir, "damaged.krait")));
                }
                using (Session llama = _llama.CreateSession())
                    Assert.Throws<KraitInvalidArgumentException>(() => llama.LoadState(file));
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        [Test]
        public void ContextLengthBoundsAKvCache()
        {
            using (Session s = _llama.CreateSession(new SessionOptions { ContextLength = 8 }))
            {
                var e = Assert.Throws<KraitInvalidArgumentException>(
                    () => s.Append(_llama.Tokenizer.Encode("How much is the red teapot? And the blue one, please?")));
                StringAssert.Contains("8", e.Message);
            }
            Assert.Throws<KraitInvalidArgumentException>(
                () => _llama.CreateSession(new SessionOptions { ContextLength = -1 }));
        }

        [Test]
        public void SetThreadsChecksItsArgument()
        {
            using (Session s = _mamba.CreateSession(new SessionOptions { Threads = 1 }))
            {
                int[] one = s.Generate(Prompt, GenerateOptions.Greedy(6)).Ids;
                s.SetThreads(2);
                s.Reset();
                CollectionAssert.AreEqual(one, s.Generate(Prompt, GenerateOptions.Greedy(6)).Ids);
                Assert.Throws<KraitInvalidArgumentException>(() => s.SetThreads(-1));
            }
        }

        [Test]
        public void ClassifierCallsOnALanguageModelAreTheWrongKind()
        {
            using (Session s = _mamba.CreateSession())
            {
                var e = Assert.Throws<KraitWrongKindException>(() => s.ClassifyFile(Paths.Sample("digit_7.png")));
                Assert.AreEqual(KraitStatus.WrongKind, e.Status);
                Assert.IsNotEmpty(e.Message);
                Assert.Throws<KraitWrongKindException>(() => { long n = s.NumLabels; });
                Assert.Throws<KraitWrongKindException>(() => s.EncodeImages(ImageBatch.FromPixels(new float[3 * 4 * 4], 1, 4, 4)));
                Assert.Throws<KraitWrongKindException>(() => _mamba.ImagePrompt("hi", 1));
            }
        }
    }
}
