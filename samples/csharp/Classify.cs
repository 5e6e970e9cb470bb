// Classify.cs: classify pictures with an image classifier (models/vit-digits: handwritten digits).
//
//   mono Classify.exe [MODEL_DIR] [IMAGE...]
//   defaults: models/vit-digits, every models/samples/digit_*.png
//
// The images of one call are decoded, preprocessed as the model's preprocessor_config.json says and
// run through the model together. Files, encoded bytes and raw pixels are all accepted.
using System;
using System.IO;
using System.Linq;
using Krait;

static class Classify
{
    static int Main(string[] args)
    {
        string modelDir = args.Length > 0 ? args[0] : "models/vit-digits";
        string[] images = args.Skip(1).ToArray();
        if (images.Length == 0)
            images = Directory.GetFiles(Path.Combine("models", "samples"), "digit_*.png").OrderBy(f => f).ToArray();

        try
        {
            using (Model model = Model.Load(modelDir))
            using (Session session = model.CreateSession())
            {
                Console.WriteLine(model.Info.Architecture + ": " + model.Info.NumLabels + " classes, input " +
                                  model.Info.ImageWidth + "x" + model.Info.ImageHeight);

                // The three most probable classes of each image, most probable first.
                Classification[][] results = session.ClassifyFiles(images, 3);
                for (int i = 0; i < images.Length; i++)
                {
                    Console.WriteLine(images[i]);
                    foreach (Classification c in results[i])
                        Console.WriteLine("  {0:0.0000}  {1}", c.Probability, c.Label);
                }

                // The same first image from its bytes in memory (from a network, a database, ...).
                Classification best = session.ClassifyEncoded(new[] { File.ReadAllBytes(images[0]) }, 1)[0][0];
                Console.WriteLine("from memory: " + images[0] + " -> " + best);
            }
            return 0;
        }
        catch (KraitException e)
        {
            // A missing picture is a KraitIOException, an unreadable one a KraitFormatException.
            Console.Error.WriteLine("error (" + e.Status + "): " + e.Message);
            return 1;
        }
    }
}
