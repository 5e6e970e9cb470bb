// LoRA adapters on models/mamba-demo with models/mamba-demo-lora-licenses: info, targets,
// per-session and per-call sets, scales, lifetimes, errors.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;

namespace Krait.Tests
{
    [TestFixture]
    public class AdapterTests
    {
        private Model _model;
        private Adapter _lora;
        private string _prompt;

        [TestFixtureSetUp]
        public void Load()
        {
            _model = Model.Load(Paths.MambaDemo);
            _lora = _model.LoadAdapter(Paths.MambaLora);
            _prompt = File.ReadAllText(Path.Combine(Paths.MambaDemo, "demo_prompt.txt")).TrimEnd('\n');
        }

        [TestFixtureTearDown]
        public void Free()
        {
            _lora.Dispose();
            _model.Dispose();
        }

        private static GenerateOptions Greedy()
        {
            var o = GenerateOptions.Greedy(24);
            o.StopAtEos = false;
            return o;
        }

        private string Run(Session s, GenerateOptions options = null)
        {
            s.Reset();
            return s.Generate(_prompt, options ?? Greedy()).Text;
        }

        [Test]
        public void InfoIsThatOfTheModelCard()
        {
            Assert.AreEqual("mamba-demo-lora-licenses", _lora.Name);
            Assert.AreEqual(8, _lora.MaxRank);
            Assert.AreEqual(16f, _lora.LoraAlpha);
            Assert.IsFalse(_lora.UseRsLora);
            Assert.AreEqual(50688, _lora.NumParameters);
            Assert.AreEqual(0, _lora.NumLabels);
            Assert.AreEqual(0, _lora.Labels.Count);
            Assert.AreEqual(16, _lora.TargetCount);
            Assert.AreEqual(16, _lora.Targets.Count);
            foreach (AdapterTarget t in _lora.Targets)
            {
                Assert.AreEqual("linear", t.Kind);
                Assert.AreEqual(8, t.Rank);
                Assert.AreEqual(2f, t.Scaling);
                Assert.IsFalse(t.Replaced);
                StringAssert.IsMatch(@"(in_proj|x_proj|dt_proj|out_proj)$", t.Module);
            }
            using (Adapter named = _model.LoadAdapter(Paths.MambaLora, "licences-ü"))
                Assert.AreEqual("licences-ü", named.Name);
        }

        [Test]
        public void BeforeWithAndAfterTheAdapterMatchTheCli()
        {
            using (Session s = _model.CreateSession())
            {
                string before = Run(s);
                s.SetAdapter(_lora);
                string with = Run(s);
                Assert.AreEqual(1, s.Adapters.Count);
                s.ClearAdapters();
                string after = Run(s);
                Assert.AreNotEqual(before, with, "the adapter changes the text");
                Assert.AreEqual(before, after, "and the base model comes back");
                string cli = Cli.Run("generate", "-m", Paths.MambaDemo, "--adapter", Paths.MambaLora, "-p", _prompt,
                                     "-n", "24", "--temperature", "0", "--ignore-eos", "--no-special");
                Assert.AreEqual(with, cli);
                Assert.AreEqual(before, Cli.Run("generate", "-m", Paths.MambaDemo, "-p", _prompt, "-n", "24",
                                                "--temperature", "0", "--ignore-eos", "--no-special"));
            }
        }

        [Test]
        public void PerCallSetsLeaveTheSessionsSet()
        {
            using (Session s = _model.CreateSession())
            {
                string before = Run(s);
                s.SetAdapter(_lora);
                string with = Run(s);
                s.ClearAdapters();
                GenerateOptions perCall = Greedy();
                perCall.Adapters = new[] { new AdapterScale(_lora, 1f) };
                Assert.AreEqual(with, Run(s, perCall));
                Assert.AreEqual(0, s.Adapters.Count, "the session's set is back");
                Assert.AreEqual(before, Run(s));
                s.SetAdapter(_lora);
                perCall.Adapters = new AdapterScale[0];
                Assert.AreEqual(before, Run(s, perCall), "an empty per-call set is the base model");
                Assert.AreEqual(with, Run(s));
                using (s.UseAdapters())
                    Assert.AreEqual(before, Run(s));
                Assert.AreEqual(with, Run(s), "the scope restored the adapter");
                Assert.AreSame(_lora, s.Adapters[0].Adapter);
            }
        }

        [Test]
        public void ScalesApply()
        {
            using (Session s = _model.CreateSession())
            {
                string before = Run(s);
                s.SetAdapter(_lora, 0f);
                Assert.AreEqual(before, Run(s), "scale 0 is the base model");
                int[] ids = _model.Tokenizer.Encode(_prompt);
                s.SetAdapters(new AdapterScale(_lora, 0.5f), new AdapterScale(_lora, 0.5f));
                float[] halves = s.Forward(ids);
                s.SetAdapter(_lora, 1f);
                float[] one = s.Forward(ids);
                Assert.Less(Num.MaxAbsDiff(halves, one), 1e-3, "the scaled terms add up");
                s.SetAdapter(_lora, 0.5f);
                Assert.Greater(Num.MaxAbsDiff(s.Forward(ids), one), 1e-3);
                var e = Assert.Throws<KraitInvalidArgumentException>(() => s.SetAdapter(_lora, float.NaN));
                StringAssert.Contains("scale", e.Message);
                Assert.AreEqual(0.5f, s.Adapters[0].Scale, "the set is unchanged on error");
            }
        }

        [Test]
        public void ADisposedAdapterStaysAliveInItsSessions()
        {
            using (Session s = _model.CreateSession())
            {
                string with;
                using (Adapter own = _model.LoadAdapter(Paths.MambaLora))
                {
                    s.SetAdapter(own);
                    with = Run(s);
                }
                Assert.AreEqual(with, Run(s), "the session keeps the disposed adapter");
                var perCall = Greedy();
                perCall.Adapters = new AdapterScale[0];
                Run(s, perCall);
                Assert.AreEqual(with, Run(s), "and restores it after a per-call set");
                Adapter disposed = s.Adapters[0].Adapter;
                Assert.Throws<ObjectDisposedException>(() => s.SetAdapter(disposed));
                Assert.Throws<ObjectDisposedException>(() => { var t = disposed.Targets; });
                s.ClearAdapters();
            }
        }

        [Test]
        public void AdapterErrors()
        {
            var io = Assert.Throws<KraitIOException>(() => _model.LoadAdapter(Path.Combine(Paths.Root, "no-such-adapter")));
            StringAssert.Contains("no-such-adapter", io.Message);
            using (Model chat = Model.Load(Paths.ChatDemo))
            {
                var e = Assert.Throws<KraitFormatException>(() => chat.LoadAdapter(Paths.MambaLora));
                StringAssert.Contains("adapter_model.safetensors", e.Message);
                using (Session s = chat.CreateSession())
                    Assert.Throws<KraitInvalidArgumentException>(() => s.SetAdapter(_lora), "an adapter of another model");
            }
            Assert.Throws<KraitInvalidArgumentException>(() => _lora.GetLabel(0), "no replacement head");
        }
    }
}
