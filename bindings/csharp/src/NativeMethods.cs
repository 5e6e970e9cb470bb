// P/Invoke declarations of the C ABI (abi/include/krait/krait.h, version 1.9) and the structs it
// passes. Everything here is internal: the public classes wrap it.
//
// Conventions used throughout:
//  * Strings going in are NUL-terminated UTF-8 byte arrays made by Utf8.Z (never the platform's
//    ANSI code page); strings coming out are IntPtr read with Utf8.FromNative (strlen + UTF-8).
//  * size_t is UIntPtr; int64_t long; int32_t int; enums are 32-bit ints.
//  * Handles are passed as the SafeHandle subclasses of Handles.cs: the marshaller adds a reference
//    for the duration of the call and throws ObjectDisposedException for a closed handle. Handles
//    are returned as IntPtr and wrapped at once by the caller (so that the parent handle can be
//    referenced first).
//  * Caller-owned output buffers are managed arrays: blittable arrays are pinned and written in
//    place ([Out]).
//  * Struct layouts match the C structs on 64-bit platforms (sizes and offsets are checked by
//    tests/csharp/LayoutTests.cs against the C compiler's numbers).
using System;
using System.Runtime.InteropServices;

namespace Krait
{
    internal static class NativeMethods
    {
        internal const string Lib = "krait";

        // ---- callbacks ----------------------------------------------------------------------
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void LogFn(int level, IntPtr message, IntPtr userData);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int ProgressFn(float fraction, IntPtr userData);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TokenFn(int tokenId, IntPtr piece, UIntPtr pieceLen, IntPtr userData);

