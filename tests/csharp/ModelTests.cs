// Models (load, info, describe, labels, chat template, errors) and tokenizers.
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
    public class ModelTests
    {
        [Test]
        public void SequenceModelInfo()
        {
            using (Model m = Model.Load(Paths.MambaDemo))
            {
                Assert.AreEqual(ModelKind.Sequence, m.Kind);
                Assert.AreEqual("mamba", m.Info.Architecture);
                Assert.AreEqual(4096, m.Info.VocabSize);
                Assert.AreEqual(m.Info.VocabSize, m.Tokenizer.VocabSize);
                Assert.Greater(m.Info.StateSize, 0);
                Assert.AreEqual(990848, m.Info.NumParameters, "the model card's parameter count");
                Assert.AreEqual(-1, m.Info.ImageTokenId);
                Assert.AreEqual(0, m.Info.NumLabels);
                CollectionAssert.Contains(new[] { "F32", "F16", "BF16" }, m.Info.SourceDtype);
                Assert.AreEqual("", m.Describe(), "only ONNX graphs have a description");
                Assert.AreEqual(0, m.Labels.Count);
            }
        }

        [Test]
        public void ClassifierInfoAndLabels()
        {
            using (Model m = Model.Load(Paths.VitDigits))
            {
                Assert.AreEqual(ModelKind.Classifier, m.Kind);
                Assert.AreEqual("vit", m.Info.Architecture);
                Assert.AreEqual(10, m.Info.NumLabels);
                Assert.AreEqual(32, m.Info.ImageHeight);
                Assert.AreEqual(32, m.Info.ImageWidth);
                CollectionAssert.AreEqual(Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray(), m.Labels.ToArray());
                Assert.IsNull(m.Tokenizer, "a classifier has no tokenizer");
                var e = Assert.Throws<KraitInvalidArgumentException>(() => m.GetLabel(10));
                StringAssert.Contains("10", e.Message);
                Assert.AreEqual(KraitStatus.InvalidArgument, e.Status);
            }
        }

        [Test]
        public void OnnxModelIsDescribed()
        {
            string onnx = Path.Combine(Paths.Models("vit-digits-onnx"), "model.onnx");
            using (Model m = Model.Load(onnx))
            {
                Assert.AreEqual(ModelKind.Classifier, m.Kind);
                StringAssert.Contains("opset", m.Describe().ToLowerInvariant());
            }
        }

        [Test]
        public void MissingDirectoryIsAnIOErrorNamingIt()
        {
            string missing = Path.Combine(Paths.Root, "models", "no-such-model");
            var e = Assert.Throws<KraitIOException>(() => Model.Load(missing));
            StringAssert.Contains("no-such-model", e.Message);
            Assert.AreEqual(KraitStatus.IO, e.Status);
        }

        [Test]
        public void MalformedConfigIsAFormatError()
        {
            string dir = Paths.TempDir();
            try
            {
                File.WriteAllText(Path.Combine(dir, "config.json"), "{ this is not json");
                var e = Assert.Throws<KraitFormatException>(() => Model.Load(dir));
                StringAssert.Contains("config.json", e.Message);
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        [Test]
        public void PreprocessorConfigOnALanguageModelIsRefused()
        {
            var options = new ModelOptions { PreprocessorConfig = "{\"do_resize\": true}" };
            var e = Assert.Throws<KraitInvalidArgumentException>(() => Model.Load(Paths.MambaDemo, options));
            StringAssert.Contains("preprocessor", e.Message.ToLowerInvariant());
        }

        [Test]
        public void PreprocessorConfigChangesAClassifiersInput()
        {
            using (Model plain = Model.Load(Paths.VitDigits))
            using (Model other = Model.Load(Paths.VitDigits, new ModelOptions
            {
                PreprocessorConfig = "{\"do_normalize\": false, \"do_rescale\": true, \"rescale_factor\": 0.00392156862745098}"
            }))
            {
                float[] a = plain.PreprocessImage(Paths.Sample("digit_7.png"));
                float[] b = other.PreprocessImage(Paths.Sample("digit_7.png"));
                Assert.AreEqual(a.Length, b.Length);
                Assert.GreaterOrEqual(b.Min(), 0f);
                Assert.LessOrEqual(b.Max(), 1f);
                Assert.Greater(Num.MaxAbsDiff(a, b), 0.01);
            }
        }

        [Test]
        public void NulInAPathIsRefusedBeforeTheCall()
        {
            var e = Assert.Throws<KraitInvalidArgumentException>(() => Model.Load("models\0mamba-demo"));
            StringAssert.Contains("NUL", e.Message);
        }

        [Test]
        public void NonAsciiPathsTravelAsUtf8()
        {
            string dir = Paths.TempDir();
            try
            {
                string link = Path.Combine(dir, "modèle-Ωμέγα-模型");
                // A copy under a non-ASCII name: the library must receive the UTF-8 bytes of the path.
                Directory.CreateDirectory(link);
                foreach (string f in Directory.GetFiles(Paths.MambaDemo))
                    File.Copy(f, Path.Combine(link, Path.GetFileName(f)));
                using (Model m = Model.Load(link))
                {
                    Assert.AreEqual("mamba", m.Info.Architecture);
                    Assert.AreEqual(link, m.Path);
                }
                var e = Assert.Throws<KraitIOException>(() => Model.Load(link + "-ü"));
                StringAssert.Contains("-ü", e.Message, "the message quotes the UTF-8 path back");
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        [Test]
        public void ProgressIsReportedUpToOne()
        {
            var fractions = new List<float>();
            using (Model.Load(Paths.MambaDemo, new ModelOptions { Progress = f => { fractions.Add(f); return true; } })) { }
            Assert.IsNotEmpty(fractions);
            for (int i = 1; i < fractions.Count; i++) Assert.GreaterOrEqual(fractions[i], fractions[i - 1]);
            Assert.AreEqual(1.0f, fractions[fractions.Count - 1]);
        }

        [Test]
        public void ProgressReturningFalseCancelsTheLoad()
        {
            int open = Library.OpenHandleCount;
            var e = Assert.Throws<KraitCancelledException>(
                () => Model.Load(Paths.MambaDemo, new ModelOptions { Progress = f => false }));
            Assert.AreEqual(KraitStatus.Cancelled, e.Status);
            Assert.AreEqual(open, Library.OpenHandleCount);
        }

        [Test]
        public void ProgressThrowingReachesTheCaller()
        {
            var e = Assert.Throws<FormatException>(() => Model.Load(Paths.MambaDemo, new ModelOptions
            {
                Progress = f => { throw new FormatException("progress broke at " + f); }
            }));
            StringAssert.StartsWith("progress broke at ", e.Message);
        }

        [Test]
        public void ACancelledTokenCancelsTheLoad()
        {
            using (var cts = new CancellationTokenSource())
            {
                cts.Cancel();
                Assert.Throws<OperationCanceledException>(() => Model.Load(Paths.MambaDemo, null, cts.Token));
                // Cancelled while loading: the progress callback reports it.
                var cts2 = new CancellationTokenSource();
                var e = Assert.Throws<OperationCanceledException>(() => Model.Load(Paths.MambaDemo, new ModelOptions
                {
                    Progress = f => { cts2.Cancel(); return true; }
                }, cts2.Token));
                Assert.IsInstanceOf<KraitCancelledException>(e.InnerException);
                Assert.AreEqual(cts2.Token, e.CancellationToken);
            }
        }

        [Test]
        public void ChatTemplateRendersAsTheModelCardSays()
        {
            using (Model m = Model.Load(Paths.ChatDemo))
            {
                string text = m.ApplyChatTemplate(new[] { new ChatMessage("user", "How much is the red kettle?") });
                Assert.AreEqual("<|endoftext|><|im_start|>user\nHow much is the red kettle?<|im_end|>\n<|im_start|>assistant\n",
                                text);
                string json = "[{\"role\": \"user\", \"content\": \"Ünïcödé \\\"quoted\\\"\\n\"}]";
                Assert.AreEqual("<|endoftext|><|im_start|>user\nÜnïcödé \"quoted\"\n<|im_end|>\n",
                                m.ApplyChatTemplate(json, false));
                Assert.AreEqual("<X>hi", m.ApplyChatTemplate(new[] { new ChatMessage("user", "hi") }, false, null,
                                                             "{% for m in messages %}<X>{{ m['content'] }}{% endfor %}"));
                Assert.Throws<KraitInvalidArgumentException>(() => m.ApplyChatTemplate("[{not json", true));
            }
        }

        [Test]
        public void ChatTemplateMatchesTheHeldOutPrompts()
        {
            // heldout.jsonl (written with transformers' apply_chat_template) holds rendered prompts.
            string line = File.ReadAllLines(Path.Combine(Paths.ChatDemo, "heldout.jsonl"))[1];
            string prompt = System.Text.RegularExpressions.Regex.Match(line, "\"prompt\": \"((?:[^\"\\\\]|\\\\.)*)\"").Groups[1].Value
                .Replace("\\n", "\n");
            var turns = System.Text.RegularExpressions.Regex.Matches(prompt, "<\\|im_start\\|>(\\w+)\n(.*?)<\\|im_end\\|>");
            var messages = new List<ChatMessage>();
            foreach (System.Text.RegularExpressions.Match t in turns)
                messages.Add(new ChatMessage(t.Groups[1].Value, t.Groups[2].Value));
            Assert.AreEqual(3, messages.Count);
            using (Model m = Model.Load(Paths.ChatDemo)) Assert.AreEqual(prompt, m.ApplyChatTemplate(messages));
        }
    }

    [TestFixture]
    public class TokenizerTests
    {
        private Model _model;

        [TestFixtureSetUp]
        public void Load() { _model = Model.Load(Paths.MambaDemo); }

        [TestFixtureTearDown]
        public void Free() { _model.Dispose(); }

        [Test]
        public void EncodingMatchesTheCli()
        {
            foreach (string text in new[] { "Once upon a time", "héllo wörld 😀 — 模型", "   spaces\tand\nlines" })
                CollectionAssert.AreEqual(Cli.Tokenize(Paths.MambaDemo, text), _model.Tokenizer.Encode(text), text);
        }

        [Test]
        public void TextRoundTrips()
        {
            foreach (string text in new[] { "", "a", "The quick brown fox.", "héllo wörld 😀 — 模型 ∑", "x\r\n\ty" })
            {
                int[] ids = _model.Tokenizer.Encode(text);
                Assert.AreEqual(text, _model.Tokenizer.Decode(ids), "round trip of " + text);
                CollectionAssert.AreEqual(Encoding.UTF8.GetBytes(text), _model.Tokenizer.DecodeUtf8(ids));
            }
        }

        [Test]
        public void LongTextNeedsTheSecondPass()
        {
            // Many ids per byte is impossible, but a long text exercises the buffer sizing.
            string text = string.Concat(Enumerable.Repeat("Krait decodes and encodes. ", 400));
            Assert.AreEqual(text, _model.Tokenizer.Decode(_model.Tokenizer.Encode(text)));
        }

        [Test]
        public void SpecialTokensAreAddedAndSkippedOnRequest()
        {
            using (Model chat = Model.Load(Paths.ChatDemo))
            {
                Tokenizer t = chat.Tokenizer;
                int[] ids = t.Encode("<|im_start|>user\nhi<|im_end|>");
                Assert.AreEqual(1, ids[0], "<|im_start|> is id 1");
                Assert.AreEqual(2, ids[ids.Length - 1], "<|im_end|> is id 2");
                Assert.AreEqual("<|im_start|>user\nhi<|im_end|>", t.Decode(ids));
                Assert.AreEqual("user\nhi", t.Decode(ids, true));
                Assert.AreEqual(464, t.VocabSize);
            }
        }

        [Test]
        public void OutOfRangeIdsAreRefusedWithTheirValue()
        {
            var e = Assert.Throws<KraitInvalidArgumentException>(() => _model.Tokenizer.Decode(new[] { 5, 999999 }));
            StringAssert.Contains("999999", e.Message);
            Assert.Throws<KraitInvalidArgumentException>(() => _model.Tokenizer.Decode(new[] { -1 }));
        }

        [Test]
        public void InvalidUtf8IsRefusedWithItsOffset()
        {
            var e = Assert.Throws<KraitInvalidArgumentException>(
                () => _model.Tokenizer.EncodeUtf8(new byte[] { 0x61, 0x62, 0xff, 0x63 }));
            StringAssert.Contains("2", e.Message);
            Assert.Throws<KraitInvalidArgumentException>(() => _model.Tokenizer.Encode("bad \ud800 surrogate"));
        }

        [Test]
        public void AStandaloneTokenizerEqualsTheModels()
        {
            using (Tokenizer t = Tokenizer.Load(Path.Combine(Paths.MambaDemo, "tokenizer.json")))
            {
                Assert.IsFalse(t.IsBorrowed);
                Assert.IsTrue(_model.Tokenizer.IsBorrowed);
                const string text = "Return the value of the attribute.";
                CollectionAssert.AreEqual(_model.Tokenizer.Encode(text), t.Encode(text));
                Assert.AreEqual(_model.Tokenizer.VocabSize, t.VocabSize);
            }
            Assert.Throws<KraitIOException>(() => Tokenizer.Load(Path.Combine(Paths.Root, "no-such-tokenizer.json")));
        }
    }
}
