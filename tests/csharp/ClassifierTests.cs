// Classifier sessions on models/vit-digits and models/mambavision-digits, checked against the
// CLI's output; classifier adapters (models/mambavision-digits-lora-parity).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using NUnit.Framework;

namespace Krait.Tests
{
    [TestFixture]
    public class ClassifierTests
    {
        private Model _vit;
        private Session _session;
        private string[] _files;

        [TestFixtureSetUp]
        public void Load()
        {
            _vit = Model.Load(Paths.VitDigits);
            _session = _vit.CreateSession();
            _files = Paths.Digits.Select(Paths.Sample).ToArray();
        }

        [TestFixtureTearDown]
        public void Free()
        {
            _session.Dispose();
            _vit.Dispose();
        }

        private static void AssertSameAsCli(List<List<KeyValuePair<string, double>>> cli, Classification[][] got)
        {
            Assert.AreEqual(cli.Count, got.Length);
            for (int i = 0; i < got.Length; i++)
            {
                Assert.AreEqual(cli[i].Count, got[i].Length);
                for (int j = 0; j < got[i].Length; j++)
                {
                    Assert.AreEqual(cli[i][j].Key, got[i][j].Label, "image " + i + " rank " + j);
                    Assert.AreEqual(cli[i][j].Value, got[i][j].Probability, 6e-5, "image " + i + " rank " + j);
                }
            }
        }

        [Test]
        public void ClassifyFilesEqualsTheCli()
        {
            Classification[][] got = _session.ClassifyFiles(_files, 3);
            AssertSameAsCli(Cli.Classify(Paths.VitDigits, _files, 3), got);
            // The demo classifier gets every held-out digit right (models/samples/README.md).
            for (int i = 0; i < _files.Length; i++)
                Assert.AreEqual(Paths.Digits[i].Substring(6, 1), got[i][0].Label);
        }

        [Test]
        public void MambaVisionEqualsTheCliToo()
        {
            using (Model mv = Model.Load(Paths.MambaVisionDigits))
            using (Session s = mv.CreateSession())
                AssertSameAsCli(Cli.Classify(Paths.MambaVisionDigits, _files, 2), s.ClassifyFiles(_files, 2));
        }

        [Test]
        public void EncodedBytesAndRawPixelsGiveTheFilesResult()
        {
            Classification[][] files = _session.ClassifyFiles(_files, 10);
            Classification[][] encoded = _session.ClassifyEncoded(_files.Select(File.ReadAllBytes).ToList(), 10);
            // Pixels decoded by the tests' own PNG reader, not by Krait.
            Classification[][] pixels = _session.ClassifyPixels(_files.Select(Png.Decode).ToList(), 10);
            for (int i = 0; i < files.Length; i++)
            {
                Assert.AreEqual(10, files[i].Length);
                for (int j = 0; j < 10; j++)
                {
                    Assert.AreEqual(files[i][j].LabelId, encoded[i][j].LabelId);
                    Assert.AreEqual(files[i][j].Probability, encoded[i][j].Probability);
                    Assert.AreEqual(files[i][j].LabelId, pixels[i][j].LabelId);
                    Assert.AreEqual(files[i][j].Probability, pixels[i][j].Probability, 1e-6);
                }
                Assert.AreEqual(1.0, files[i].Sum(c => (double)c.Probability), 1e-4);
            }
        }

        [Test]
        public void RowStrideAndGrayPixels()
        {
            RawImage rgb = Png.Decode(_files[4]);
            // The same picture with 5 bytes of padding per row, and as one gray channel.
            int stride = rgb.Width * 3 + 5;
            var padded = new byte[stride * rgb.Height];
            var gray = new byte[rgb.Width * rgb.Height];
            for (int y = 0; y < rgb.Height; y++)
            {
                Array.Copy(rgb.Pixels, y * rgb.Width * 3, padded, y * stride, rgb.Width * 3);
                for (int x = 0; x < rgb.Width; x++) gray[y * rgb.Width + x] = rgb.Pixels[(y * rgb.Width + x) * 3];
            }
            Classification want = _session.ClassifyPixels(new[] { rgb }, 1)[0][0];
            Classification got = _session.ClassifyPixels(new[] { new RawImage(padded, rgb.Width, rgb.Height, 3, stride) }, 1)[0][0];
            Assert.AreEqual(want.Probability, got.Probability);
            Assert.AreEqual("7", _session.ClassifyPixels(new[] { new RawImage(gray, rgb.Width, rgb.Height, 1) }, 1)[0][0].Label);
            Assert.Throws<KraitInvalidArgumentException>(
                () => _session.ClassifyPixels(new[] { new RawImage(new byte[10], 32, 32, 3) }, 1),
                "a buffer too small for the image is refused before the library reads past it");
            Assert.Throws<KraitInvalidArgumentException>(
                () => _session.ClassifyPixels(new[] { new RawImage(new byte[64], 4, 4, 2) }, 1), "2 channels");
        }

