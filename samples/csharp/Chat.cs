// Chat.cs: a multi-turn conversation with a chat model (models/chat-demo, a tiny shop assistant).
//
//   mono Chat.exe [MODEL_DIR] [QUESTION...]
//   defaults: models/chat-demo, "How much is the red teapot?" "And how many are in stock?"
//   With "-" as the only question, questions are read from standard input, one per line.
//
// A Conversation renders the messages with the model's chat template; each turn computes only the
// tokens the session does not hold yet (see the statistics printed after each reply).
using System;
using System.Collections.Generic;
using Krait;

static class Chat
{
    static int Main(string[] args)
    {
        string modelDir = args.Length > 0 ? args[0] : "models/chat-demo";
        var questions = new List<string>();
        for (int i = 1; i < args.Length; i++) questions.Add(args[i]);
        if (questions.Count == 0) questions.AddRange(new[] { "How much is the red teapot?", "And how many are in stock?" });
        bool interactive = questions.Count == 1 && questions[0] == "-";

        try
        {
            using (Model model = Model.Load(modelDir))
            using (Session session = model.CreateSession())
            using (Conversation chat = session.CreateConversation())   // the model's own chat template
            {
                GenerateOptions options = GenerateOptions.Greedy(64);  // a reply ends at the end-of-turn token
                IEnumerator<string> next = interactive ? ReadLines() : questions.GetEnumerator();
                while (next.MoveNext())
                {
                    Console.WriteLine("user:      " + next.Current);
                    Console.Write("assistant: ");
                    // The reply streams through the callback and comes back whole.
                    string reply = chat.Say(next.Current, options, (id, piece) => { Console.Write(piece); return false; });
                    Console.WriteLine();
                    ConversationStats stats = chat.Stats;
                    Console.WriteLine("           [prompt " + stats.PromptTokens + " tokens, " + stats.ReusedTokens +
                                      " reused, " + stats.GeneratedTokens + " generated; reply " + reply.Length + " chars]");
                }
                Console.WriteLine("(" + chat.Count + " messages)");
            }
            return 0;
        }
        catch (KraitException e)
        {
            Console.Error.WriteLine("error (" + e.Status + "): " + e.Message);
            return 1;
        }
    }

    static IEnumerator<string> ReadLines()
    {
        string line;
        while ((line = Console.ReadLine()) != null)
            if (line.Trim().Length > 0) yield return line.Trim();
    }
}
