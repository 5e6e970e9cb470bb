// Session calls of image classifiers and vision-language assistants.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;

namespace Krait
{
    public sealed partial class Session
    {
        // ---- classifiers ------------------------------------------------------------------------

        /// <summary>Classes of the session's active head: the model's, or an active adapter's
        /// replacement head (krait_session_get_num_labels).</summary>
        public long NumLabels
        {
            get
            {
                return Call(CancellationToken.None, null, h =>
                {
                    long n;
                    Status.Check(NativeMethods.krait_session_get_num_labels(h, out n));
                    return n;
                });
            }
        }

        /// <summary>Classifies image files (PNG, JPEG, BMP, GIF): per image, in input order, its
        /// min(topK, labels) most probable classes, most probable first
        /// (krait_session_classify_files).</summary>
        /// <exception cref="KraitIOException">a file missing or unreadable</exception>
        /// <exception cref="KraitFormatException">not a supported image, or corrupt</exception>
        /// <exception cref="KraitWrongKindException">not a classifier</exception>
        public Classification[][] ClassifyFiles(IList<string> paths, int topK = 5,
                                                CancellationToken cancellationToken = default(CancellationToken))
        {
            if (paths == null) throw Status.Argument("paths is null");
            using (var native = new NativeStrings(paths, "path"))
            {
                IntPtr[] items = native.Items;
                return Classify(paths.Count, topK, cancellationToken, (h, output, capacity) =>
                {
                    UIntPtr n;
                    int status = NativeMethods.krait_session_classify_files(h, items, Size.Of(items.Length), topK,
                                                                            output, capacity, out n);
                    return Tuple.Create(status, n);
                });
            }
        }

        /// <summary>Classifies one image file (see <see cref="ClassifyFiles"/>).</summary>
        public Classification[] ClassifyFile(string path, int topK = 5,
                                             CancellationToken cancellationToken = default(CancellationToken))
        {
            return ClassifyFiles(new[] { path }, topK, cancellationToken)[0];
        }

        /// <summary>Classifies encoded images in memory (the bytes of PNG, JPEG, BMP, GIF files)
        /// (krait_session_classify_encoded).</summary>
        public Classification[][] ClassifyEncoded(IList<byte[]> images, int topK = 5,
                                                  CancellationToken cancellationToken = default(CancellationToken))
        {
            if (images == null) throw Status.Argument("images is null");
            var pins = new List<GCHandle>();
            try
            {
                var data = new IntPtr[images.Count];
                var sizes = new UIntPtr[images.Count];
                for (int i = 0; i < images.Count; i++)
                {
                    if (images[i] == null) throw Status.Argument("image " + i + " is null");
                    GCHandle pin = GCHandle.Alloc(images[i], GCHandleType.Pinned);
                    pins.Add(pin);
                    data[i] = pin.AddrOfPinnedObject();
                    sizes[i] = Size.Of(images[i].Length);
                }
                return Classify(images.Count, topK, cancellationToken, (h, output, capacity) =>
                {
                    UIntPtr n;
                    int status = NativeMethods.krait_session_classify_encoded(h, data, sizes, Size.Of(data.Length), topK,
                                                                              output, capacity, out n);
                    return Tuple.Create(status, n);
                });
            }
            finally
            {
                foreach (GCHandle pin in pins) pin.Free();
            }
        }

        /// <summary>Classifies raw 8-bit images (krait_session_classify_pixels).</summary>
        public Classification[][] ClassifyPixels(IList<RawImage> images, int topK = 5,
                                                 CancellationToken cancellationToken = default(CancellationToken))
        {
            if (images == null) throw Status.Argument("images is null");
            var pins = new List<GCHandle>();
            try
            {
                var native = new NativeMethods.Image[images.Count];
                for (int i = 0; i < images.Count; i++)
                {
                    if (images[i] == null) throw Status.Argument("image " + i + " is null");
                    GCHandle pin = GCHandle.Alloc(images[i].Pixels, GCHandleType.Pinned);
                    pins.Add(pin);
                    native[i] = images[i].ToNative(pin.AddrOfPinnedObject());
                }
                return Classify(images.Count, topK, cancellationToken, (h, output, capacity) =>
                {
                    UIntPtr n;
                    int status = NativeMethods.krait_session_classify_pixels(h, native, Size.Of(native.Length), topK,
                                                                             output, capacity, out n);
                    return Tuple.Create(status, n);
                });
            }
            finally
            {
                foreach (GCHandle pin in pins) pin.Free();
            }
        }

