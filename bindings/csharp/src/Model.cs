// Models: loading, facts, labels, chat templates, image preprocessing; the factory of sessions,
// tokenizers and adapters.
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Krait
{
    /// <summary>What a model is (krait_model_kind).</summary>
    public enum ModelKind
    {
        /// <summary>A language model: Mamba, Llama, Mistral, Qwen2.</summary>
        Sequence = 0,
        /// <summary>An image classifier: ViT, MambaVision, an ONNX graph.</summary>
        Classifier = 1,
        /// <summary>A vision-language assistant: LLaVA or a composite assistant.</summary>
        Assistant = 2,
    }

    /// <summary>Where a model runs (krait_device).</summary>
    public enum Device
    {
        /// <summary>The CPU.</summary>
        Cpu = 0,
        /// <summary>Reserved: refused with KraitUnsupportedException in builds without CUDA.</summary>
        Cuda = 1,
    }

    /// <summary>How F16/BF16 weights are kept (krait_weight_precision).</summary>
    public enum WeightPrecision
    {
        /// <summary>As the files store them (half the memory of F32 for 16-bit files). Default.</summary>
        Stored = 0,
        /// <summary>Upcast to F32 once at load.</summary>
        F32 = 1,
    }

    /// <summary>How products with BF16 weights are computed (krait_matmul_precision).</summary>
    public enum MatmulPrecision
    {
        /// <summary>Exact F32 sums of exactly widened weights. Default.</summary>
        Exact = 0,
        /// <summary>Calls of 16+ rows round activations to BF16 and use the CPU's BF16 dot products.</summary>
        Bf16 = 1,
    }

    /// <summary>Where an assistant's chat puts each image's rows (krait_image_placement).</summary>
    public enum ImagePlacement
    {
        /// <summary>Where the chat template writes the image token (LLaVA: "&lt;image&gt;").</summary>
        AtMarker = 0,
        /// <summary>The images of a prompt first, then its text (no image token in the text).</summary>
        BeforeText = 1,
    }

    /// <summary>Options of <see cref="Model.Load"/> (krait_model_params). Unset members keep the
    /// library's defaults.</summary>
    public sealed class ModelOptions
    {
        /// <summary>Where to run. Default <see cref="Krait.Device.Cpu"/>.</summary>
        public Device Device { get; set; }

        /// <summary>How F16/BF16 weights are kept. Default <see cref="Krait.WeightPrecision.Stored"/>.</summary>
        public WeightPrecision WeightPrecision { get; set; }

        /// <summary>How BF16 products are computed. Default <see cref="Krait.MatmulPrecision.Exact"/>.</summary>
        public MatmulPrecision MatmulPrecision { get; set; }

        /// <summary>A classifier's preprocessing as the JSON text of a preprocessor_config.json,
        /// replacing the model's; null (default) = the model's files.</summary>
        public string PreprocessorConfig { get; set; }

        /// <summary>Called on the loading thread with the fraction done in [0, 1]; return false to
        /// cancel the load (KraitCancelledException). An exception it throws cancels the load and
        /// is rethrown by Load.</summary>
        public Func<float, bool> Progress { get; set; }
    }

    /// <summary>Facts about a loaded model (krait_model_info).</summary>
    public sealed class ModelInfo
    {
        internal ModelInfo(NativeMethods.ModelInfo i)
        {
            Kind = (ModelKind)i.kind;
            Architecture = Utf8.FromNative(i.architecture);
            VocabSize = i.vocab_size;
            HiddenSize = i.hidden_size;
            NumLayers = i.num_layers;
            StateSize = i.state_size;
            NumParameters = i.num_parameters;
            WeightBytes = i.weight_bytes;
            BosTokenId = i.bos_token_id;
            EosTokenId = i.eos_token_id;
            SourceDtype = Utf8.FromNative(i.source_dtype);
            NumLabels = i.num_labels;
            ImageHeight = i.image_height;
            ImageWidth = i.image_width;
            ImageTokenId = i.image_token_id;
            ImageRows = i.image_rows;
            ImagePlacement = (ImagePlacement)i.image_placement;
        }

        /// <summary>Sequence model, classifier or assistant.</summary>
        public ModelKind Kind { get; private set; }
        /// <summary>"mamba", "llama", "mistral", "qwen2", "vit", "mambavision", "llava", "krait_assistant", ...</summary>
        public string Architecture { get; private set; }
        /// <summary>Rows of the output logits (language models and assistants).</summary>
        public long VocabSize { get; private set; }
        /// <summary>The model's hidden size.</summary>
        public long HiddenSize { get; private set; }
        /// <summary>The number of layers.</summary>
        public long NumLayers { get; private set; }
        /// <summary>Mamba's SSM state size N; 0 for attention models.</summary>
        public long StateSize { get; private set; }
        /// <summary>Parameters held by the model.</summary>
        public long NumParameters { get; private set; }
        /// <summary>Bytes the weights occupy.</summary>
        public long WeightBytes { get; private set; }
        /// <summary>The BOS token id, -1 if none.</summary>
        public int BosTokenId { get; private set; }
        /// <summary>The EOS token id, -1 if none.</summary>
        public int EosTokenId { get; private set; }
        /// <summary>The files' weight dtype: "F32", "F16", "BF16".</summary>
        public string SourceDtype { get; private set; }
        /// <summary>Classes of a classifier's own head (0 for other kinds).</summary>
        public long NumLabels { get; private set; }
        /// <summary>The input image height (classifiers; assistants: their image encoder's).</summary>
        public long ImageHeight { get; private set; }
        /// <summary>The input image width (classifiers; assistants: their image encoder's).</summary>
        public long ImageWidth { get; private set; }
        /// <summary>The token each image is written as in an assistant's prompt (-1 for other kinds).</summary>
        public int ImageTokenId { get; private set; }
        /// <summary>Rows each image becomes in an assistant's prompt (0 for other kinds).</summary>
        public long ImageRows { get; private set; }
        /// <summary>Where an assistant's chat puts each image's rows.</summary>
        public ImagePlacement ImagePlacement { get; private set; }
    }

    /// <summary>A loaded model (krait_model): immutable, usable from any number of threads and
    /// sessions at once. Dispose it when done; its native memory is released once the sessions,
    /// states, adapters and tokenizer made from it are released too (disposing it first only makes
    /// further calls through this object throw ObjectDisposedException).</summary>
    public sealed class Model : IDisposable
    {
        private static readonly NativeMethods.ProgressFn s_progressTrampoline = OnProgress;

        private readonly ModelHandle _handle;
        private readonly string _path;
        private Tokenizer _tokenizer;
        private bool _tokenizerQueried;
        private string[] _labels;

        private Model(ModelHandle handle, string path)
        {
            _handle = handle;
            _path = path;
            var info = new NativeMethods.ModelInfo();
            info.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.ModelInfo));
            Status.Check(NativeMethods.krait_model_get_info(handle, ref info));
            Info = new ModelInfo(info);
        }

        /// <summary>Loads a model directory as published on the Hugging Face hub (config.json,
        /// safetensors, tokenizer.json), or an .onnx image classifier (krait_model_load).</summary>
        /// <param name="path">The model directory or .onnx file.</param>
        /// <param name="options">Load options; null for defaults.</param>
        /// <param name="cancellationToken">Cancels the load between its steps: it then throws
        /// OperationCanceledException (InnerException: the KraitCancelledException).</param>
        /// <exception cref="KraitIOException">missing directory or files</exception>
        /// <exception cref="KraitFormatException">malformed files</exception>
        /// <exception cref="KraitUnsupportedException">a model type, dtype or device not handled</exception>
        public static Model Load(string path, ModelOptions options = null,
                                 CancellationToken cancellationToken = default(CancellationToken))
        {
            if (path == null) throw Status.Argument("path is null");
            Library.CheckCompatible();
            cancellationToken.ThrowIfCancellationRequested();
            NativeMethods.ModelParams p = Defaults.Model();
            byte[] preprocessor = null;
            var progress = new ProgressState();
            GCHandle gc = default(GCHandle);
            if (options != null)
            {
                p.device = (int)options.Device;
                p.weight_precision = (int)options.WeightPrecision;
                p.matmul_precision = (int)options.MatmulPrecision;
                preprocessor = Utf8.Z(options.PreprocessorConfig, "preprocessor config");
                progress.Callback = options.Progress;
            }
            progress.Token = cancellationToken;
            GCHandle pin = default(GCHandle);
            IntPtr ptr = IntPtr.Zero;
            int status;
            KraitException error;
            try
            {
                if (progress.Callback != null || cancellationToken.CanBeCanceled)
                {
                    gc = GCHandle.Alloc(progress);
                    p.progress = Marshal.GetFunctionPointerForDelegate(s_progressTrampoline);
                    p.progress_user_data = GCHandle.ToIntPtr(gc);
                }
                if (preprocessor != null)
                {
                    pin = GCHandle.Alloc(preprocessor, GCHandleType.Pinned);
                    p.preprocessor_config = pin.AddrOfPinnedObject();
                }
                Library.TakeLogError();
                status = NativeMethods.krait_model_load(Utf8.Z(path, "path"), ref p, out ptr);
                error = Status.ToException(status);
            }
            finally
            {
                if (gc.IsAllocated) gc.Free();
                if (pin.IsAllocated) pin.Free();
            }
            Model model = ptr != IntPtr.Zero && error == null ? new Model(new ModelHandle(ptr), path) : null;
            Exception logError = Library.TakeLogError();
            if (progress.Error != null || logError != null)
            {
                if (model != null) model.Dispose();
                ExceptionDispatchInfo.Capture(progress.Error ?? logError).Throw();
            }
            if (error != null)
            {
                if (error is KraitCancelledException && cancellationToken.IsCancellationRequested)
                    throw new OperationCanceledException(error.Message, error, cancellationToken);
                throw error;
            }
            return model;
        }

        /// <summary>The path the model was loaded from.</summary>
        public string Path { get { return _path; } }

        /// <summary>Facts about the model.</summary>
        public ModelInfo Info { get; private set; }

        /// <summary>Sequence model, classifier or assistant.</summary>
        public ModelKind Kind { get { return Info.Kind; } }

        internal ModelHandle Handle
        {
            get
            {
                if (_handle.IsDisposed) throw new ObjectDisposedException("Model");
                return _handle;
            }
        }

        /// <summary>The model's tokenizer (borrowed from the model: released with it; its Dispose
        /// does nothing), or null for a model directory without tokenizer.json.</summary>
        public Tokenizer Tokenizer
        {
            get
            {
                lock (_handle)
                {
                    ModelHandle h = Handle;
                    if (!_tokenizerQueried)
                    {
                        _tokenizer = BorrowTokenizer(h);
                        _tokenizerQueried = true;
                    }
                    return _tokenizer;
                }
            }
        }

        /// <summary>A tokenizer wrapper borrowed from the model behind <paramref name="h"/> (which
        /// it keeps alive until released), or null if the model has none.</summary>
        internal static Tokenizer BorrowTokenizer(ModelHandle h)
        {
            using (ParentRef parent = ParentRef.TakeLive(h))
            {
                IntPtr t;
                int status = NativeMethods.krait_model_get_tokenizer(h, out t);
                if (status == (int)KraitStatus.Unsupported)
                {
                    Status.ToException(status);  // no tokenizer.json: not an error here
                    return null;
                }
                Status.Check(status);
                return t == IntPtr.Zero ? null : new Tokenizer(new TokenizerHandle(t, parent.Transfer()), false);
            }
        }

        /// <summary>How the model was read, as lines of text for people (an ONNX graph's inputs,
        /// outputs and passes; empty for other families). krait_model_describe.</summary>
        public string Describe()
        {
            ModelHandle h = Handle;
            UIntPtr n;
            Status.Check(NativeMethods.krait_model_describe(h, null, UIntPtr.Zero, out n));
            byte[] text = new byte[Size.ToInt(n, "description")];
            Status.Check(NativeMethods.krait_model_describe(h, text, n, out n));
            return Utf8.Decode(text, Size.ToInt(n, "description"));
        }

        /// <summary>The name of label <paramref name="id"/> of a classifier's own head.</summary>
        /// <exception cref="KraitInvalidArgumentException">id outside [0, NumLabels)</exception>
        /// <exception cref="KraitWrongKindException">not a classifier</exception>
        public string GetLabel(int id)
        {
            IntPtr label;
            Status.Check(NativeMethods.krait_model_get_label(Handle, id, out label));
            return Utf8.FromNative(label);
        }

        /// <summary>Every label of a classifier's own head, by id (empty for other kinds).</summary>
        public IList<string> Labels
        {
            get
            {
                if (_labels == null)
                {
                    var labels = new string[Info.Kind == ModelKind.Classifier ? Info.NumLabels : 0];
                    for (int i = 0; i < labels.Length; i++) labels[i] = GetLabel(i);
                    _labels = labels;
                }
                return new ReadOnlyCollection<string>(_labels);
            }
        }

        /// <summary>Renders messages with the model's chat template as transformers'
        /// apply_chat_template(messages, tokenize=False, add_generation_prompt) does
        /// (krait_model_apply_chat_template). Tokenize the result without special tokens.</summary>
        /// <param name="messagesJson">A JSON array of {"role", "content"} messages.</param>
        /// <param name="addGenerationPrompt">Append the assistant's header.</param>
        /// <param name="extraJson">Null, or a JSON object of extra template variables.</param>
        /// <param name="templateSource">Null for the model's template, or a Jinja template.</param>
        public string ApplyChatTemplate(string messagesJson, bool addGenerationPrompt = true, string extraJson = null,
                                        string templateSource = null)
        {
            ModelHandle h = Handle;
            byte[] messages = Utf8.Z(messagesJson, "messages JSON");
            byte[] extra = Utf8.Z(extraJson, "extra JSON");
            byte[] src = Utf8.Z(templateSource, "template");
            UIntPtr n;
            Status.Check(NativeMethods.krait_model_apply_chat_template(h, messages, addGenerationPrompt ? 1 : 0, extra,
                                                                       src, null, UIntPtr.Zero, out n));
            byte[] text = new byte[Size.ToInt(n, "text")];
            Status.Check(NativeMethods.krait_model_apply_chat_template(h, messages, addGenerationPrompt ? 1 : 0, extra,
                                                                       src, text, n, out n));
            return Utf8.Decode(text, Size.ToInt(n, "text"));
        }

        /// <summary>Renders <paramref name="messages"/> with the model's chat template (see the JSON
        /// overload). A message with pictures renders as image parts, then its text.</summary>
        public string ApplyChatTemplate(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true,
                                        string extraJson = null, string templateSource = null)
        {
            return ApplyChatTemplate(Json.Messages(messages), addGenerationPrompt, extraJson, templateSource);
        }

        /// <summary>The token ids of an assistant's text prompt about <paramref name="imageCount"/>
        /// pictures, as transformers' processor writes them: the text encoded without special
        /// tokens, then, for <see cref="ImagePlacement.AtMarker"/>, each image token of the text
        /// (write one per picture, such as "&lt;image&gt;") repeated ImageRows times, or, for
        /// <see cref="ImagePlacement.BeforeText"/>, every picture's ImageRows image tokens first.</summary>
        /// <exception cref="KraitWrongKindException">not an assistant</exception>
        public int[] ImagePrompt(string text, int imageCount)
        {
            return BuildImagePrompt(Info, Tokenizer, _path, text, imageCount);
        }

        internal static int[] BuildImagePrompt(ModelInfo info, Tokenizer tokenizer, string path, string text,
                                               int imageCount)
        {
            if (info.Kind != ModelKind.Assistant)
                throw new KraitWrongKindException(path + " is not a vision-language assistant");
            if (tokenizer == null) throw new KraitUnsupportedException(path + " has no tokenizer.json");
            int[] textIds = tokenizer.Encode(text, false);
            int rows = checked((int)info.ImageRows);
            var ids = new List<int>();
            if (info.ImagePlacement == ImagePlacement.BeforeText)
            {
                for (int i = 0; i < imageCount * rows; i++) ids.Add(info.ImageTokenId);
                ids.AddRange(textIds);
            }
            else
            {
                foreach (int id in textIds)
                {
                    if (id != info.ImageTokenId) ids.Add(id);
                    else for (int i = 0; i < rows; i++) ids.Add(id);
                }
            }
            return ids.ToArray();
        }

        /// <summary>Creates a session on this model (krait_session_create). The session holds a
        /// reference on the model.</summary>
        /// <param name="options">Session options; null for defaults.</param>
        public Session CreateSession(SessionOptions options = null)
        {
            return new Session(this, options);
        }

        /// <summary>Loads a PEFT LoRA adapter folder for this model (krait_adapter_load).</summary>
        /// <param name="path">The folder with adapter_config.json and adapter_model.safetensors.</param>
        /// <param name="name">A name for messages and <see cref="Adapter.Name"/>; null = the folder's name.</param>
        /// <exception cref="KraitIOException">missing folder or files</exception>
        /// <exception cref="KraitFormatException">tensors that do not fit the model</exception>
        public Adapter LoadAdapter(string path, string name = null)
        {
            return new Adapter(this, path, name);
        }

        /// <summary>One image file made model-ready for an assistant or classifier: float32 [3,
        /// ImageHeight, ImageWidth] (krait_model_preprocess_image_file).</summary>
        public float[] PreprocessImage(string path)
        {
            ModelHandle h = Handle;
            byte[] p = Utf8.Z(path, "path");
            if (p == null) throw Status.Argument("path is null");
            UIntPtr n;
            Status.Check(NativeMethods.krait_model_preprocess_image_file(h, p, null, UIntPtr.Zero, out n));
            float[] pixels = new float[Size.ToInt(n, "pixels")];
            Status.Check(NativeMethods.krait_model_preprocess_image_file(h, p, pixels, n, out n));
            return pixels;
        }

        /// <summary>One encoded image (PNG, JPEG, BMP, GIF bytes) made model-ready: float32 [3,
        /// ImageHeight, ImageWidth] (krait_model_preprocess_image_encoded).</summary>
        public float[] PreprocessImage(byte[] encoded)
        {
            ModelHandle h = Handle;
            if (encoded == null) throw Status.Argument("encoded image is null");
            UIntPtr n;
            Status.Check(NativeMethods.krait_model_preprocess_image_encoded(h, encoded, Size.Of(encoded.Length), null,
                                                                           UIntPtr.Zero, out n));
            float[] pixels = new float[Size.ToInt(n, "pixels")];
            Status.Check(NativeMethods.krait_model_preprocess_image_encoded(h, encoded, Size.Of(encoded.Length),
                                                                           pixels, n, out n));
            return pixels;
        }

        /// <summary>One raw 8-bit image made model-ready: float32 [3, ImageHeight, ImageWidth]
        /// (krait_model_preprocess_image_pixels).</summary>
        public float[] PreprocessImage(RawImage image)
        {
            ModelHandle h = Handle;
            if (image == null) throw Status.Argument("image is null");
            GCHandle pin = GCHandle.Alloc(image.Pixels, GCHandleType.Pinned);
            try
            {
                NativeMethods.Image native = image.ToNative(pin.AddrOfPinnedObject());
                UIntPtr n;
                Status.Check(NativeMethods.krait_model_preprocess_image_pixels(h, ref native, null, UIntPtr.Zero, out n));
                float[] pixels = new float[Size.ToInt(n, "pixels")];
                Status.Check(NativeMethods.krait_model_preprocess_image_pixels(h, ref native, pixels, n, out n));
                return pixels;
            }
            finally
            {
                pin.Free();
            }
        }

        /// <summary>Releases this reference to the model (see the class remarks). Safe to call twice.</summary>
        public void Dispose()
        {
            lock (_handle)
            {
                if (_tokenizer != null) _tokenizer.Release();
            }
            _handle.Dispose();
        }

        /// <summary>The path and architecture.</summary>
        public override string ToString()
        {
            return "Krait.Model(" + _path + ", " + Info.Architecture + ")";
        }

        private sealed class ProgressState
        {
            internal Func<float, bool> Callback;
            internal CancellationToken Token;
            internal Exception Error;
        }

        private static int OnProgress(float fraction, IntPtr userData)
        {
            var state = (ProgressState)GCHandle.FromIntPtr(userData).Target;
            try
            {
                if (state.Token.IsCancellationRequested) return 1;
                if (state.Callback != null && !state.Callback(fraction)) return 1;
                return 0;
            }
            catch (Exception e)
            {
                state.Error = e;
                return 1;
            }
        }
    }
}
