// Chat (krait_session_chat) and conversations on models/chat-demo, whose model card gives the
// replies of its demo conversation.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;

namespace Krait.Tests
{
    [TestFixture]
    public class ChatTests
    {
        private const string Q1 = "How much is the red teapot?";
        private const string A1 = "The red teapot costs 17 euros.";
        private const string Q2 = "And how many are in stock?";
        private const string A2 = "We have 14 red teapots in stock.";

        private Model _model;

        [TestFixtureSetUp]
        public void Load() { _model = Model.Load(Paths.ChatDemo); }

        [TestFixtureTearDown]
        public void Free() { _model.Dispose(); }

        private static GenerateOptions Greedy() { return GenerateOptions.Greedy(40); }

        [Test]
        public void ConversationHoldsTheModelCardsTwoTurns()
        {
            using (Session s = _model.CreateSession())
            using (Conversation c = s.CreateConversation())
            {
                Assert.AreEqual(A1, c.Say(Q1, Greedy()));
                Assert.AreEqual(A2, c.Say(Q2, Greedy()));
                Assert.AreEqual(4, c.Count);
                var roles = c.Messages.Select(m => m.Role).ToArray();
                CollectionAssert.AreEqual(new[] { "user", "assistant", "user", "assistant" }, roles);
                Assert.AreEqual(Q2, c.GetMessage(2).Content);
                ConversationStats stats = c.Stats;
                Assert.Greater(stats.ReusedTokens, 0, "the second turn reused the first");
                Assert.AreEqual(stats.PromptTokens, stats.ReusedTokens + stats.PrefilledTokens);
                Assert.Greater(stats.GeneratedTokens, 0);
                Assert.AreEqual(0, stats.ImagesEncoded);
            }
        }

        [Test]
        public void SessionChatGivesTheSameReplies()
        {
            using (Session s = _model.CreateSession())
            {
                var messages = new List<ChatMessage> { new ChatMessage("user", Q1) };
                Assert.AreEqual(A1, s.Chat(messages, Greedy()));
                messages.Add(new ChatMessage("assistant", A1));
                messages.Add(new ChatMessage("user", Q2));
                var pieces = new StringBuilder();
                Assert.AreEqual(A2, s.Chat(messages, Greedy(), (id, piece) => { pieces.Append(piece); return false; }));
                Assert.AreEqual(A2, pieces.ToString());
                string json = "[{\"role\": \"user\", \"content\": \"" + Q1 + "\"}]";
                Assert.AreEqual(A1, s.ChatJson(json, Greedy()));
                Assert.AreEqual(A1, string.Concat(s.ChatStream(new[] { new ChatMessage("user", Q1) }, Greedy())));
                Assert.Throws<KraitInvalidArgumentException>(() => s.ChatJson("[]", Greedy()));
                Assert.Throws<KraitInvalidArgumentException>(() => s.ChatJson("{\"not\": \"an array\"}", Greedy()));
            }
        }

        [Test]
        public void RenderShowsTheNextPrompt()
        {
            using (Session s = _model.CreateSession())
            using (Conversation c = s.CreateConversation("You are a shop assistant."))
            {
                c.AddMessage("user", Q1);
                Assert.AreEqual(_model.ApplyChatTemplate(new[] { new ChatMessage("system", "You are a shop assistant."),
                                                                 new ChatMessage("user", Q1) }),
                                c.Render());
                StringAssert.EndsWith("<|im_start|>assistant\n", c.Render(true));
                StringAssert.EndsWith("<|im_end|>\n", c.Render(false));
                Assert.AreEqual("system", c.GetMessage(0).Role);
            }
        }

        [Test]
        public void UndoEditAndRegenerate()
        {
            using (Session s = _model.CreateSession())
            using (Conversation c = s.CreateConversation())
            {
                c.Say(Q1, Greedy());
                c.Say("What does the green fan cost?", Greedy());
                c.Undo();
                Assert.AreEqual(2, c.Count);
                Assert.AreEqual(A2, c.Say(Q2, Greedy()), "after undo the conversation goes on as if never said");
                c.Edit(0, "How much is the blue teapot?");
                Assert.AreEqual(1, c.Count);
                Assert.AreEqual("The blue teapot costs 22 euros.", c.Reply(Greedy()));
                Assert.AreEqual("The blue teapot costs 22 euros.", c.Regenerate(Greedy()), "greedy: the same reply");
                Assert.AreEqual(2, c.Count);
                var sampled = new GenerateOptions { MaxNewTokens = 40, Temperature = 1.5f, TopK = 0, Seed = 3 };
                c.Regenerate(sampled);
                Assert.AreEqual(2, c.Count);
                Assert.Throws<KraitInvalidArgumentException>(() => c.Edit(5, "x"));
                c.Undo();
                Assert.AreEqual(0, c.Count);
                Assert.Throws<KraitInvalidArgumentException>(() => c.Undo(), "no user message left");
                Assert.Throws<KraitInvalidArgumentException>(() => c.Reply(Greedy()), "no messages");
            }
        }