        private delegate Tuple<int, UIntPtr> ClassifyCall(SessionHandle h, NativeMethods.Classification[] output,
                                                          UIntPtr capacity);

        private Classification[][] Classify(int n, int topK, CancellationToken ct, ClassifyCall call)
        {
            return Call(ct, null, h =>
            {
                // A size query first (it runs nothing), then the call.
                Tuple<int, UIntPtr> r = call(h, null, UIntPtr.Zero);
                Status.Check(r.Item1);
                var output = new NativeMethods.Classification[Size.ToInt(r.Item2, "classifications")];
                r = call(h, output, Size.Of(output.Length));
                Status.Check(r.Item1);
                int total = Size.ToInt(r.Item2, "classifications");
                int k = n == 0 ? 0 : total / n;
                var result = new Classification[n][];
                for (int i = 0; i < n; i++)
                {
                    result[i] = new Classification[k];
                    for (int j = 0; j < k; j++)
                    {
                        NativeMethods.Classification c = output[i * k + j];
                        // The label belongs to the model or the active adapter: copied now, under the lock.
                        result[i][j] = new Classification(c.label_id, c.probability, Utf8.FromNative(c.label));
                    }
                }
                return result;
            });
        }

        /// <summary>The classifier on ready input: <paramref name="pixels"/> float32 [batch, 3,
        /// height, width] -> float32 logits [batch, NumLabels] (krait_session_classifier_forward).</summary>
        public float[] ClassifierForward(float[] pixels, long batch, long height, long width,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            if (pixels == null) throw Status.Argument("pixels is null");
            if (batch > 0 && height > 0 && width > 0 && pixels.Length != batch * 3 * height * width)
                throw Status.Argument("pixels holds " + pixels.Length + " floats, not " + batch + " x 3 x " + height +
                                      " x " + width);
            return Call(cancellationToken, null, h =>
            {
                UIntPtr n;
                Status.Check(NativeMethods.krait_session_classifier_forward(h, pixels, batch, height, width, null,
                                                                            UIntPtr.Zero, out n));
                float[] logits = new float[Size.ToInt(n, "logits")];
                Status.Check(NativeMethods.krait_session_classifier_forward(h, pixels, batch, height, width, logits, n,
                                                                            out n));
                return logits;
            });
        }

        /// <summary>The classifier on a batch of ready images: float32 logits [Count, NumLabels].</summary>
        public float[] ClassifierForward(ImageBatch images,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            if (images == null || images.Count == 0) throw Status.Argument("no images");
            return ClassifierForward(images.Joined(), images.Count, images.Height, images.Width, cancellationToken);
        }

        // ---- assistants ---------------------------------------------------------------------------

        /// <summary>The language model's logits for prompts with images, as
        /// LlavaForConditionalGeneration(input_ids, pixel_values).logits: <paramref name="ids"/>
        /// [batch, length] with each image as ImageRows copies of ImageTokenId, the images of row 0,
        /// then row 1, ... -> float32 [batch, length, vocab] (krait_session_assistant_forward).
        /// Stateless.</summary>
        public float[] AssistantForward(int[] ids, long batch, long length, ImageBatch images,
                                        CancellationToken cancellationToken = default(CancellationToken))
        {
            if (ids == null) throw Status.Argument("ids is null");
            if (batch * length != ids.Length)
                throw Status.Argument("ids holds " + ids.Length + " ids, batch * length is " + batch * length);
            float[] px = images == null ? null : images.Joined();
            long count = images == null ? 0 : images.Count;
            long height = images == null ? 0 : images.Height;
            long width = images == null ? 0 : images.Width;
            return Call(cancellationToken, null, h =>
            {
                UIntPtr n;
                Status.Check(NativeMethods.krait_session_assistant_forward(h, ids, batch, length, px, count, height, width,
                                                                           null, UIntPtr.Zero, out n));
                float[] logits = new float[Size.ToInt(n, "logits")];
                Status.Check(NativeMethods.krait_session_assistant_forward(h, ids, batch, length, px, count, height, width,
                                                                           logits, n, out n));
                return logits;
            });
        }

