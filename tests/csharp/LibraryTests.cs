// Versions, CPU facts, statuses, the log callback, and the P/Invoke struct layouts.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Krait.Tests
{
    [TestFixture]
    public class LibraryTests
    {
        [TestFixtureTearDown]
        public void RestoreLog()
        {
            Library.SetLogCallback(null, LogLevel.Warn);
        }

        [Test]
        public void VersionIsThatOfTheHeaderMajorAndAtLeastItsMinor()
        {
            uint v = Library.VersionNumber;
            Assert.AreEqual(Library.HeaderVersionNumber / 1000000, v / 1000000);
            Assert.GreaterOrEqual(v, Library.HeaderVersionNumber);
            string expected = (v / 1000000) + "." + (v / 1000 % 1000) + "." + (v % 1000);
            Assert.AreEqual(expected, Library.Version);
            StringAssert.IsMatch(@"^\d+\.\d+\.\d+$", Library.Version);
        }

        [Test]
        public void CpuFactsAreKnownNames()
        {
            CollectionAssert.Contains(new[] { "portable", "avx2", "avx512" }, Library.CpuKernels);
            CollectionAssert.Contains(new[] { "amx", "avx512_bf16", "none" }, Library.CpuBf16Products);
        }

        [Test]
        public void StatusStringsAreTheLibrarys()
        {
            Assert.AreEqual("invalid argument", Library.StatusString(KraitStatus.InvalidArgument));
            Assert.AreEqual("aborted", Library.StatusString(KraitStatus.Aborted));
            Assert.AreEqual("unknown status", Library.StatusString((KraitStatus)12345));
        }

        [Test]
        public void EveryStatusHasItsExceptionType()
        {
            var expected = new Dictionary<KraitStatus, Type>
            {
                { KraitStatus.InvalidArgument, typeof(KraitInvalidArgumentException) },
                { KraitStatus.IO, typeof(KraitIOException) },
                { KraitStatus.Format, typeof(KraitFormatException) },
                { KraitStatus.Unsupported, typeof(KraitUnsupportedException) },
                { KraitStatus.OutOfMemory, typeof(KraitOutOfMemoryException) },
                { KraitStatus.BufferTooSmall, typeof(KraitBufferTooSmallException) },
                { KraitStatus.Cancelled, typeof(KraitCancelledException) },
                { KraitStatus.Aborted, typeof(KraitAbortedException) },
                { KraitStatus.WrongKind, typeof(KraitWrongKindException) },
                { KraitStatus.Internal, typeof(KraitInternalException) },
            };
            foreach (var kv in expected)
            {
                KraitException e = KraitException.FromStatus(kv.Key, "message " + kv.Key);
                Assert.AreEqual(kv.Value, e.GetType());
                Assert.AreEqual(kv.Key, e.Status);
                Assert.AreEqual("message " + kv.Key, e.Message);
            }
            Assert.IsNull(KraitException.FromStatus(KraitStatus.Ok, ""));
            KraitException unknown = KraitException.FromStatus((KraitStatus)99, "");
            Assert.AreEqual(typeof(KraitException), unknown.GetType());
            Assert.AreEqual("unknown status", unknown.Message);
        }

        [Test]
        public void LogCallbackReceivesTheLoadsMessages()
        {
            var messages = new List<string>();
            Library.SetLogCallback((level, message) =>
            {
                lock (messages) messages.Add(level + ": " + message);
            }, LogLevel.Debug);
            try
            {
                using (Model.Load(Paths.MambaDemo)) { }
            }
            finally
            {
                Library.SetLogCallback(null, LogLevel.Warn);
            }
            Assert.IsNotEmpty(messages, "a model load logs at least one info message");
            using (Model.Load(Paths.MambaDemo)) { }
            int before = messages.Count;
            using (Model.Load(Paths.MambaDemo)) { }
            Assert.AreEqual(before, messages.Count, "the default callback was restored");
        }

        [Test]
        public void AnExceptionInTheLogCallbackReachesTheLoadAndLeaksNothing()
        {
            Gc.Full();
            int open = Library.OpenHandleCount;
            Library.SetLogCallback((level, message) => { throw new ApplicationException("log failed: " + message); },
                                   LogLevel.Debug);
            try
            {
                var e = Assert.Throws<ApplicationException>(() => Model.Load(Paths.MambaDemo));
                StringAssert.StartsWith("log failed: ", e.Message);
            }
            finally
            {
                Library.SetLogCallback(null, LogLevel.Warn);
            }
            Assert.AreEqual(open, Library.OpenHandleCount);
            using (Model m = Model.Load(Paths.MambaDemo)) Assert.AreEqual(ModelKind.Sequence, m.Kind);
        }
    }

    /// <summary>The P/Invoke structs against the C compiler's sizes and offsets (x86-64 / aarch64
    /// LP64, as printed by offsetof/sizeof on abi/include/krait/krait.h 1.8).</summary>
    [TestFixture]
    public class LayoutTests
    {
        private static void Check(Type t, int size, params object[] offsets)
        {
            Assert.AreEqual(size, Marshal.SizeOf(t), t.Name + " size");
            for (int i = 0; i < offsets.Length; i += 2)
                Assert.AreEqual((int)offsets[i + 1], Marshal.OffsetOf(t, (string)offsets[i]).ToInt32(),
                                t.Name + "." + offsets[i]);
        }

        [Test]
        public void StructsMatchTheCHeader()
        {
            Assert.AreEqual(8, IntPtr.Size, "the layouts below are those of 64-bit platforms");
            Check(typeof(NativeMethods.ModelParams), 40, "progress", 8, "weight_precision", 24, "preprocessor_config", 32);
            Check(typeof(NativeMethods.ModelInfo), 128, "architecture", 8, "bos_token_id", 64, "source_dtype", 72,
                  "num_labels", 80, "image_token_id", 104, "image_rows", 112, "image_placement", 120);
            Check(typeof(NativeMethods.SessionParams), 40, "max_image_pixels", 8, "max_batch", 16, "context_length", 24,
                  "image_cache_bytes", 32);
            Check(typeof(NativeMethods.SamplingParams), 32, "top_p", 12, "seed", 24);
            Check(typeof(NativeMethods.GenerateParams), 80, "sampling", 8, "stop_strings", 40, "n_stop_strings", 48,
                  "stop_at_eos", 56, "on_token", 64, "user_data", 72);
            Check(typeof(NativeMethods.ConversationStats), 56, "prompt_tokens", 8, "images_cached", 48);
            Check(typeof(NativeMethods.Classification), 16, "probability", 4, "label", 8);
            Check(typeof(NativeMethods.Image), 40, "pixels", 8, "width", 16, "row_stride", 24, "channels", 32);
            Check(typeof(NativeMethods.AdapterParams), 16, "name", 8);
            Check(typeof(NativeMethods.AdapterInfo), 64, "name", 8, "path", 16, "max_rank", 24, "lora_alpha", 28,
                  "use_rslora", 32, "num_targets", 40, "num_labels", 56);
            Check(typeof(NativeMethods.AdapterTarget), 40, "module", 8, "kind", 16, "rank", 24, "scaling", 28,
                  "replaced", 32);
        }

        [Test]
        public void ParamDefaultsComeFromTheLibrary()
        {
            var g = new GenerateOptions();
            Assert.AreEqual(32, g.MaxNewTokens);
            Assert.AreEqual(1.0f, g.Temperature);
            Assert.AreEqual(50, g.TopK);
            Assert.AreEqual(1.0f, g.TopP);
            Assert.IsTrue(g.StopAtEos);
            var s = new SessionOptions();
            Assert.AreEqual(64L * 1024 * 1024, s.MaxImagePixels);
            Assert.AreEqual(32, s.MaxBatch);
            Assert.AreEqual(64L * 1024 * 1024, s.ImageCacheBytes);
        }
    }
}