        [Test]
        public void ACallbackThatThrowsLeavesTheMessagesUnchanged()
        {
            using (Session s = _model.CreateSession())
            using (Conversation c = s.CreateConversation())
            {
                TokenCallback boom = (id, piece) => { throw new TimeoutException("boom"); };
                Assert.Throws<TimeoutException>(() => c.Say(Q1, Greedy(), boom));
                Assert.AreEqual(0, c.Count);
                Assert.AreEqual(A1, c.Say(Q1, Greedy()));
                Assert.Throws<TimeoutException>(() => c.Regenerate(Greedy(), boom));
                Assert.AreEqual(2, c.Count);
                Assert.AreEqual(A1, c.GetMessage(1).Content, "the old reply is back");
                c.AddMessage("user", Q2);
                Assert.Throws<TimeoutException>(() => c.Reply(Greedy(), boom));
                CollectionAssert.AreEqual(new[] { Q1, A1, Q2 }, c.Messages.Select(m => m.Content).ToArray());
                Assert.AreEqual(A2, c.Reply(Greedy()));
            }
        }

        [Test]
        public void StreamsOfAConversation()
        {
            using (Session s = _model.CreateSession())
            using (Conversation c = s.CreateConversation())
            {
                GenerationStream say = c.SayStream(Q1, null, Greedy());
                Assert.AreEqual(A1, string.Concat(say));
                Assert.AreEqual(A1, say.Result);
                Assert.AreEqual(A1, string.Concat(c.RegenerateStream(Greedy())));
                c.AddMessage("user", Q2);
                Assert.AreEqual(A2, string.Concat(c.ReplyStream(Greedy())));
            }
        }

        [Test]
        public void ConversationsAreSavedAndLoaded()
        {
            string dir = Paths.TempDir();
            try
            {
                string file = Path.Combine(dir, "conversation.krait");
                using (Session s = _model.CreateSession())
                using (Conversation c = s.CreateConversation())
                {
                    c.Say(Q1, Greedy());
                    c.Save(file);
                }
                using (Session s = _model.CreateSession())
                using (Conversation c = s.LoadConversation(file))
                {
                    Assert.AreEqual(2, c.Count);
                    Assert.AreEqual(A1, c.GetMessage(1).Content);
                    Assert.AreEqual(A2, c.Say(Q2, Greedy()));
                    Assert.Greater(c.Stats.ReusedTokens, 0, "the loaded state was reused");
                    Assert.Throws<KraitIOException>(() => s.LoadConversation(Path.Combine(dir, "missing")));
                }
                using (Model mamba = Model.Load(Paths.MambaDemo))
                using (Session other = mamba.CreateSession())
                    Assert.Throws<KraitInvalidArgumentException>(() => other.LoadConversation(file,
                        "{% for m in messages %}{{ m['content'] }}{% endfor %}"));
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        [Test]
        public void AModelWithoutATemplateNeedsOne()
        {
            using (Model mamba = Model.Load(Paths.MambaDemo))
            using (Session s = mamba.CreateSession())
            {
                Assert.Throws<KraitInvalidArgumentException>(() => s.CreateConversation());
                using (Conversation c = s.CreateConversation(null, "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"))
                {
                    string reply = c.Say("Return the value", GenerateOptions.Greedy(5));
                    Assert.AreEqual(2, c.Count);
                    Assert.AreEqual(reply, c.GetMessage(1).Content);
                }
            }
        }

        [Test]
        public void ExtraTemplateVariablesReachTheTemplate()
        {
            using (Session s = _model.CreateSession())
            using (Conversation c = s.CreateConversation(null, "{{ greeting }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
                                                         "{\"greeting\": \"Grüß dich! \"}"))
            {
                c.AddMessage("user", "x");
                Assert.AreEqual("Grüß dich! x", c.Render());
                Assert.Throws<KraitInvalidArgumentException>(() => s.CreateConversation(null, null, "{bad json"));
            }
        }
    }
}