        /// <summary>Appends a prompt with images to the context in one prefill
        /// (krait_session_append_images); returns the logits after it, float32 [vocab] (null when
        /// <paramref name="logits"/> is false). <see cref="Generate(int[], GenerateOptions, TokenCallback, CancellationToken)"/>
        /// with an empty prompt then continues.</summary>
        public float[] AppendImages(int[] ids, ImageBatch images, bool logits = true,
                                    CancellationToken cancellationToken = default(CancellationToken))
        {
            if (ids == null) throw Status.Argument("ids is null");
            float[] px = images == null ? null : images.Joined();
            long count = images == null ? 0 : images.Count;
            long height = images == null ? 0 : images.Height;
            long width = images == null ? 0 : images.Width;
            return Call(cancellationToken, null, h =>
            {
                float[] output = logits ? new float[checked((int)Math.Max(1, _model.Info.VocabSize))] : null;
                Status.Check(NativeMethods.krait_session_append_images(h, ids, Size.Of(ids.Length), px, count, height,
                                                                       width, output,
                                                                       Size.Of(output == null ? 0 : output.Length)));
                return output;
            });
        }

        /// <summary>The rows the language model reads for each image (the projector's output):
        /// float32 [Count, ImageRows, hidden] (krait_session_encode_images).</summary>
        public float[] EncodeImages(ImageBatch images,
                                    CancellationToken cancellationToken = default(CancellationToken))
        {
            if (images == null || images.Count == 0) throw Status.Argument("no images");
            float[] px = images.Joined();
            return Call(cancellationToken, null, h =>
            {
                UIntPtr n;
                Status.Check(NativeMethods.krait_session_encode_images(h, px, images.Count, images.Height, images.Width,
                                                                       null, UIntPtr.Zero, out n));
                float[] features = new float[Size.ToInt(n, "features")];
                Status.Check(NativeMethods.krait_session_encode_images(h, px, images.Count, images.Height, images.Width,
                                                                       features, n, out n));
                return features;
            });
        }

        /// <summary>Appends a prompt with images (as <see cref="AppendImages"/>) and generates after
        /// it, in one call on the session: the assistant's answer to a question about pictures.
        /// Call <see cref="Reset"/> first for a prompt that starts from an empty context.</summary>
        /// <param name="ids">The prompt's ids, images expanded (see <see cref="Model.ImagePrompt"/>).</param>
        /// <param name="images">The prompt's images, in the order of their tokens.</param>
        /// <param name="options">Generation options.</param>
        /// <param name="onToken">Streaming callback, or null.</param>
        /// <param name="cancellationToken">Aborts the call.</param>
        public GenerationResult GenerateWithImages(int[] ids, ImageBatch images, GenerateOptions options = null,
                                                   TokenCallback onToken = null,
                                                   CancellationToken cancellationToken = default(CancellationToken))
        {
            if (ids == null) throw Status.Argument("ids is null");
            float[] px = images == null ? null : images.Joined();
            long count = images == null ? 0 : images.Count;
            long height = images == null ? 0 : images.Height;
            long width = images == null ? 0 : images.Width;
            return Call(cancellationToken, options == null ? null : options.Adapters, h =>
            {
                if (ids.Length > 0)
                    Status.Check(NativeMethods.krait_session_append_images(h, ids, Size.Of(ids.Length), px, count,
                                                                           height, width, null, UIntPtr.Zero));
                return RunGenerate(h, new int[0], options, onToken);
            });
        }

        /// <summary>The answer to a text prompt about <paramref name="images"/>: the text is
        /// encoded and its images placed as the model says (<see cref="Model.ImagePrompt"/>), then
        /// as the ids overload.</summary>
        public GenerationResult GenerateWithImages(string prompt, ImageBatch images, GenerateOptions options = null,
                                                   TokenCallback onToken = null,
                                                   CancellationToken cancellationToken = default(CancellationToken))
        {
            return GenerateWithImages(Krait.Model.BuildImagePrompt(_model.Info, Tokenizer, _model.Path, prompt, images == null ? 0 : images.Count), images, options,
                                      onToken, cancellationToken);
        }
    }
}