        [Test]
        public void ForwardOnPreprocessedPixelsGivesTheSameProbabilities()
        {
            var batch = new ImageBatch(_vit);
            batch.AddFile(_files[0]).AddEncoded(File.ReadAllBytes(_files[1])).AddPixels(Png.Decode(_files[2]));
            Assert.AreEqual(3, batch.Count);
            float[] logits = _session.ClassifierForward(batch);
            Assert.AreEqual(3 * 10, logits.Length);
            Classification[][] want = _session.ClassifyFiles(_files.Take(3).ToList(), 10);
            for (int i = 0; i < 3; i++)
            {
                double[] p = Num.Softmax(logits, i * 10, 10);
                foreach (Classification c in want[i]) Assert.AreEqual(c.Probability, p[c.LabelId], 1e-5);
            }
            Assert.Throws<KraitInvalidArgumentException>(() => _session.ClassifierForward(new float[3 * 7 * 7], 1, 7, 7),
                                                          "ViT needs a multiple of its patch size");
        }

        [Test]
        public void ClassifierErrors()
        {
            var io = Assert.Throws<KraitIOException>(() => _session.ClassifyFile(Path.Combine(Paths.Root, "no-such.png")));
            StringAssert.Contains("no-such.png", io.Message);
            var format = Assert.Throws<KraitFormatException>(
                () => _session.ClassifyEncoded(new[] { new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 } }));
            Assert.AreEqual(KraitStatus.Format, format.Status);
            Assert.Throws<KraitInvalidArgumentException>(() => _session.ClassifyFiles(_files, 0), "top_k 0");
            Assert.Throws<KraitInvalidArgumentException>(() => _session.ClassifyFiles(new string[0]), "no image");
            Assert.Throws<KraitWrongKindException>(() => _session.Generate(new[] { 1, 2 }));
            Assert.Throws<KraitWrongKindException>(() => _session.Forward(new[] { 1, 2 }));
            Assert.Throws<KraitWrongKindException>(() => _session.Snapshot());
            using (Session small = _vit.CreateSession(new SessionOptions { MaxImagePixels = 100 }))
            {
                var e = Assert.Throws<KraitInvalidArgumentException>(() => small.ClassifyFile(_files[0]));
                StringAssert.Contains("100", e.Message);
            }
            Assert.AreEqual(10, _session.NumLabels);
        }

        [Test]
        public void AnAdapterBringsItsOwnHead()
        {
            using (Model mv = Model.Load(Paths.MambaVisionDigits))
            using (Session s = mv.CreateSession())
            using (Adapter parity = mv.LoadAdapter(Paths.ParityLora))
            {
                Assert.AreEqual(2, parity.NumLabels);
                CollectionAssert.AreEqual(new[] { "even", "odd" }, parity.Labels.ToArray());
                Assert.IsTrue(parity.Targets.Any(t => t.Replaced), "the head is replaced");
                Assert.AreEqual(10, s.NumLabels);
                s.SetAdapter(parity);
                Assert.AreEqual(2, s.NumLabels);
                Classification[][] got = s.ClassifyFiles(_files, 2);
                AssertSameAsCli(Cli.Classify(Paths.MambaVisionDigits, _files, 2, "--adapter", Paths.ParityLora), got);
                for (int i = 0; i < _files.Length; i++)
                {
                    int digit = int.Parse(Paths.Digits[i].Substring(6, 1));
                    Assert.AreEqual(digit % 2 == 0 ? "even" : "odd", got[i][0].Label, Paths.Digits[i]);
                }
                s.ClearAdapters();
                Assert.AreEqual(10, s.NumLabels);
                Assert.Throws<KraitInvalidArgumentException>(() => parity.GetLabel(2));
            }
        }

        [Test]
        public void ClassificationIsAbortable()
        {
            using (var cts = new CancellationTokenSource())
            using (Session s = _vit.CreateSession())
            {
                cts.Cancel();
                Assert.Throws<OperationCanceledException>(() => s.ClassifyFiles(_files, 1, cts.Token));
                s.Abort();
                var e = Assert.Throws<KraitAbortedException>(() => s.ClassifyFiles(_files, 1));
                Assert.AreEqual(KraitStatus.Aborted, e.Status);
                Assert.AreEqual(_files.Length, s.ClassifyFiles(_files, 1).Length, "the request was consumed");
            }
        }
    }
}
