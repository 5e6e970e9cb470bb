// Generate.cs: text generation with a sequence model (Mamba, Llama, ...), streamed as it is made.
//
//   mono Generate.exe [MODEL_DIR] [PROMPT] [MAX_NEW_TOKENS]
//   defaults: models/mamba-demo, the text of MODEL_DIR/demo_prompt.txt (else "Once upon a time"), 40
//
// Shows the two ways to stream: a callback called with each token, and a foreach over the pieces.
// Ctrl+C cancels the running generation through a CancellationToken.
using System;
using System.IO;
using System.Threading;
using Krait;

static class Generate
{
    static int Main(string[] args)
    {
        string modelDir = args.Length > 0 ? args[0] : "models/mamba-demo";
        string promptFile = Path.Combine(modelDir, "demo_prompt.txt");
        string prompt = args.Length > 1 ? args[1]
                      : File.Exists(promptFile) ? File.ReadAllText(promptFile).TrimEnd('\n') : "Once upon a time";
        int maxNewTokens = args.Length > 2 ? int.Parse(args[2]) : 40;

        var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (sender, e) => { e.Cancel = true; cancel.Cancel(); };

        try
        {
            // A model is immutable and shared; a session holds one context. Both release their native
            // memory on Dispose (the binding's SafeHandles also release it if you forget).
            using (Model model = Model.Load(modelDir))
            using (Session session = model.CreateSession())
            {
                Console.WriteLine("Krait " + Library.Version + " (" + Library.CpuKernels + "), " + model.Info.Architecture +
                                  ", " + model.Info.NumParameters + " parameters");

                // 1. Greedy decoding, streamed through a callback (return true to stop early).
                GenerateOptions greedy = GenerateOptions.Greedy(maxNewTokens);
                Console.Write(prompt);
                GenerationResult result = session.Generate(prompt, greedy, (tokenId, piece) =>
                {
                    Console.Write(piece);
                    return false;
                }, cancel.Token);
                Console.WriteLine();
                Console.WriteLine("[" + result.Ids.Length + " tokens]");

                // 2. Sampling from the same prompt, streamed as an IEnumerable<string>: the generation runs
                //    on a worker thread and each piece arrives as soon as it is made. Reset() first: a
                //    session's generate continues its context.
                session.Reset();
                var sampled = new GenerateOptions { MaxNewTokens = maxNewTokens, Temperature = 0.8f, TopP = 0.95f, Seed = 42 };
                sampled.StopStrings.Add("\n\n");   // stop at the first blank line
                Console.Write(prompt);
                foreach (string piece in session.GenerateStream(prompt, sampled, cancel.Token))
                    Console.Write(piece);
                Console.WriteLine();
                Console.WriteLine("[context: " + session.Tokens.Length + " tokens]");
            }
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.WriteLine("\n[cancelled]");
            return 130;
        }
        catch (KraitException e)
        {
            // Every library error is a KraitException subclass with the library's message and status.
            Console.Error.WriteLine("error (" + e.Status + "): " + e.Message);
            return 1;
        }
    }
}
