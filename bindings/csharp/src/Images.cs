// Images: raw 8-bit pixels, batches of model-ready pixels, classification results.
using System;
using System.Collections.Generic;

namespace Krait
{
    /// <summary>Raw 8-bit pixels (krait_image): rows top to bottom, channels interleaved.</summary>
    public sealed class RawImage
    {
        /// <summary>An image of <paramref name="width"/> x <paramref name="height"/> pixels with
        /// <paramref name="channels"/> channels (1 gray, 3 RGB, 4 RGBA: alpha ignored).</summary>
        /// <param name="pixels">The bytes, borrowed for each call that uses the image.</param>
        /// <param name="width">Width in pixels, &gt; 0.</param>
        /// <param name="height">Height in pixels, &gt; 0.</param>
        /// <param name="channels">1, 3 or 4.</param>
        /// <param name="rowStride">Bytes from one row to the next; 0 = width * channels.</param>
        public RawImage(byte[] pixels, int width, int height, int channels, long rowStride = 0)
        {
            if (pixels == null) throw Status.Argument("pixels is null");
            Pixels = pixels;
            Width = width;
            Height = height;
            Channels = channels;
            RowStride = rowStride;
        }

        /// <summary>The pixel bytes.</summary>
        public byte[] Pixels { get; private set; }
        /// <summary>Width in pixels.</summary>
        public int Width { get; private set; }
        /// <summary>Height in pixels.</summary>
        public int Height { get; private set; }
        /// <summary>Channels: 1, 3 or 4.</summary>
        public int Channels { get; private set; }
        /// <summary>Bytes per row; 0 = Width * Channels.</summary>
        public long RowStride { get; private set; }

        internal NativeMethods.Image ToNative(IntPtr pinned)
        {
            long needed = (RowStride == 0 ? (long)Width * Channels : RowStride) * Math.Max(0, Height - 1) +
                          (long)Width * Channels;
            if (Width > 0 && Height > 0 && Channels > 0 && Pixels.Length < needed)
                throw Status.Argument("pixels holds " + Pixels.Length + " bytes, a " + Width + "x" + Height + "x" +
                                      Channels + " image needs " + needed);
            var image = new NativeMethods.Image();
            image.struct_size = (uint)System.Runtime.InteropServices.Marshal.SizeOf(typeof(NativeMethods.Image));
            image.pixels = pinned;
            image.width = Width;
            image.height = Height;
            image.row_stride = RowStride;
            image.channels = Channels;
            return image;
        }
    }

    /// <summary>
    /// Model-ready images, float32 [Count, 3, Height, Width] (NCHW): the pictures of an assistant's
    /// prompt or message, or a classifier's ready input. Built from files, encoded bytes and raw
    /// pixels with the model's own preprocessing (krait_model_preprocess_image_*), or from ready
    /// tensors.
    /// </summary>
    public sealed class ImageBatch
    {
        private readonly Model _model;
        private readonly List<float[]> _images = new List<float[]>();
        private float[] _joined;

        /// <summary>An empty batch of images made ready for <paramref name="model"/> (its
        /// ImageHeight x ImageWidth).</summary>
        public ImageBatch(Model model)
        {
            if (model == null) throw Status.Argument("model is null");
            _model = model;
            Height = model.Info.ImageHeight;
            Width = model.Info.ImageWidth;
        }

        /// <summary>An empty batch of ready tensors of <paramref name="height"/> x
        /// <paramref name="width"/> (no model: only <see cref="AddTensor"/>).</summary>
        public ImageBatch(long height, long width)
        {
            Height = height;
            Width = width;
        }

        /// <summary>A batch holding <paramref name="count"/> ready images in
        /// <paramref name="pixels"/>, float32 [count, 3, height, width].</summary>
        public static ImageBatch FromPixels(float[] pixels, int count, long height, long width)
        {
            if (pixels == null) throw Status.Argument("pixels is null");
            if (count <= 0 || pixels.Length != count * 3 * height * width)
                throw Status.Argument("pixels holds " + pixels.Length + " floats, not " + count + " x 3 x " + height +
                                      " x " + width);
            var batch = new ImageBatch(height, width);
            int each = (int)(3 * height * width);
            for (int i = 0; i < count; i++)
            {
                var one = new float[each];
                Array.Copy(pixels, i * each, one, 0, each);
                batch._images.Add(one);
            }
            return batch;
        }

        /// <summary>Images in the batch.</summary>
        public int Count { get { return _images.Count; } }
        /// <summary>Each image's height.</summary>
        public long Height { get; private set; }
        /// <summary>Each image's width.</summary>
        public long Width { get; private set; }

        /// <summary>Adds an image file (PNG, JPEG, BMP, GIF), preprocessed for the model.</summary>
        public ImageBatch AddFile(string path)
        {
            return Add(RequireModel().PreprocessImage(path));
        }

        /// <summary>Adds an encoded image (the bytes of a PNG, JPEG, BMP or GIF file).</summary>
        public ImageBatch AddEncoded(byte[] data)
        {
            return Add(RequireModel().PreprocessImage(data));
        }

        /// <summary>Adds raw 8-bit pixels, preprocessed for the model.</summary>
        public ImageBatch AddPixels(RawImage image)
        {
            return Add(RequireModel().PreprocessImage(image));
        }

        /// <summary>Adds one ready image, float32 [3, Height, Width].</summary>
        public ImageBatch AddTensor(float[] chw)
        {
            if (chw == null) throw Status.Argument("pixels is null");
            if (chw.Length != 3 * Height * Width)
                throw Status.Argument("an image of this batch has 3 x " + Height + " x " + Width + " floats, got " +
                                      chw.Length);
            return Add((float[])chw.Clone());
        }

        /// <summary>All images, float32 [Count, 3, Height, Width] (a copy).</summary>
        public float[] ToArray()
        {
            return (float[])Joined().Clone();
        }

        /// <summary>The joined pixels (shared; null when empty).</summary>
        internal float[] Joined()
        {
            if (_images.Count == 0) return null;
            if (_joined == null)
            {
                int each = _images[0].Length;
                var all = new float[each * _images.Count];
                for (int i = 0; i < _images.Count; i++) Array.Copy(_images[i], 0, all, i * each, each);
                _joined = all;
            }
            return _joined;
        }

        private ImageBatch Add(float[] chw)
        {
            _images.Add(chw);
            _joined = null;
            return this;
        }

        private Model RequireModel()
        {
            if (_model == null)
                throw new InvalidOperationException("this ImageBatch has no model to preprocess images with");
            return _model;
        }
    }

    /// <summary>One predicted class (krait_classification, with the label copied).</summary>
    public sealed class Classification
    {
        internal Classification(int labelId, float probability, string label)
        {
            LabelId = labelId;
            Probability = probability;
            Label = label;
        }

        /// <summary>Index into the active head's labels.</summary>
        public int LabelId { get; private set; }
        /// <summary>Softmax of the logits, in [0, 1].</summary>
        public float Probability { get; private set; }
        /// <summary>The label's name (config.json id2label, "LABEL_&lt;id&gt;" where absent).</summary>
        public string Label { get; private set; }

        /// <summary>"label (probability)".</summary>
        public override string ToString()
        {
            return Label + " (" + Probability.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture) + ")";
        }
    }
}