        // ---- structs --------------------------------------------------------------------------
        [StructLayout(LayoutKind.Sequential)]
        internal struct ModelParams
        {
            public uint struct_size;
            public int device;
            public IntPtr progress;
            public IntPtr progress_user_data;
            public int weight_precision;
            public int matmul_precision;
            public IntPtr preprocessor_config;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct ModelInfo
        {
            public uint struct_size;
            public int kind;
            public IntPtr architecture;
            public long vocab_size;
            public long hidden_size;
            public long num_layers;
            public long state_size;
            public long num_parameters;
            public long weight_bytes;
            public int bos_token_id;
            public int eos_token_id;
            public IntPtr source_dtype;
            public long num_labels;
            public long image_height;
            public long image_width;
            public int image_token_id;
            public long image_rows;
            public int image_placement;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SessionParams
        {
            public uint struct_size;
            public int n_threads;
            public long max_image_pixels;
            public int max_batch;
            public long context_length;
            public long image_cache_bytes;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SamplingParams
        {
            public uint struct_size;
            public float temperature;
            public int top_k;
            public float top_p;
            public float min_p;
            public float repetition_penalty;
            public ulong seed;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct GenerateParams
        {
            public uint struct_size;
            public int max_new_tokens;
            public SamplingParams sampling;
            public IntPtr stop_strings;
            public UIntPtr n_stop_strings;
            public int stop_at_eos;
            public IntPtr on_token;
            public IntPtr user_data;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct ConversationStats
        {
            public uint struct_size;
            public long prompt_tokens;
            public long reused_tokens;
            public long prefilled_tokens;
            public long generated_tokens;
            public long images_encoded;
            public long images_cached;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct Classification
        {
            public int label_id;
            public float probability;
            public IntPtr label;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct Image
        {
            public uint struct_size;
            public IntPtr pixels;
            public int width;
            public int height;
            public long row_stride;
            public int channels;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct AdapterParams
        {
            public uint struct_size;
            public IntPtr name;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct AdapterInfo
        {
            public uint struct_size;
            public IntPtr name;
            public IntPtr path;
            public int max_rank;
            public float lora_alpha;
            public int use_rslora;
            public long num_targets;
            public long num_parameters;
            public long num_labels;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct AdapterTarget
        {
            public uint struct_size;
            public IntPtr module;
            public IntPtr kind;
            public int rank;
            public float scaling;
            public int replaced;
        }

        // ---- versions, errors, logging --------------------------------------------------------
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint krait_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr krait_version_string();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr krait_cpu_kernels();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr krait_cpu_bf16_products();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr krait_last_error();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr krait_status_string(int status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_set_log_callback(IntPtr callback, IntPtr userData, int minLevel);

        // ---- models ---------------------------------------------------------------------------
        // Up to 1.8 the params_init functions wrote sizeof() of the *library's* struct (since 1.9 the
        // 1.8 layout, and krait_*_params_init_sized takes the caller's size): they are called on a
        // scratch block larger than any version (Interop.cs, Defaults), which is right for every 1.x.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_model_params_init(IntPtr parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_load(byte[] path, ref ModelParams parameters, out IntPtr model);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_describe(ModelHandle model, [Out] byte[] text, UIntPtr capacity,
                                                        out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_model_free(IntPtr model);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_get_info(ModelHandle model, ref ModelInfo info);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_get_label(ModelHandle model, int id, out IntPtr label);

        // ---- tokenizers -----------------------------------------------------------------------
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_tokenizer_load(byte[] path, out IntPtr tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_tokenizer_free(IntPtr tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_get_tokenizer(ModelHandle model, out IntPtr tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_tokenizer_encode(TokenizerHandle tokenizer, byte[] text, UIntPtr textLen,
                                                          int addSpecialTokens, [Out] int[] ids, UIntPtr capacity,
                                                          out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_tokenizer_decode_v2(TokenizerHandle tokenizer, int[] ids, UIntPtr nIds,
                                                             int skipSpecialTokens, [Out] byte[] text,
                                                             UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_apply_chat_template(ModelHandle model, byte[] messagesJson,
                                                                   int addGenerationPrompt, byte[] extraJson,
                                                                   byte[] templateSrc, [Out] byte[] text,
                                                                   UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_tokenizer_vocab_size(TokenizerHandle tokenizer, out long size);

        // ---- sessions -------------------------------------------------------------------------
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_session_params_init(IntPtr parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_create(ModelHandle model, ref SessionParams parameters,
                                                        out IntPtr session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_session_free(IntPtr session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_set_threads(SessionHandle session, int nThreads);

        // abort / clear_abort take the raw pointer: they run from cancellation callbacks, and the
        // caller holds a reference on the handle while they can run (Session.Abortable).
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_session_abort(IntPtr session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_session_clear_abort(IntPtr session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_forward(SessionHandle session, int[] ids, long batch, long length,
                                                         [Out] float[] logits, UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_reset(SessionHandle session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_append(SessionHandle session, int[] ids, UIntPtr nIds,
                                                        [Out] float[] logits, UIntPtr capacity);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_generate_params_init(IntPtr parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_generate(SessionHandle session, int[] promptIds, UIntPtr nPrompt,
                                                          ref GenerateParams parameters, [Out] int[] outIds,
                                                          UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_snapshot(SessionHandle session, out IntPtr state);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_state_free(IntPtr state);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_state_get_n_tokens(StateHandle state, out long nTokens);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_restore(SessionHandle session, StateHandle state);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_get_tokens(SessionHandle session, [Out] int[] ids, UIntPtr capacity,
                                                            out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_truncate(SessionHandle session, long nTokens);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_save_state(SessionHandle session, byte[] path);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_load_state(SessionHandle session, byte[] path);

        // ---- conversations --------------------------------------------------------------------
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_create(SessionHandle session, byte[] systemPrompt,
                                                             byte[] templateSrc, byte[] extraJson,
                                                             out IntPtr conversation);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_conversation_free(IntPtr conversation);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_add_message(ConversationHandle conversation, byte[] role,
                                                                  byte[] content);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_reply(ConversationHandle conversation,
                                                            ref GenerateParams parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_add_message_images(ConversationHandle conversation,
                                                                         byte[] role, byte[] content,
                                                                         float[] pixels, long nImages, long height,
                                                                         long width);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_say(ConversationHandle conversation, byte[] userText,
                                                          ref GenerateParams parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_say_images(ConversationHandle conversation, byte[] userText,
                                                                 float[] pixels, long nImages, long height,
                                                                 long width, ref GenerateParams parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_regenerate(ConversationHandle conversation,
                                                                 ref GenerateParams parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_undo(ConversationHandle conversation);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_edit(ConversationHandle conversation, UIntPtr index,
                                                           byte[] content);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_get_n_messages(ConversationHandle conversation, out UIntPtr n);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_render(ConversationHandle conversation, int addGenerationPrompt,
                                                             [Out] byte[] text, UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_get_message(ConversationHandle conversation, UIntPtr index,
                                                                  out IntPtr role, out IntPtr content);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_get_stats(ConversationHandle conversation,
                                                                ref ConversationStats stats);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_save(ConversationHandle conversation, byte[] path);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_conversation_load(SessionHandle session, byte[] path, byte[] templateSrc,
                                                           byte[] extraJson, out IntPtr conversation);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_chat(SessionHandle session, byte[] messagesJson,
                                                      ref GenerateParams parameters, IntPtr text, UIntPtr capacity,
                                                      out UIntPtr nOut);

        // ---- classifiers ----------------------------------------------------------------------
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_classify_files(SessionHandle session, IntPtr[] paths, UIntPtr n,
                                                                int topK, [Out] Classification[] output,
                                                                UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_classify_encoded(SessionHandle session, IntPtr[] data,
                                                                  UIntPtr[] sizes, UIntPtr n, int topK,
                                                                  [Out] Classification[] output, UIntPtr capacity,
                                                                  out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_classify_pixels(SessionHandle session, Image[] images, UIntPtr n,
                                                                 int topK, [Out] Classification[] output,
                                                                 UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_classifier_forward(SessionHandle session, float[] pixels, long batch,
                                                                    long height, long width, [Out] float[] logits,
                                                                    UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_get_num_labels(SessionHandle session, out long numLabels);

        // ---- assistants -----------------------------------------------------------------------
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_preprocess_image_file(ModelHandle model, byte[] path,
                                                                     [Out] float[] pixels, UIntPtr capacity,
                                                                     out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_preprocess_image_encoded(ModelHandle model, byte[] data, UIntPtr size,
                                                                        [Out] float[] pixels, UIntPtr capacity,
                                                                        out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_model_preprocess_image_pixels(ModelHandle model, ref Image image,
                                                                       [Out] float[] pixels, UIntPtr capacity,
                                                                       out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_assistant_forward(SessionHandle session, int[] ids, long batch,
                                                                   long length, float[] pixels, long nImages,
                                                                   long height, long width, [Out] float[] logits,
                                                                   UIntPtr capacity, out UIntPtr nOut);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_append_images(SessionHandle session, int[] ids, UIntPtr nIds,
                                                               float[] pixels, long nImages, long height, long width,
                                                               [Out] float[] logits, UIntPtr capacity);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_encode_images(SessionHandle session, float[] pixels, long n,
                                                               long height, long width, [Out] float[] features,
                                                               UIntPtr capacity, out UIntPtr nOut);

        // ---- adapters -------------------------------------------------------------------------
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_adapter_params_init(IntPtr parameters);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_adapter_load(ModelHandle model, byte[] path, ref AdapterParams parameters,
                                                      out IntPtr adapter);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void krait_adapter_free(IntPtr adapter);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_adapter_get_info(AdapterHandle adapter, ref AdapterInfo info);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_adapter_get_target(AdapterHandle adapter, long index,
                                                            ref AdapterTarget target);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_adapter_get_label(AdapterHandle adapter, int id, out IntPtr label);

        // adapters: raw pointers of handles the caller holds a reference on.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int krait_session_set_adapters(SessionHandle session, IntPtr[] adapters,
                                                              float[] scales, UIntPtr n);
    }
}
