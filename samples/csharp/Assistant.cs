// Assistant.cs: ask a vision-language assistant two questions about a picture.
//
//   mono Assistant.exe [MODEL_DIR] [PICTURE] [QUESTION_1] [QUESTION_2]
//   defaults: models/shapes-mamba-assistant, models/samples/shapes_1.png,
//             "What colour is the circle?", "And where is it?"
//
// The picture goes with the first question; the second question reuses its state (the picture is
// not run through the image encoder again).
using System;
using Krait;

static class Assistant
{
    static int Main(string[] args)
    {
        string modelDir = args.Length > 0 ? args[0] : "models/shapes-mamba-assistant";
        string picture = args.Length > 1 ? args[1] : "models/samples/shapes_1.png";
        string first = args.Length > 2 ? args[2] : "What colour is the circle?";
        string second = args.Length > 3 ? args[3] : "And where is it?";

        try
        {
            using (Model model = Model.Load(modelDir))
            using (Session session = model.CreateSession())
            using (Conversation chat = session.CreateConversation())
            {
                ModelInfo info = model.Info;
                Console.WriteLine(info.Architecture + ": images " + info.ImageWidth + "x" + info.ImageHeight + ", " +
                                  info.ImageRows + " rows each, placed " + info.ImagePlacement);

                // Pictures are made model-ready by the model's own preprocessing; a batch may also take
                // encoded bytes (AddEncoded) or raw 8-bit pixels (AddPixels).
                ImageBatch images = new ImageBatch(model).AddFile(picture);
                GenerateOptions options = GenerateOptions.Greedy(32);

                Console.WriteLine("user:      [" + picture + "] " + first);
                Console.WriteLine("assistant: " + chat.Say(first, images, options));
                Console.WriteLine("user:      " + second);
                Console.Write("assistant: ");
                foreach (string piece in chat.SayStream(second, null, options)) Console.Write(piece);  // streamed
                Console.WriteLine();
                ConversationStats stats = chat.Stats;
                Console.WriteLine("[second turn: " + stats.ReusedTokens + " of " + stats.PromptTokens +
                                  " prompt tokens reused, images encoded " + stats.ImagesEncoded + "]");
            }
            return 0;
        }
        catch (KraitException e)
        {
            Console.Error.WriteLine("error (" + e.Status + "): " + e.Message);
            return 1;
        }
    }
}
