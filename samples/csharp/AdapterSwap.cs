// AdapterSwap.cs: the same prompt before, with and after a LoRA adapter, on one session.
//
//   mono AdapterSwap.exe [MODEL_DIR] [ADAPTER_DIR] [PROMPT]
//   defaults: models/mamba-demo, models/mamba-demo-lora-licenses, MODEL_DIR/demo_prompt.txt
//
// An adapter is loaded once per model and switched per session (or per call) in microseconds,
// without reloading or copying the model's weights. mamba-demo writes Python-documentation prose;
// with the licences adapter it writes software-licence prose.
using System;
using System.IO;
using Krait;

static class AdapterSwap
{
    static int Main(string[] args)
    {
        string modelDir = args.Length > 0 ? args[0] : "models/mamba-demo";
        string adapterDir = args.Length > 1 ? args[1] : "models/mamba-demo-lora-licenses";
        string prompt = args.Length > 2 ? args[2] : File.ReadAllText(Path.Combine(modelDir, "demo_prompt.txt")).TrimEnd('\n');

        try
        {
            using (Model model = Model.Load(modelDir))
            using (Adapter adapter = model.LoadAdapter(adapterDir))
            using (Session session = model.CreateSession())
            {
                Console.WriteLine("adapter " + adapter.Name + ": rank " + adapter.MaxRank + ", alpha " + adapter.LoraAlpha +
                                  ", " + adapter.TargetCount + " modules, " + adapter.NumParameters + " parameters");
                GenerateOptions greedy = GenerateOptions.Greedy(40);

                Show("before", session, prompt, greedy);
                session.SetAdapter(adapter, 1.0f);        // the session's active set: this adapter, scale 1
                Show("with", session, prompt, greedy);
                session.ClearAdapters();                  // back to the base model
                Show("after", session, prompt, greedy);

                // Per call instead of per session: the session's own set is restored afterwards.
                var perCall = GenerateOptions.Greedy(40);
                perCall.Adapters = new[] { new AdapterScale(adapter, 0.5f) };
                Show("half", session, prompt, perCall);
            }
            return 0;
        }
        catch (KraitException e)
        {
            Console.Error.WriteLine("error (" + e.Status + "): " + e.Message);
            return 1;
        }
    }

    static void Show(string label, Session session, string prompt, GenerateOptions options)
    {
        session.Reset();  // each run starts from an empty context
        string text = session.Generate(prompt, options).Text;
        Console.WriteLine("--- " + label + " ---");
        Console.WriteLine(prompt + text);
    }
}
