/*
** krait.h — the public C interface of Krait, version 1.
**
** This header is the whole public API and its documentation. Everything not
** declared here is private to the library and may change at any time.
**
** ------------------------------------------------------------------------
** CONVENTIONS (they hold for every function unless its comment says otherwise)
**
**  * Status. Every function that can fail returns a krait_status. KRAIT_OK is 0.
**    On failure, a message naming the problem is available from
**    krait_last_error() on the same thread, and out-parameters are left
**    untouched. No C++ exception ever leaves the library.
**  * Errors. Each function lists the statuses it returns ("Errors:"). Besides
**    those, any function that returns a krait_status may return
**    KRAIT_ERR_OUT_OF_MEMORY (an allocation failed; nothing was changed unless
**    the function says otherwise) and KRAIT_ERR_INTERNAL (a bug in Krait).
**    A function documented as "cannot fail" returns no status. A library newer
**    than the header may return status codes the header does not know: treat
**    any nonzero status as a failure.
**  * Ownership. An object returned through `T** out` is owned by the caller
**    and released with the matching krait_*_free(). Every free function
**    accepts NULL and then does nothing. Pointers passed in are borrowed for
**    the duration of the call only, unless a comment says otherwise.
**  * Strings are NUL-terminated UTF-8 unless a length is given with them.
**    Strings returned as `const char*` are owned by the library; their
**    lifetime is stated per function.
**  * Caller-owned buffers: functions that write a variable amount take
**    (buffer, capacity) and report the size needed through `size_t* n_out`.
**    Passing a NULL buffer with capacity 0 is a size query and returns
**    KRAIT_OK. A buffer too small returns KRAIT_ERR_BUFFER_TOO_SMALL, writes
**    nothing, and still sets *n_out to the size needed.
**  * Parameter structs carry their own size as first member (`struct_size`)
**    and only ever grow at the end. Always initialise them with the matching
**    krait_*_params_init() so that fields added by later versions get their
**    defaults; the library reads only the fields that fit in struct_size.
**  * Threads. A krait_model is immutable once loaded and may be used by any
**    number of threads and sessions at once. A krait_session is used by one
**    thread at a time (calls on one session must not overlap), except
**    krait_session_abort() and krait_session_clear_abort(), which may be
**    called from any thread at any time. A conversation counts as its
**    session. Since 1.10 an overlapping call is detected and refused: it
**    returns KRAIT_ERR_BUSY at once, does nothing, and the running call goes
**    on unharmed (also when a callback calls back into its own session).
**    krait_session_free() and krait_conversation_free() cannot be refused:
**    freeing a session while a call on it runs stays undefined behaviour.
**  * Callbacks (krait_log_fn, krait_progress_fn, krait_token_fn) are called
**    synchronously, only while the Krait call that uses them runs, on the
**    thread stated with each; none is ever called after that call returned
**    (except a log callback being replaced, see krait_set_log_callback). A
**    callback must return normally: no C++ exception or longjmp may cross
**    the library. What a callback may call back into Krait is stated with it.
**  * Enums are 32-bit. Dimensions are int64_t; byte and element counts size_t.
** ------------------------------------------------------------------------
** ABI RULES (what keeps 1.x binary compatible; tools/check_abi.sh checks
** every build against the 1.2 ABI in abi/krait.abi)
**
**  * A program built against header 1.x runs unchanged against library 1.y,
**    y >= x. Within 1.x no function is removed or changes its signature, no
**    field of a public struct moves, changes type or disappears, and no
**    enumerator changes value. Additions are new functions, new enumerators
**    and new fields at the end of the structs that carry a struct_size, each
**    starting at or after the struct's previous sizeof (never in its old tail
**    padding, which an older caller's struct_size covers without setting it);
**    each is marked "Added in 1.y".
**  * Parameter structs read by the library (krait_model_params,
**    krait_session_params, krait_generate_params, krait_adapter_params):
**    the caller sets struct_size (the init functions do); the library reads
**    only the fields that fit in it and takes defaults for the rest, so an
**    older caller's smaller struct gets the defaults of the newer fields.
**  * Their init functions write nothing past the caller's struct. Since 1.9,
**    krait_model_params_init(p) and its three siblings are macros that call
**    the matching _init_sized(p, sizeof(p[0])), which writes only `size` bytes;
**    a program built against header 1.9 or later is safe with every later
**    1.y. The functions of the old names stay exported for programs built
**    against older headers and write the 1.8 layout, never more, however the
**    structs grow. A program built against a header older than a struct's
**    last growth before 1.9 (krait_model_params grew in 1.3, 1.6 and 1.8,
**    krait_session_params in 1.1, 1.3 and 1.5) gets a write past its struct
**    from those exported functions of a newer library (up to 1.8 they wrote
**    the library's sizeof): rebuild it against a 1.9+ header. Taking the
**    address of an init function (a function pointer) names the exported one;
**    write (krait_model_params_init)(p) to call it past the macro.
**  * Info structs written by the library (krait_model_info,
**    krait_adapter_info, krait_adapter_target, krait_conversation_stats): the
**    caller sets struct_size to sizeof() of the struct in its header. The
**    library writes only the fields that fit in it and never writes
**    struct_size itself. A struct_size
**    smaller than the struct had in the version that introduced it (0
**    included) is refused with KRAIT_ERR_INVALID_ARGUMENT.
**  * Arrays of structs: krait_image elements are struct_size bytes apart, so
**    krait_image may grow. krait_classification has no struct_size: its
**    layout is frozen for all of 1.x, and more per-class data would come
**    through new functions with a new struct that has one.
**  * Structs nested by value are frozen: krait_sampling_params (inside
**    krait_generate_params) never grows; new sampling fields are added at
**    the end of krait_generate_params.
** ------------------------------------------------------------------------
*/
#ifndef KRAIT_H
#define KRAIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(KRAIT_BUILDING_LIBRARY)
#    define KRAIT_API __declspec(dllexport)
#  else
#    define KRAIT_API __declspec(dllimport)
#  endif
#else
#  define KRAIT_API __attribute__((visibility("default")))
#endif

/* ======================================================================== */
/* Versions                                                                  */
/* ======================================================================== */

/* Compile-time version of this header. The ABI is stable within a major
** version: a program built against 1.x runs against any library 1.y, y >= x. */
#define KRAIT_VERSION_MAJOR 1
#define KRAIT_VERSION_MINOR 10
#define KRAIT_VERSION_PATCH 0
#define KRAIT_VERSION_NUMBER \
    (KRAIT_VERSION_MAJOR * 1000000 + KRAIT_VERSION_MINOR * 1000 + KRAIT_VERSION_PATCH)

/* Run-time version of the library actually loaded, as KRAIT_VERSION_NUMBER
** and as "MAJOR.MINOR.PATCH". Compare with the macros to detect a
** header/library mismatch. The string is static. Thread-safe. Cannot fail. */
KRAIT_API uint32_t krait_version(void);
KRAIT_API const char* krait_version_string(void);

/* The CPU kernels this process runs: "portable" (any x86-64 or other CPU),
** "avx2" (x86-64-v3: AVX2, FMA, F16C) or "avx512" (x86-64-v4). One library
** carries them all and picks the best the CPU (and its operating system)
** supports; the environment variable KRAIT_CPU_VARIANT, set to one of these
** names before the first model is loaded, caps the choice (for comparisons;
** results may differ in the last bits between variants; an unknown name is
** ignored, with a warning through the log). The string is static.
** Thread-safe. Cannot fail. Since 1.4. */
KRAIT_API const char* krait_cpu_kernels(void);

/* The BF16 dot-product unit a model loaded with KRAIT_MATMUL_BF16 uses
** (krait_matmul_precision): "amx" (Intel AMX tiles; the process has been
** granted the tile state by the operating system), "avx512_bf16"
** (VDPBF16PS) or "none" (such models compute as KRAIT_MATMUL_EXACT). The
** environment variable KRAIT_BF16_PRODUCTS, set to one of these names before
** the first model is loaded, caps the choice (an unknown name is ignored,
** with a warning through the log). The string is static. Thread-safe.
** Cannot fail. Since 1.6. */
KRAIT_API const char* krait_cpu_bf16_products(void);

/* ======================================================================== */
/* Status codes and errors                                                   */
/* ======================================================================== */

typedef enum krait_status {
    KRAIT_OK = 0,
    KRAIT_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, zero size, value out of range */
    KRAIT_ERR_IO = 2,               /* file missing or unreadable */
    KRAIT_ERR_FORMAT = 3,           /* file present but malformed, truncated or inconsistent */
    KRAIT_ERR_UNSUPPORTED = 4,      /* valid input this version does not handle (model type, dtype, device) */
    KRAIT_ERR_OUT_OF_MEMORY = 5,
    KRAIT_ERR_BUFFER_TOO_SMALL = 6, /* see "Caller-owned buffers"; *n_out holds the size needed */
    KRAIT_ERR_CANCELLED = 7,        /* a progress callback asked to stop */
    KRAIT_ERR_ABORTED = 8,          /* krait_session_abort() stopped a running call */
    KRAIT_ERR_WRONG_KIND = 9,       /* e.g. a sequence-model call on a classifier model */
    KRAIT_ERR_INTERNAL = 10,        /* a bug in Krait: please report the message */
    KRAIT_ERR_BUSY = 11,            /* another call on the same session is running (since 1.10; see
                                    ** CONVENTIONS, Threads); nothing was done */
    KRAIT_STATUS_FORCE_32BIT = 0x7fffffff
} krait_status;

/* The message of the last failed call made on this thread, or "" if none.
** Valid until the next Krait call on this thread. Thread-safe (per thread).
** Always valid UTF-8 without control characters other than tab and newline,
** whatever the input: bytes quoted from a damaged file, a path or a caller's
** string that are not well-formed UTF-8 appear escaped as \xNN. Cannot fail. */
KRAIT_API const char* krait_last_error(void);

/* A short static English name for a status code ("invalid argument"), and
** "unknown status" for a value this library does not know. Thread-safe.
** Cannot fail. */
KRAIT_API const char* krait_status_string(krait_status status);

/* ======================================================================== */
/* Logging                                                                   */
/* ======================================================================== */

typedef enum krait_log_level {
    KRAIT_LOG_DEBUG = 0,
    KRAIT_LOG_INFO = 1,
    KRAIT_LOG_WARN = 2,
    KRAIT_LOG_ERROR = 3,
    KRAIT_LOG_NONE = 4, /* as a minimum level: log nothing */
    KRAIT_LOG_LEVEL_FORCE_32BIT = 0x7fffffff
} krait_log_level;

/* `message` (valid UTF-8) is valid only during the callback. Who calls it:
** the Krait call that produces the message, during that call, on the thread
** that made the call or on one of the library's worker threads serving it;
** calls on different threads may log concurrently, so the callback must be
** thread-safe. Today only krait_model_load() logs (on its calling thread),
** but a callback must not rely on that. It must return quickly and must not
** call back into Krait. */
typedef void (*krait_log_fn)(krait_log_level level, const char* message, void* user_data);

/* Installs a process-wide log callback; messages below `min_level` are
** dropped. NULL restores the default, which writes WARN and above to stderr.
** Thread-safe, but a callback may still run briefly on other threads after
** it has been replaced (a message already being delivered), so its
** user_data must stay valid until every Krait call that was running when it
** was replaced has returned. Cannot fail. */
KRAIT_API void krait_set_log_callback(krait_log_fn callback, void* user_data, krait_log_level min_level);

/* ======================================================================== */
/* Models                                                                    */
/* ======================================================================== */

typedef struct krait_model krait_model;

typedef enum krait_device {
    KRAIT_DEVICE_CPU = 0,
    KRAIT_DEVICE_CUDA = 1, /* reserved: returns KRAIT_ERR_UNSUPPORTED in builds without CUDA */
    KRAIT_DEVICE_FORCE_32BIT = 0x7fffffff
} krait_device;

typedef enum krait_model_kind {
    KRAIT_MODEL_SEQUENCE = 0,   /* language model: Mamba, Llama, Mistral, Qwen2 */
    KRAIT_MODEL_CLASSIFIER = 1, /* image classifier: ViT, MambaVision (see "Classifiers") */
    KRAIT_MODEL_ASSISTANT = 2,  /* vision-language assistant: LLaVA (since 1.5; see "Assistants") */
    KRAIT_MODEL_KIND_FORCE_32BIT = 0x7fffffff
} krait_model_kind;

/* Called during loading with the fraction done in [0, 1], non-decreasing.
** Return nonzero to cancel: the load then fails with KRAIT_ERR_CANCELLED and
** frees everything. Who calls it: krait_model_load(), on the thread that
** called it, before it returns, never concurrently with itself. It may call
** any Krait function that does not use the model being loaded (that model
** does not exist yet). */
typedef int (*krait_progress_fn)(float fraction, void* user_data);

/* The precision large weight matrices are kept in (krait_model_params.weight_precision). */
typedef enum krait_weight_precision {
    /* As the files store them: F16/BF16 linear-layer and embedding weights
    ** stay 16-bit, used in place from the memory map or repacked once at load
    ** into the packed GEMM's panels (which then replace the mapped copy), and
    ** are widened to F32 inside the kernels (sums in F32), so a BF16 model
    ** needs about half the memory of F32 and decodes faster (decoding reads
    ** every weight once per token). */
    KRAIT_WEIGHTS_STORED = 0,
    /* Upcast to F32 once at load (the behaviour of 1.0-1.2): twice the memory
    ** of an F16/BF16 file; results differ from STORED only by the order of
    ** F32 sums. */
    KRAIT_WEIGHTS_F32 = 1,
    KRAIT_WEIGHTS_FORCE_32BIT = 0x7fffffff
} krait_weight_precision;

/* How products with BF16 weights are computed (krait_model_params.matmul_precision; since 1.6). */
typedef enum krait_matmul_precision {
    /* Weights widened exactly and multiplied by the F32 activations, sums in
    ** F32. Every output is one chain of fused multiply-adds whatever the
    ** number of tokens or images a call carries, so a conversation's reused
    ** state equals a fresh prefill bit for bit. */
    KRAIT_MATMUL_EXACT = 0,
    /* Calls of at least 16 rows (a prompt of 16+ tokens, an image's patches)
    ** round the activations to BF16 (relative error 2^-9 per value) and
    ** multiply them by BF16 weights with the CPU's BF16 dot products, sums
    ** in F32: Intel AMX where the CPU has it, else AVX512-BF16 (VDPBF16PS);
    ** several times faster on such calls. Decode steps (one token) stay
    ** exact: they are bound by memory bandwidth, not arithmetic. Results then
    ** depend on how a prompt is split into calls, and differ from EXACT by
    ** about the activations' rounding (docs/PERFORMANCE.md states the measured
    ** difference on the conformance fixtures). Applies to BF16 weights kept as
    ** stored (KRAIT_WEIGHTS_STORED); F32 and F16 weights, and CPUs without
    ** these instructions, compute as EXACT. KRAIT_BF16_PRODUCTS=none (or
    ** avx512_bf16) in the environment caps the unit, process-wide. */
    KRAIT_MATMUL_BF16 = 1,
    KRAIT_MATMUL_FORCE_32BIT = 0x7fffffff
} krait_matmul_precision;

typedef struct krait_model_params {
    uint32_t struct_size;        /* sizeof(krait_model_params); set by init */
    krait_device device;         /* default KRAIT_DEVICE_CPU */
    krait_progress_fn progress;  /* default NULL */
    void* progress_user_data;    /* passed to progress */
    /* Added in 1.3: */
    /* How F16/BF16 weights are kept (krait_weight_precision). Default
    ** KRAIT_WEIGHTS_STORED, which callers built against an older header (a
    ** smaller struct_size) also get. Honoured by the sequence models (Mamba,
    ** Llama, Mistral, Qwen2): their linear layers, embeddings and LM head;
    ** and, since 1.4, by the image classifiers (ViT, MambaVision): their
    ** linear layers (before 1.4 they were converted to F32 whatever this
    ** said). Small tensors (norms, biases, convolution weights, Mamba's A_log
    ** and D) are converted to F32 either way. F32 files are used in place
    ** either way. Any other value: KRAIT_ERR_INVALID_ARGUMENT. */
    krait_weight_precision weight_precision;
    /* Added in 1.6: */
    /* How products with BF16 weights are computed (krait_matmul_precision).
    ** Default KRAIT_MATMUL_EXACT, which callers built against an older header
    ** also get. Honoured by every family's linear layers (sequence models,
    ** classifiers, assistants). Any other value: KRAIT_ERR_INVALID_ARGUMENT. */
    krait_matmul_precision matmul_precision;
    /* Added in 1.8: */
    /* How a classifier's images are prepared, as the JSON text of a Hugging Face
    ** preprocessor_config.json (do_resize, size, resample, do_center_crop,
    ** crop_size, do_rescale, rescale_factor, do_normalize, image_mean,
    ** image_std): replaces what the model's files say; fields left out take
    ** ViTImageProcessor's defaults, and without "size" images are resized to
    ** the model's input size. For models that
    ** come without one, such as an ONNX export of a torchvision network
    ** (ImageNet mean/std). NULL (the default) = the model's files. Read during
    ** the load (the text need not outlive it). A malformed text is
    ** KRAIT_ERR_FORMAT; given for a sequence model or an assistant,
    ** KRAIT_ERR_INVALID_ARGUMENT. */
    const char* preprocessor_config;
} krait_model_params;

/* Fills `params` with defaults, struct_size included. NULL does nothing.
** Cannot fail. */
KRAIT_API void krait_model_params_init(krait_model_params* params);

/* krait_model_params_init for a caller's struct of `size` bytes (its
** sizeof(krait_model_params)): writes the defaults of the fields that fit in
** `size` and nothing past it, and sets struct_size to the smaller of `size`
** and the library's sizeof. NULL does nothing. Cannot fail. Added in 1.9.
** Since 1.9 the header's krait_model_params_init() is a macro over it that
** passes sizeof(params[0]), so a newer library never writes past a caller's
** struct (ABI RULES). */
KRAIT_API void krait_model_params_init_sized(krait_model_params* params, size_t size);
#define krait_model_params_init(params) krait_model_params_init_sized((params), sizeof *(params))

/* Loads a model from a directory as published on the Hugging Face hub
** (config.json + model.safetensors or sharded safetensors with
** model.safetensors.index.json + tokenizer.json). config.json's model_type
** chooses the kind: "mamba", "llama", "mistral" and "qwen2" give
** KRAIT_MODEL_SEQUENCE (with tokenizer_config.json's added tokens); "vit" and
** "mambavision" give KRAIT_MODEL_CLASSIFIER (preprocessing is then read from
** preprocessor_config.json or the model's config, see "Classifiers"); "llava"
** gives KRAIT_MODEL_ASSISTANT (since 1.5, see "Assistants"), and so does
** "krait_assistant" (since 1.7): a composite assistant directory naming an
** image encoder directory, a projector and a language model directory, whose
** tokenizer and chat template it uses (docs/COMPOSITE_ASSISTANTS.md). A CLIP /
** SigLIP vision tower alone ("clip_vision_model", "siglip_vision_model") is
** refused (UNSUPPORTED): it serves only as a composite's encoder. Weights are memory-mapped;
** F32 tensors are used in place; F16/BF16 ones are used in place too or
** converted to F32 once at load, as params->weight_precision says.
** Every tensor's presence, dtype and shape is checked against the config
** before the model is returned. Since 1.8, `path` may also be an ONNX file
** (a name ending in .onnx): an image classifier graph (pixels [batch, 3, H, W]
** in, logits [batch, classes] out) run by Krait's own importer on its kernels
** as a KRAIT_MODEL_CLASSIFIER; labels and preprocessing from config.json /
** preprocessor_config.json beside it when present (docs/ONNX.md); its
** external data files must lie in its folder. An op, opset or element type
** Krait does not run is UNSUPPORTED, naming the op, its node and the opset.
** `params` may be NULL for defaults.
** Errors: INVALID_ARGUMENT (NULL path/out), IO (missing files), FORMAT
** (malformed or inconsistent files; the message names file and tensor),
** UNSUPPORTED (model_type, dtype, device), CANCELLED, OUT_OF_MEMORY.
** Thread-safe: several models may load at once. */
KRAIT_API krait_status krait_model_load(const char* path, const krait_model_params* params, krait_model** out_model);

/* Describes how a model was read, as lines of text for tools (krait info):
** for an ONNX graph (since 1.8) its inputs and outputs with their declared
** shapes, the operator sets it imports, its node count after the graph passes
** and what the passes did (constant folding, the fusions applied); empty for
** the other families. Writes up to `capacity` bytes, no NUL terminator, and
** sets *n_out to the byte count (NULL text with capacity 0: a size query).
** The format is for people and may change between versions.
** Errors: INVALID_ARGUMENT (NULL model or n_out), BUFFER_TOO_SMALL.
** Thread-safe (the model is immutable). Since 1.8. */
KRAIT_API krait_status krait_model_describe(const krait_model* model, char* text, size_t capacity, size_t* n_out);

/* Releases a model. Every session and adapter handle created on it must
** have been freed first. NULL is a no-op. Cannot fail. */
KRAIT_API void krait_model_free(krait_model* model);

/* Where a vision-language assistant's chat puts each image's rows (krait_model_info.image_placement;
** since 1.7). Token ids given to krait_session_assistant_forward / _append_images may put image runs
** anywhere either way; this says where conversations and chat calls put them. */
typedef enum krait_image_placement {
    KRAIT_IMAGES_AT_MARKER = 0,    /* where the chat template writes the image token for an image part
                                   ** (LLaVA: "<image>") */
    KRAIT_IMAGES_BEFORE_TEXT = 1   /* the images of a prompt first, in order, then its text; the template
                                   ** writes no image token (Cobra's placement; composite assistants with
                                   ** "image_placement": "prefix", docs/COMPOSITE_ASSISTANTS.md) */
} krait_image_placement;

typedef struct krait_model_info {
    uint32_t struct_size;      /* set by the caller to sizeof(krait_model_info); never written (ABI RULES) */
    krait_model_kind kind;
    const char* architecture;  /* "mamba", "llama", "mistral", "qwen2", "vit", "mambavision", "llava",
                               ** "krait_assistant";
                               ** valid as long as the model */
    int64_t vocab_size;        /* rows of the output logits (sequence models) */
    int64_t hidden_size;
    int64_t num_layers;
    int64_t state_size;        /* SSM state N (Mamba); 0 for attention models */
    int64_t num_parameters;    /* parameters held by the model */
    int64_t weight_bytes;      /* bytes the weights really occupy (since 1.3; before: 4 * num_parameters):
                               ** the memory map used in place (F32, or F16/BF16 as stored) + buffers
                               ** converted or derived at load + packed copies for the GEMM. Mapped pages
                               ** count once read (the first forward pass reads them all). */
    int32_t bos_token_id;      /* -1 if none */
    int32_t eos_token_id;      /* -1 if none */
    const char* source_dtype;  /* dtype of the file's weights: "F32", "F16", "BF16" */
    /* Added in 1.1 (classifiers; 0 for other kinds): */
    int64_t num_labels;        /* classes of the model's own head (an adapter may bring another head:
                               ** krait_session_get_num_labels) */
    int64_t image_height;      /* the input size the model was trained at (config image_size or resolution);
                               ** assistants: their image encoder's (since 1.5) */
    int64_t image_width;
    /* Added in 1.5 (assistants; -1 and 0 for other kinds): */
    int32_t image_token_id;    /* the token each image is written as in a prompt (config image_token_index) */
    int64_t image_rows;        /* rows each image becomes: its token is repeated this many times */
    /* Added in 1.7 (assistants; KRAIT_IMAGES_AT_MARKER for other kinds): */
    int32_t image_placement;   /* krait_image_placement: where a chat puts each image's rows */
} krait_model_info;

/* Fills `info` (whose struct_size the caller sets) with facts about `model`:
** the fields that fit in struct_size, struct_size itself left as it is.
** Thread-safe. Errors: INVALID_ARGUMENT (NULL, or struct_size smaller than
** krait_model_info was in 1.0, which ended with source_dtype; 0 included). */
KRAIT_API krait_status krait_model_get_info(const krait_model* model, krait_model_info* info);

/* ======================================================================== */
/* Tokenizers                                                                */
/* ======================================================================== */

/* Hugging Face tokenizer.json: byte-level BPE (GPT-2 / GPT-NeoX, Llama-3,
** Qwen2, SmolLM2) and SentencePiece-style BPE with byte fallback (Llama-2,
** Mistral). Immutable once loaded: thread-safe for all uses. */
typedef struct krait_tokenizer krait_tokenizer;

/* Loads a tokenizer.json file, or a directory holding tokenizer.json and
** optionally tokenizer_config.json (whose added and special tokens are then
** added as transformers adds them; a model's own tokenizer is loaded so).
** Thread-safe.
** Errors: INVALID_ARGUMENT (NULL path or out), IO (missing or unreadable
** file), FORMAT (malformed JSON or tokenizer), UNSUPPORTED (a tokenizer type
** or feature other than those above). */
KRAIT_API krait_status krait_tokenizer_load(const char* path, krait_tokenizer** out_tokenizer);

/* NULL is a no-op. Must not be called on a tokenizer borrowed from a model.
** Cannot fail. */
KRAIT_API void krait_tokenizer_free(krait_tokenizer* tokenizer);

/* The tokenizer of a model (borrowed: valid as long as the model; never
** free it). Errors: INVALID_ARGUMENT, UNSUPPORTED (model without tokenizer.json). */
KRAIT_API krait_status krait_model_get_tokenizer(const krait_model* model, const krait_tokenizer** out_tokenizer);

/* Encodes `text_len` bytes of UTF-8 into token ids, as HF tokenizers'
** encode(text, add_special_tokens=...). Writes up to `capacity` ids and sets
** *n_out to the number of ids. Errors: INVALID_ARGUMENT (NULL, or text that
** is not valid UTF-8: the message gives the byte offset), BUFFER_TOO_SMALL. */
KRAIT_API krait_status krait_tokenizer_encode(const krait_tokenizer* tokenizer, const char* text, size_t text_len,
                                              int add_special_tokens, int32_t* ids, size_t capacity, size_t* n_out);

/* Decodes ids into UTF-8 text (special tokens included). Writes up to
** `capacity` bytes, no NUL terminator, and sets *n_out to the byte count.
** Errors: INVALID_ARGUMENT (NULL, id out of range: the message names it),
** BUFFER_TOO_SMALL. */
KRAIT_API krait_status krait_tokenizer_decode(const krait_tokenizer* tokenizer, const int32_t* ids, size_t n_ids,
                                              char* text, size_t capacity, size_t* n_out);

/* As krait_tokenizer_decode, and with `skip_special_tokens` non-zero drops the
** special tokens (bos, eos, pad, <|im_end|>, ... : the added tokens marked
** special in tokenizer.json or tokenizer_config.json) as transformers'
** decode(ids, skip_special_tokens=True) does; 0 gives krait_tokenizer_decode's
** text. Same errors. Thread-safe (the tokenizer is immutable). Since 1.4. */
KRAIT_API krait_status krait_tokenizer_decode_v2(const krait_tokenizer* tokenizer, const int32_t* ids, size_t n_ids,
                                                 int skip_special_tokens, char* text, size_t capacity, size_t* n_out);

/* Renders a conversation as text with the model's own chat template, exactly
** as transformers' tokenizer.apply_chat_template(messages, tokenize=False,
** add_generation_prompt=...) does: the template of chat_template.jinja,
** chat_template.json or tokenizer_config.json's "chat_template" (with several
** named ones, "tool_use" when `extra_json` has tools, else "default"), with the
** special tokens of tokenizer_config.json. Tokenize the result with
** add_special_tokens = 0: the template writes them.
**   messages_json  a JSON array of {"role": ..., "content": a string or a list
**                  of parts ({"type": "text", "text": ...}), plus any field
**                  the template reads (tool_calls, name, ...)}; UTF-8.
**   extra_json     NULL or a JSON object of extra template variables (tools,
**                  documents, enable_thinking, date_string, ...).
**   template_src   NULL for the model's template, or a Jinja template to use
**                  instead (a model without a template needs one).
** Writes the text as under "Caller-owned buffers" (no NUL terminator).
** Errors: INVALID_ARGUMENT (NULL, malformed JSON, a model without a template
** and no template_src, a template syntax error, or the template refusing the
** conversation: its raise_exception message), UNSUPPORTED (a Jinja construct
** this version does not implement, named with its line), BUFFER_TOO_SMALL.
** Thread-safe (the template is read once per model). Since 1.4. */
KRAIT_API krait_status krait_model_apply_chat_template(const krait_model* model, const char* messages_json,
                                                       int add_generation_prompt, const char* extra_json,
                                                       const char* template_src, char* text, size_t capacity,
                                                       size_t* n_out);

/* Number of ids in the vocabulary, added tokens included. Thread-safe.
** Errors: INVALID_ARGUMENT (NULL). */
KRAIT_API krait_status krait_tokenizer_vocab_size(const krait_tokenizer* tokenizer, int64_t* out_size);

/* ======================================================================== */
/* Sessions                                                                  */
/* ======================================================================== */

/* Per-conversation state over a shared model: recurrent caches, sampling
** state, scratch buffers. One thread at a time (see CONVENTIONS). */
typedef struct krait_session krait_session;

/* Default of krait_session_params.max_image_pixels: 64 Mpx (an 8192 x 8192 image). */
#define KRAIT_DEFAULT_MAX_IMAGE_PIXELS ((int64_t)64 * 1024 * 1024)
/* Default image_cache_bytes (since 1.5): 64 MiB, about 14 LLaVA-1.5-7B images (576 rows x 4096 floats). */
#define KRAIT_DEFAULT_IMAGE_CACHE_BYTES ((int64_t)64 * 1024 * 1024)

typedef struct krait_session_params {
    uint32_t struct_size; /* sizeof(krait_session_params); set by init */
    int32_t n_threads;    /* the most threads one call of this session runs on (its share of the
                          ** process's worker threads, which all sessions share: one per core, the
                          ** calling thread included); 0 = all cores. Results depend on this number,
                          ** never on how busy the other sessions keep the workers. Default 0 */
    /* Added in 1.1, read by classifier sessions only: */
    int64_t max_image_pixels; /* images with more pixels (width * height) are refused before they are
                              ** decoded or copied (decompression bombs). Must be > 0.
                              ** Default KRAIT_DEFAULT_MAX_IMAGE_PIXELS */
    int32_t max_batch;        /* images per forward pass in krait_session_classify_*; a call with more
                              ** images runs several passes. 0 = all images of a call in one pass.
                              ** Default 32 */
    /* Added in 1.3, read by sequence models with a KV cache (transformers such as Llama): */
    int64_t context_length;   /* the most tokens the session's context holds; its KV cache is allocated
                              ** for that many at creation. A call that would go past it fails with
                              ** INVALID_ARGUMENT naming both sizes and leaves the context unchanged;
                              ** generation stops when the context is full. 0 = the model's default,
                              ** min(max_position_embeddings, 4096). Recurrent models (Mamba) have no
                              ** limit and ignore it. Default 0 */
    /* Added in 1.5, read by assistants: */
    int64_t image_cache_bytes; /* the projected rows of recent images (keyed by a hash of their pixels)
                               ** kept for reuse, up to this many bytes: an image seen again is not
                               ** encoded again (its rows still run through the language model where
                               ** the context does not hold them). 0 = no cache. Must be >= 0.
                               ** Default KRAIT_DEFAULT_IMAGE_CACHE_BYTES */
} krait_session_params;

/* Fills `params` with defaults, struct_size included. NULL does nothing.
** Cannot fail. */
KRAIT_API void krait_session_params_init(krait_session_params* params);

/* krait_session_params_init for a caller's struct of `size` bytes (its
** sizeof(krait_session_params)): writes the defaults of the fields that fit in
** `size` and nothing past it, and sets struct_size to the smaller of `size`
** and the library's sizeof. NULL does nothing. Cannot fail. Added in 1.9.
** Since 1.9 the header's krait_session_params_init() is a macro over it that
** passes sizeof(params[0]), so a newer library never writes past a caller's
** struct (ABI RULES). */
KRAIT_API void krait_session_params_init_sized(krait_session_params* params, size_t size);
#define krait_session_params_init(params) krait_session_params_init_sized((params), sizeof *(params))

/* Creates a session on `model`. The model must outlive the session.
** `params` may be NULL. Thread-safe with respect to the model.
** Errors: INVALID_ARGUMENT (also max_image_pixels <= 0, max_batch < 0,
** context_length < 0), OUT_OF_MEMORY (e.g. a KV cache too large). */
KRAIT_API krait_status krait_session_create(krait_model* model, const krait_session_params* params,
                                            krait_session** out_session);

/* NULL is a no-op. Must not overlap a running call on the same session.
** Cannot fail. */
KRAIT_API void krait_session_free(krait_session* session);

/* Changes the session's n_threads (0 = all cores) for later calls: the most
** threads a call runs on. No threads are created per session: the process's
** shared workers (one per core, started on first use, never stopped) serve
** every session; when more calls run at once than there are cores, each call
** runs on its own thread.
** Errors: INVALID_ARGUMENT (NULL, n_threads < 0); the session keeps its
** setting on error. */
KRAIT_API krait_status krait_session_set_threads(krait_session* session, int32_t n_threads);

/* Requests that the abortable call running on `session`, or the next one to
** start if none runs, stop as soon as possible with KRAIT_ERR_ABORTED.
**
** Abortable calls: krait_session_forward, krait_session_append,
** krait_session_generate, krait_session_classify_files / _encoded / _pixels
** and krait_session_classifier_forward. The other calls (reset, set_threads,
** set_adapters, getters) neither see nor consume a request.
**
** Semantics: a request is consumed by exactly one abortable call, the one
** running when it is made or else the next one to start. That call returns
** KRAIT_ERR_ABORTED: at once, without computing, if the request was pending
** when it started; otherwise at its next check (between layers, tokens or
** images). When the call returns, whatever its status, the request is gone:
** a call that completed before it noticed the request returns its normal
** result, and in every case the call after it runs normally. Several
** requests before one call count as one. A call refused by its argument
** checks before it starts (NULL pointers, sizes and values out of range, a
** buffer too small, WRONG_KIND) or a size query does not start: it leaves
** the request for the next call. Errors found once a call runs (an image
** file that cannot be read or decoded, or is too large) end it like any
** other outcome and consume the request. A request made as a call is
** returning may apply to that call or to the next one; a caller that must
** keep it from the next call withdraws it with krait_session_clear_abort()
** once the call has returned.
**
** Thread-safe: callable from any thread at any time, also while no call
** runs and from the call's own krait_token_fn callback. Never blocks.
** NULL is a no-op. Cannot fail. */
KRAIT_API void krait_session_abort(krait_session* session);

/* Withdraws a request made with krait_session_abort() that no call has
** consumed yet; no-op if there is none. A call already stopping because of
** it still returns KRAIT_ERR_ABORTED. Thread-safe like krait_session_abort.
** NULL is a no-op. Cannot fail. Added in 1.3. */
KRAIT_API void krait_session_clear_abort(krait_session* session);

/* ---- Sequence models (KRAIT_MODEL_SEQUENCE) ----------------------------- */

/* Full-sequence forward pass: logits for every position of `batch` rows of
** `length` token ids each (ids laid out [batch, length], row-major).
** Writes float32 logits [batch, length, vocab_size] into `logits`, whose
** capacity is given in floats. Stateless: neither reads nor changes the
** session's generation state.
** Errors: INVALID_ARGUMENT (NULL, zero batch or length, id out of range),
** BUFFER_TOO_SMALL (*n_out = floats needed), WRONG_KIND, ABORTED. */
KRAIT_API krait_status krait_session_forward(krait_session* session, const int32_t* ids, int64_t batch, int64_t length,
                                             float* logits, size_t capacity, size_t* n_out);

/* Clears the generation state (empty context). Not abortable, and leaves an
** abort request pending (see krait_session_abort).
** Errors: INVALID_ARGUMENT (NULL), WRONG_KIND. */
KRAIT_API krait_status krait_session_reset(krait_session* session);

/* Appends `n_ids` tokens to the session's context in one parallel pass
** (prefill) and, when `logits` is not NULL, writes the logits after the
** last token ([vocab_size] floats; capacity in floats).
** Errors: INVALID_ARGUMENT (NULL ids, n_ids 0, id out of range),
** BUFFER_TOO_SMALL (logits not NULL and capacity < vocab_size), WRONG_KIND,
** ABORTED and OUT_OF_MEMORY (the context is then empty, as after
** krait_session_reset). */
KRAIT_API krait_status krait_session_append(krait_session* session, const int32_t* ids, size_t n_ids, float* logits,
                                            size_t capacity);

/* Frozen for all of 1.x: it is nested by value in krait_generate_params, so
** it can never grow (ABI RULES). Sampling settings added later become fields
** at the end of krait_generate_params. struct_size is set by init and is not
** read by the library. */
typedef struct krait_sampling_params {
    uint32_t struct_size;     /* sizeof(krait_sampling_params); set by init, not read */
    float temperature;        /* 0 = greedy (argmax). Default 1.0 */
    int32_t top_k;            /* keep the k most likely; 0 = off. Default 50 (as transformers) */
    float top_p;              /* nucleus; 1.0 = off. Default 1.0 */
    float min_p;              /* drop tokens below min_p * p_max; 0 = off. Default 0 */
    float repetition_penalty; /* CTRL-style, over the prompt and output; 1.0 = off. Default 1.0 */
    uint64_t seed;            /* same seed, same inputs: same output. Default 0 */
} krait_sampling_params;

/* Fills `params` with the defaults above. NULL does nothing. Cannot fail. */
KRAIT_API void krait_sampling_params_init(krait_sampling_params* params);

/* Called once per generated token with its id and the UTF-8 text it
** completes (possibly "" while a multi-byte character is incomplete or a
** stop string may be starting; the pieces concatenated always form valid
** UTF-8, special tokens such as EOS excluded). For a model without a
** tokenizer every piece is "". `piece` is valid only during the call.
** Return nonzero to stop generating (not an error: the call returns KRAIT_OK
** with the tokens so far, this one included).
** Who calls it: krait_session_generate(), on the thread that called it,
** after each token is sampled and before the next one is computed; never
** concurrently with itself, never after the call returned. It may call
** krait_session_abort() or krait_session_clear_abort() on the generating
** session (an abort then stops the call before the next token, with
** KRAIT_ERR_ABORTED, unless this token was the last one), and may use the
** model, its tokenizer and other sessions; it must not make any other call
** on the generating session. */
typedef int (*krait_token_fn)(int32_t token_id, const char* piece, size_t piece_len, void* user_data);

typedef struct krait_generate_params {
    uint32_t struct_size;              /* sizeof(krait_generate_params); set by init */
    int32_t max_new_tokens;            /* default 32; must be > 0 */
    krait_sampling_params sampling;    /* defaults as krait_sampling_params_init; frozen (see above) */
    const char* const* stop_strings;   /* generation stops once the text contains one; the text streamed
                                          ** and returned ends right before it. Default NULL */
    size_t n_stop_strings;
    int stop_at_eos;                   /* default 1 */
    krait_token_fn on_token;           /* streaming callback; default NULL */
    void* user_data;                   /* passed to on_token */
    /* Fields added after 1.3 (new sampling settings included) go here, at the end. */
} krait_generate_params;

/* Fills `params` with defaults, struct_size and sampling included. NULL does
** nothing. Cannot fail. */
KRAIT_API void krait_generate_params_init(krait_generate_params* params);

/* krait_generate_params_init for a caller's struct of `size` bytes (its
** sizeof(krait_generate_params)): writes the defaults of the fields that fit in
** `size` and nothing past it, and sets struct_size to the smaller of `size`
** and the library's sizeof. NULL does nothing. Cannot fail. Added in 1.9.
** Since 1.9 the header's krait_generate_params_init() is a macro over it that
** passes sizeof(params[0]), so a newer library never writes past a caller's
** struct (ABI RULES). */
KRAIT_API void krait_generate_params_init_sized(krait_generate_params* params, size_t size);
#define krait_generate_params_init(params) krait_generate_params_init_sized((params), sizeof *(params))

/* Generates up to max_new_tokens tokens after the session's current context
** extended by `prompt_ids` (which may be empty if the context is not). The
** new tokens become part of the context. Writes the new token ids to `out_ids`
** (capacity in ids; the output is cut, not refused, when it is shorter than
** the generation: pass capacity >= max_new_tokens to get all), *n_out = number
** of new tokens generated. The EOS token, if reached, is included (a model
** may have several: Llama 3 lists two). On a model with a KV cache the
** generation also ends when the context is full (see context_length).
** Errors: INVALID_ARGUMENT (NULL, empty prompt on an empty context, id out of
** range, max_new_tokens <= 0, a NULL stop string, bad sampling values: the
** message names the field; a prompt that does not fit the context length),
** UNSUPPORTED (stop strings on a model without tokenizer.json), WRONG_KIND,
** ABORTED (if no token was generated yet, the context is then empty, as after
** krait_session_reset; otherwise it holds the prompt and the tokens generated
** so far, each of which was passed to on_token). OUT_OF_MEMORY leaves the
** context either empty or holding the prompt and the tokens generated so far,
** as ABORTED does. */
KRAIT_API krait_status krait_session_generate(krait_session* session, const int32_t* prompt_ids, size_t n_prompt,
                                              const krait_generate_params* params, int32_t* out_ids, size_t capacity,
                                              size_t* n_out);

/* ---- Session state: snapshot, restore, truncate, save, load (since 1.4) -- */
/*
** A sequence session's state is what its context holds: the model's state (a
** KV cache, or Mamba's fixed-size recurrent state), the context tokens and the
** logits after them. It can be copied (snapshot), put back (restore), cut
** (truncate) and written to a file (save_state / load_state) to resume later,
** also in another process. All of these are sequence-session calls: on a
** classifier session they return KRAIT_ERR_WRONG_KIND. None is abortable (an
** abort request stays pending, see krait_session_abort). Like every session
** call, one thread at a time per session.
**
** State files are versioned and checked: a magic number, the format version,
** the model's fingerprint (architecture, the config's shape values and the
** vocabulary size), the tokens, the state tensors and a CRC-32 of it all. A
** file from another model is refused with KRAIT_ERR_INVALID_ARGUMENT naming
** the value that differs; a file that is not a state file, is truncated, was
** altered or has another format version with KRAIT_ERR_FORMAT; in every case
** the session is left unchanged. The fingerprint cannot tell two models of
** the same shape apart (a fine-tuned copy): restoring a state of another model
** of the same shape is the caller's mistake, and gives meaningless output.
** Files are written to a temporary file next to the target, then renamed over
** it, so a reader never sees a partial file. Numbers are little-endian.
*/

/* A copy of a sequence session's state (krait_session_snapshot). Immutable;
** may be restored into any session of the same model (or of a model with
** the same fingerprint), any number of times, also into several sessions
** at once from different threads (restoring only reads it). Holds its own
** memory (a KV cache copy holds only the rows in use). */
typedef struct krait_state krait_state;

/* Copies the session's state into a new krait_state (*out, released with
** krait_state_free). The session is unchanged. The state keeps a pointer to
** the session's model: free it before the model.
** Errors: INVALID_ARGUMENT (NULL), WRONG_KIND, OUT_OF_MEMORY. Since 1.4. */
KRAIT_API krait_status krait_session_snapshot(krait_session* session, krait_state** out_state);

/* NULL is a no-op. Cannot fail. Since 1.4. */
KRAIT_API void krait_state_free(krait_state* state);

/* The number of context tokens the state holds. Thread-safe (the state is
** immutable). Errors: INVALID_ARGUMENT (NULL). Since 1.4. */
KRAIT_API krait_status krait_state_get_n_tokens(const krait_state* state, int64_t* out_n_tokens);

/* Makes the session's state equal to `state` (its context tokens, model
** state and logits): the next generate or append continues exactly as the
** session it was taken from would have. `state` is only read and may be
** restored again. Errors: INVALID_ARGUMENT (NULL; a state of a model with
** another fingerprint, the message naming the value that differs; a state
** holding more tokens than this session's context length), WRONG_KIND; the
** session is unchanged on error. Since 1.4. */
KRAIT_API krait_status krait_session_restore(krait_session* session, const krait_state* state);

/* The session's context tokens, oldest first: every token appended or
** generated since the last reset (a generation's last token included),
** as under "Caller-owned buffers" (*n_out = the number of tokens; ids NULL
** with capacity 0 is a size query). Errors: INVALID_ARGUMENT (NULL n_out, or
** ids NULL with capacity > 0), BUFFER_TOO_SMALL, WRONG_KIND. Since 1.4. */
KRAIT_API krait_status krait_session_get_tokens(const krait_session* session, int32_t* ids, size_t capacity,
                                                size_t* n_out);

/* Keeps the first `n_tokens` tokens of the context and forgets the rest, as
** if only they had been appended (the next call's logits follow token
** n_tokens - 1). A KV cache truncates to any length; a recurrent state
** (Mamba) holds no per-token history and accepts only 0, the tokens it has
** not run yet (the last token of a generation) or the whole context:
** otherwise UNSUPPORTED (restore a snapshot instead). 0 is krait_session_reset.
** Errors: INVALID_ARGUMENT (NULL, n_tokens < 0 or > the context's length),
** UNSUPPORTED, WRONG_KIND; the session is unchanged on error. Since 1.4. */
KRAIT_API krait_status krait_session_truncate(krait_session* session, int64_t n_tokens);

/* Writes the session's state to the file `path` (replaced atomically if it
** exists; see the format above). The session is unchanged.
** Errors: INVALID_ARGUMENT (NULL), IO (the file cannot be written; `path` is
** then unchanged), WRONG_KIND. Since 1.4. */
KRAIT_API krait_status krait_session_save_state(krait_session* session, const char* path);

/* Replaces the session's state with the one saved in `path` by
** krait_session_save_state (from this or another process, a session of the
** same model). Errors: INVALID_ARGUMENT (NULL; a file of another model, the
** message naming the value that differs; more tokens than the session's
** context length), IO (missing or unreadable file), FORMAT (not a state
** file, truncated, altered, another format version, a conversation file),
** WRONG_KIND; the session is unchanged on error. Since 1.4. */
KRAIT_API krait_status krait_session_load_state(krait_session* session, const char* path);

/* ---- Conversations (since 1.4) ------------------------------------------- */
/*
** A conversation holds the messages of a chat (role, content) on a sequence
** session and generates the assistant's replies. Each reply renders the
** messages with the chat template (add_generation_prompt), tokenizes them
** and prefills only the tokens the session does not already hold: with a KV
** cache the longest common token prefix of what the session holds and the
** new prompt is kept; with a recurrent state (Mamba) the conversation keeps a
** snapshot of the session at each turn boundary (fixed size) and restores the
** longest one whose tokens begin the new prompt, else starts from scratch.
** So a turn costs the new tokens, not the whole history, and its reply is
** what a fresh session prefilled with the whole prompt gives (greedy decoding:
** the same tokens; the logits agree to float rounding, as batched prefill and
** step-by-step decoding sum in different orders).
**
** A reply ends at EOS (the model's eos ids), at the model's end-of-turn token
** (tokenizer_config.json's eos_token, e.g. <|im_end|>), at a stop string or at
** max_new_tokens; its text (the end token and stop string excluded) is what
** was streamed through params->on_token, and becomes an "assistant" message.
** Sampling, stop strings, streaming and krait_session_abort() behave as in
** krait_session_generate; the session's adapters apply, and only state
** computed with the adapters (and scales) active now is reused: after a
** change of adapters the reply recomputes the prompt (a state loaded from a
** file saved with adapters active is recomputed too: adapters are not
** saved). A reply that fails or is aborted leaves the messages unchanged (the
** session may hold less).
**
** Ownership and threads: a conversation borrows its session, which must
** outlive it (free the conversation first). It reads the session's context at
** every reply instead of assuming it, so the caller may use the session in
** between (generate, reset, restore) and several conversations may share one
** session: each stays correct and only reuses less. Calls on a conversation
** are calls on its session: one thread at a time, never overlapping another
** call on the session; krait_session_abort() on the session stops a reply.
** Needs a model with a tokenizer (else UNSUPPORTED) and a chat template (the
** model's own, or one passed as template_src).
*/
typedef struct krait_conversation krait_conversation;

/* Creates a conversation on `session` (*out, released with
** krait_conversation_free). system_prompt: NULL for none, else the first
** message, role "system". template_src: NULL for the model's own chat
** template, else a Jinja template to use instead. extra_json: NULL, or a JSON
** object of extra template variables (as krait_model_apply_chat_template).
** The session's context is not changed.
** Errors: INVALID_ARGUMENT (NULL session or out, a model without a template
** and no template_src, a template syntax error, malformed extra_json),
** UNSUPPORTED (a Jinja construct not implemented, a model without
** tokenizer.json), WRONG_KIND. Since 1.4. */
KRAIT_API krait_status krait_conversation_create(krait_session* session, const char* system_prompt,
                                                 const char* template_src, const char* extra_json,
                                                 krait_conversation** out);

/* NULL is a no-op. The session is not freed and keeps its context.
** Cannot fail. Since 1.4. */
KRAIT_API void krait_conversation_free(krait_conversation* conversation);

/* Appends a message (role "user", "assistant", "system", "tool", ...: any
** role the template accepts; content UTF-8). Nothing is computed until the
** next reply. Errors: INVALID_ARGUMENT (NULL, empty role). Since 1.4. */
KRAIT_API krait_status krait_conversation_add_message(krait_conversation* conversation, const char* role,
                                                      const char* content);

/* Generates the assistant's reply to the messages so far (streamed through
** params->on_token; params NULL for defaults) and appends it as an
** "assistant" message. Errors: INVALID_ARGUMENT (NULL conversation, no
** messages, max_new_tokens <= 0 and the other generate parameter errors, the
** template refusing the messages, a prompt that does not fit the context
** length), UNSUPPORTED (a Jinja construct not implemented), ABORTED; the
** messages are unchanged on error. Since 1.4. */
KRAIT_API krait_status krait_conversation_reply(krait_conversation* conversation,
                                                const krait_generate_params* params);

/* krait_conversation_add_message with pictures in the message (assistants:
** rendered and checked as krait_conversation_say_images says), e.g. to
** replay a history whose earlier turns showed pictures. At most 64 pictures
** per message (since 1.10). Errors: as krait_conversation_add_message and
** krait_conversation_say_images. Since 1.5. */
KRAIT_API krait_status krait_conversation_add_message_images(krait_conversation* conversation, const char* role,
                                                             const char* content, const float* pixels,
                                                             int64_t n_images, int64_t height, int64_t width);

/* krait_conversation_add_message(conversation, "user", user_text), then
** krait_conversation_reply(); on an error neither message stays. Errors: as
** krait_conversation_reply, and INVALID_ARGUMENT for a NULL user_text.
** Since 1.4. */
KRAIT_API krait_status krait_conversation_say(krait_conversation* conversation, const char* user_text,
                                              const krait_generate_params* params);

/* krait_conversation_say with pictures in the user message, on an assistant
** session (see "Assistants"): `pixels` [n_images, 3, image_height,
** image_width] float32, model-ready (krait_model_preprocess_image*), copied.
** The message renders as content parts, the images first, then the text
** ([{"type": "image"}, ..., {"type": "text", "text": user_text}]); the
** template must write each image part as the image token, which becomes the
** image's rows (an assistant whose image_placement is KRAIT_IMAGES_BEFORE_TEXT
** puts every image of the prompt first instead, and its template writes no
** image token). Later replies reuse the image's state (a KV cache keeps it;
** a Mamba model restores the turn's snapshot, or the one kept right after the
** prompt's images): a new question about the same picture does not run it
** again. Since 1.7 a conversation with images can be saved
** (krait_conversation_save stores the pictures with it; before: UNSUPPORTED).
** Errors: as krait_conversation_say,
** and WRONG_KIND (not an assistant), INVALID_ARGUMENT (pixels NULL with
** n_images > 0, more than 64 pictures (since 1.10), another image size, a
** template that does not write one image token per image: the message names
** both counts). Since 1.5. */
KRAIT_API krait_status krait_conversation_say_images(krait_conversation* conversation, const char* user_text,
                                                     const float* pixels, int64_t n_images, int64_t height,
                                                     int64_t width, const krait_generate_params* params);

/* Drops the last message, which must be an assistant reply, and replies
** again (with other sampling settings or seed, say). Errors: as
** krait_conversation_reply, and INVALID_ARGUMENT when the last message is not
** an assistant's; the old reply stays on error. Since 1.4. */
KRAIT_API krait_status krait_conversation_regenerate(krait_conversation* conversation,
                                                     const krait_generate_params* params);

/* Removes the last user message and every message after it (the reply to
** it). Computes nothing: the next reply reuses what it can. Errors:
** INVALID_ARGUMENT (NULL, no user message). Since 1.4. */
KRAIT_API krait_status krait_conversation_undo(krait_conversation* conversation);

/* Replaces the content of message `index` (0 = the first, the system
** prompt if any) and drops every later message. Computes nothing: the next
** reply reuses the prefix up to the edit (a Mamba session: the nearest
** turn-boundary snapshot before it). Errors: INVALID_ARGUMENT (NULL, index
** out of range). Since 1.4. */
KRAIT_API krait_status krait_conversation_edit(krait_conversation* conversation, size_t index, const char* content);

/* The number of messages. Errors: INVALID_ARGUMENT (NULL). Since 1.4. */
KRAIT_API krait_status krait_conversation_get_n_messages(const krait_conversation* conversation, size_t* out_n);

/* The prompt the next reply would run, as the chat template renders the
** messages (add_generation_prompt nonzero: with the assistant's header), for
** debugging: each picture's slot shows as the template writes its image part
** (LLaVA: "<image>"), which the reply then expands to image_rows image tokens.
** Writes the text as under "Caller-owned buffers" (no NUL terminator;
** *n_out = its length in bytes). Errors: INVALID_ARGUMENT
** (NULL), BUFFER_TOO_SMALL, and the template's errors. Since 1.5. */
KRAIT_API krait_status krait_conversation_render(const krait_conversation* conversation, int add_generation_prompt,
                                                 char* text, size_t capacity, size_t* n_out);

/* Message `index`: *role and *content (either may be NULL if not wanted) are
** owned by the conversation and valid until the next call that changes its
** messages (add_message, reply, say, regenerate, undo, edit) or its free.
** Errors: INVALID_ARGUMENT (NULL conversation, index out of range).
** Since 1.4. */
KRAIT_API krait_status krait_conversation_get_message(const krait_conversation* conversation, size_t index,
                                                      const char** role, const char** content);

/* What the last successful reply cost (all 0 before the first). An info
** struct (ABI RULES): the caller sets struct_size. */
typedef struct krait_conversation_stats {
    uint32_t struct_size;     /* set by the caller to sizeof(krait_conversation_stats); never written */
    int64_t prompt_tokens;    /* tokens of the rendered prompt of the last reply */
    int64_t reused_tokens;    /* of those, already held by the session (common prefix or snapshot) */
    int64_t prefilled_tokens; /* of those, run through the model: prompt_tokens - reused_tokens */
    int64_t generated_tokens; /* tokens generated, the end token included */
    /* Added in 1.5 (assistants): of the images whose rows the last reply ran, */
    int64_t images_encoded;   /* those that went through the image encoder, */
    int64_t images_cached;    /* and those whose rows came from the session's image cache */
} krait_conversation_stats;

/* Fills `stats` (whose struct_size the caller sets). Errors: INVALID_ARGUMENT
** (NULL, struct_size smaller than in 1.4, 0 included). Since 1.4. */
KRAIT_API krait_status krait_conversation_get_stats(const krait_conversation* conversation,
                                                    krait_conversation_stats* stats);

/* Writes the messages and the session's state to `path`, in the checked
** format of krait_session_save_state (replaced atomically). The pictures of
** the messages are stored with them, model-ready (3 * image_height *
** image_width floats each; since 1.7), so the state's image rows stay
** identified and a loaded conversation goes on without running them again;
** such a file is read by 1.7 and later. Errors: INVALID_ARGUMENT (NULL), IO,
** UNSUPPORTED (the session holds image rows of a picture that is not in the
** conversation's messages). Since 1.4. */
KRAIT_API krait_status krait_conversation_save(const krait_conversation* conversation, const char* path);

/* Creates a conversation on `session` from a file written by
** krait_conversation_save (template_src and extra_json as in
** krait_conversation_create; they are not saved in the file) and replaces the
** session's state with the saved one, so the next reply reuses it.
** Errors: as krait_session_load_state (INVALID_ARGUMENT for a file of
** another model, FORMAT for a damaged one, IO), and as
** krait_conversation_create; on error nothing is created and the session is
** unchanged. Since 1.4. */
KRAIT_API krait_status krait_conversation_load(krait_session* session, const char* path, const char* template_src,
                                               const char* extra_json, krait_conversation** out);

/* One reply to a list of messages, without a conversation object: renders
** `messages_json` (a JSON array as for krait_model_apply_chat_template) with
** the model's chat template and add_generation_prompt, keeps the longest
** common token prefix of what the session holds and that prompt (a KV cache;
** a Mamba session only when it ran no token past it), prefills the rest and
** generates as krait_conversation_reply does (streaming, sampling, stop
** strings, end-of-turn token, abort, adapters). Calling it again with the
** reply and a new user message appended reuses the session's state.
** Writes the reply's UTF-8 text to `text`, cut (not refused) to `capacity`
** bytes, no NUL terminator; *n_out = the reply's full length in bytes (the
** whole text also went through params->on_token). text NULL with capacity 0
** generates and only reports the length. params NULL for defaults.
** Errors: INVALID_ARGUMENT (NULL session, messages_json or n_out, text NULL
** with capacity > 0, malformed JSON or not a non-empty array, a model
** without a chat template, the generate parameter errors, a prompt that does
** not fit the context), UNSUPPORTED, WRONG_KIND, ABORTED. Since 1.4. */
KRAIT_API krait_status krait_session_chat(krait_session* session, const char* messages_json,
                                          const krait_generate_params* params, char* text, size_t capacity,
                                          size_t* n_out);

/* ---- Classifiers (KRAIT_MODEL_CLASSIFIER) ------------------------------- */
/*
** Image classifiers: ViT (Hugging Face ViTForImageClassification) and
** MambaVision. Images come as files, as encoded bytes (PNG, JPEG, BMP, GIF:
** first frame) or as raw 8-bit pixels; each is preprocessed as the model's
** own configuration says (resize, center crop, rescale, normalize; grayscale
** is replicated to RGB, alpha is dropped) to the model's input size
** (krait_model_info image_height x image_width) and the images of a call run
** through the model together, max_batch at a time (krait_session_params),
** decoded and preprocessed on the session's worker threads.
** Ready tensors skip preprocessing: krait_session_classifier_forward().
** A classifier session keeps no state between calls that affects results; it
** keeps the scratch buffers of its largest call (activations of max_batch
** images per worker thread) for the next calls until it is freed, so calls
** after the first allocate nothing. Sequence-model calls on
** a classifier session, and these calls on a sequence session, return
** KRAIT_ERR_WRONG_KIND.
*/

/* One predicted class. The element of the arrays the classify calls fill,
** without struct_size: its layout (label_id, probability, label) is frozen
** for all of 1.x (ABI RULES). */
typedef struct krait_classification {
    int32_t label_id;    /* index into the model's labels, [0, num_labels) */
    float probability;   /* softmax of the logits, in [0, 1] */
    const char* label;   /* the label's name (config.json id2label, "LABEL_<id>" where absent);
                         ** owned by the model, or by the adapter whose head is active: valid as
                         ** long as the model and that adapter (see "LoRA adapters") */
} krait_classification;

/* Raw 8-bit pixels, rows top to bottom, channels interleaved. */
typedef struct krait_image {
    uint32_t struct_size;  /* sizeof(krait_image); elements of an array are struct_size bytes apart, so this
                           ** struct may grow at the end (ABI RULES); refused if smaller than in 1.1 */
    const uint8_t* pixels; /* borrowed for the call */
    int32_t width;         /* > 0 */
    int32_t height;        /* > 0 */
    int64_t row_stride;    /* bytes from one row to the next, >= width * channels; 0 = width * channels */
    int32_t channels;      /* 1 (gray), 3 (RGB) or 4 (RGBA; alpha is ignored) */
} krait_image;

/* The name of label `id` of the model's own head: *out is owned by the model and valid as long as it.
** Thread-safe. Errors: INVALID_ARGUMENT (NULL, id outside [0, num_labels)),
** WRONG_KIND (not a classifier). */
KRAIT_API krait_status krait_model_get_label(const krait_model* model, int32_t id, const char** out);

/* The common contract of the three classify calls below:
** Classifies `n` images (n > 0) and writes, per image in input order, its
** k = min(top_k, num_labels) most probable classes, most probable first (equal
** probabilities: lower label_id first), into out[n][k]. `capacity` counts
** krait_classification elements; *n_out is set to n * k. out == NULL with
** capacity 0 is a size query. Nothing is written to `out` unless every image
** was read and classified.
** Errors: INVALID_ARGUMENT (NULL, n 0, top_k <= 0, an image above the
** session's max_image_pixels, a zero-size image, bad krait_image fields: the
** message names the image's index), IO (a file missing or unreadable), FORMAT
** (bytes that are not a supported image, or truncated/corrupt: the message
** names the image), UNSUPPORTED, BUFFER_TOO_SMALL, WRONG_KIND, ABORTED. */

/* Images from files (`paths`: n NUL-terminated paths). Errors: the common
** contract above. */
KRAIT_API krait_status krait_session_classify_files(krait_session* session, const char* const* paths, size_t n,
                                                    int32_t top_k, krait_classification* out, size_t capacity,
                                                    size_t* n_out);

/* Images as encoded bytes in memory: image i is sizes[i] bytes at data[i].
** Errors: the common contract above. */
KRAIT_API krait_status krait_session_classify_encoded(krait_session* session, const void* const* data,
                                                      const size_t* sizes, size_t n, int32_t top_k,
                                                      krait_classification* out, size_t capacity, size_t* n_out);

/* Images as raw pixels: `images` points to n krait_image structs, struct_size
** bytes apart. Errors: the common contract above. */
KRAIT_API krait_status krait_session_classify_pixels(krait_session* session, const krait_image* images, size_t n,
                                                     int32_t top_k, krait_classification* out, size_t capacity,
                                                     size_t* n_out);

/* The model on ready input: `pixels` float32 [batch, 3, height, width] (NCHW,
** already resized and normalized as the model expects) -> float32 logits
** [batch, num_labels] written to `logits` (capacity in floats; *n_out = batch
** * num_labels; NULL with capacity 0 is a size query). height x width may
** differ from the trained input size where the model allows it (ViT:
** multiples of the patch size, position embeddings interpolated).
** Errors: INVALID_ARGUMENT (NULL, batch/height/width <= 0, a size the model
** cannot run: the message says why), BUFFER_TOO_SMALL, WRONG_KIND, ABORTED. */
KRAIT_API krait_status krait_session_classifier_forward(krait_session* session, const float* pixels, int64_t batch,
                                                        int64_t height, int64_t width, float* logits,
                                                        size_t capacity, size_t* n_out);

/* Classes of the session's active head: the model's num_labels, or that of
** an active adapter that replaces the head. Sizes the logits of
** krait_session_classifier_forward. Added in 1.2.
** Thread-safe with respect to the model; not during a call on the same
** session. Errors: INVALID_ARGUMENT (NULL), WRONG_KIND. */
KRAIT_API krait_status krait_session_get_num_labels(const krait_session* session, int64_t* out_num_labels);

/* ---- Assistants (KRAIT_MODEL_ASSISTANT, since 1.5) ------------------------ */
/*
** A vision-language assistant: LLaVA checkpoints as transformers saves them
** (LlavaForConditionalGeneration: a CLIP or SigLIP vision tower, a projector,
** and a language model of any family Krait loads: llama, mistral, qwen2), and
** composite assistants (since 1.7: any image encoder Krait loads, a projector,
** any language model, Mamba included; docs/COMPOSITE_ASSISTANTS.md), whose
** images may go before the text (krait_model_info.image_placement).
** An image becomes image_rows feature rows (krait_model_info) that take the
** place of image tokens in the prompt: as transformers' LlavaProcessor writes
** prompts, each image is its image_token_id repeated image_rows times, and the
** images are taken in the order their tokens appear. The number of images
** must match the prompt's image tokens (INVALID_ARGUMENT naming both counts).
**
** Images go in as model-ready pixels, float32 [n, 3, image_height,
** image_width] (NCHW), made from files, encoded bytes or raw pixels by the
** krait_model_preprocess_image* calls, which apply the model's
** preprocessor_config.json (CLIP: shortest-edge bicubic resize, center crop,
** rescale, normalize; SigLIP: resize to a square) as transformers does.
**
** Every sequence call works on an assistant session too, on its language
** model (text only): generate, append, snapshot / restore, conversations.
** krait_session_append_images adds a prompt with images to the context, and
** krait_session_generate (with an empty prompt, or more text) continues it.
** The rows that came from images are not identified by their tokens, so the
** session records which picture each run of image tokens is (a hash of its
** pixels): a conversation reuses them only for the same picture,
** krait_session_save_state refuses a context that holds them (UNSUPPORTED;
** krait_conversation_save stores the pictures with the conversation, since
** 1.7), and snapshot / restore keep them. Adapters reach the language model,
** the tower and the projector (since 1.7; see "LoRA adapters"); the session's
** image cache keys rows by the adapters active on the tower and projector.
** Classifier calls on an assistant session return KRAIT_ERR_WRONG_KIND, and so
** do these calls on other sessions.
*/

/* An image made model-ready for `model` (an assistant or a classifier): the
** file at `path` (PNG, JPEG, BMP, GIF: first frame), decoded and preprocessed
** as the model's configuration says, into `pixels` [3, image_height,
** image_width] float32 (capacity in floats; *n_out = 3 * image_height *
** image_width; NULL with capacity 0 is a size query). Thread-safe.
** Errors: INVALID_ARGUMENT (NULL), IO (unreadable file), FORMAT (not an image
** of a supported format, or corrupt), BUFFER_TOO_SMALL. Since 1.5. */
KRAIT_API krait_status krait_model_preprocess_image_file(const krait_model* model, const char* path, float* pixels,
                                                         size_t capacity, size_t* n_out);

/* The same from an encoded image in memory (`size` bytes at `data`). Since 1.5. */
KRAIT_API krait_status krait_model_preprocess_image_encoded(const krait_model* model, const void* data, size_t size,
                                                            float* pixels, size_t capacity, size_t* n_out);

/* The same from raw 8-bit pixels (krait_image). Errors also: INVALID_ARGUMENT
** for bad krait_image fields. Since 1.5. */
KRAIT_API krait_status krait_model_preprocess_image_pixels(const krait_model* model, const krait_image* image,
                                                           float* pixels, size_t capacity, size_t* n_out);

/* The language model's logits for a batch of prompts with images, as
** LlavaForConditionalGeneration(input_ids, pixel_values).logits: `ids` int32
** [batch, length] (each image as image_rows copies of image_token_id),
** `pixels` float32 [n_images, 3, height, width] (the images of row 0, then row
** 1, ...; NULL when n_images is 0) -> float32 logits [batch, length,
** vocab_size] (capacity in floats; *n_out their count; NULL with capacity 0
** is a size query). Stateless: the session's context is neither used nor
** changed. Errors: INVALID_ARGUMENT (NULL, sizes <= 0, an id out of range,
** images and image tokens that do not match, height x width other than the
** encoder's), BUFFER_TOO_SMALL, WRONG_KIND, ABORTED. Since 1.5. */
KRAIT_API krait_status krait_session_assistant_forward(krait_session* session, const int32_t* ids, int64_t batch,
                                                       int64_t length, const float* pixels, int64_t n_images,
                                                       int64_t height, int64_t width, float* logits, size_t capacity,
                                                       size_t* n_out);

/* Appends a prompt with images to the session's context (as
** krait_session_append, in one prefill): `ids` [n_ids] hold the n_images
** images' tokens, `pixels` [n_images, 3, height, width] (NULL when n_images
** is 0). When `logits` is not NULL, writes the logits after the last token
** ([vocab_size] floats). Then krait_session_generate continues from there.
** Errors: as krait_session_append, and INVALID_ARGUMENT for images that do
** not match the image tokens or have another size; the context is unchanged
** on every error but ABORTED (which empties it, as krait_session_append).
** Since 1.5. */
KRAIT_API krait_status krait_session_append_images(krait_session* session, const int32_t* ids, size_t n_ids,
                                                   const float* pixels, int64_t n_images, int64_t height,
                                                   int64_t width, float* logits, size_t capacity);

/* The rows the language model reads for each image: `pixels` [n, 3, height,
** width] -> float32 `features` [n, image_rows, hidden_size] (the projector's
** output; capacity in floats, *n_out their count, NULL with capacity 0 a size
** query). Errors: INVALID_ARGUMENT (NULL, n <= 0, another size),
** BUFFER_TOO_SMALL, WRONG_KIND, ABORTED. Since 1.5. */
KRAIT_API krait_status krait_session_encode_images(krait_session* session, const float* pixels, int64_t n,
                                                   int64_t height, int64_t width, float* features, size_t capacity,
                                                   size_t* n_out);

/* ======================================================================== */
/* LoRA adapters (added in 1.2)                                              */
/* ======================================================================== */
/*
** Low-rank adapters fine-tuned with PEFT, loaded as saved (a folder with
** adapter_config.json and adapter_model.safetensors) and switched per session
** without reloading anything. An adapter is loaded for one model and shared by
** all its sessions; the model's weights are never modified or copied. Each
** session chooses its active set, zero or more (adapter, scale) pairs, and its
** calls compute y = W x + sum_i scale_i * (alpha_i / r_i) * B_i (A_i x) in
** every adapted layer (alpha_i / sqrt(r_i) with use_rslora). Changing the set
** costs microseconds. modules_to_save (a whole module retrained, such as a
** new classifier head with its own labels) replaces the model's module while
** the adapter is active; scale does not apply to a replaced module.
**
** What can be adapted: every linear layer (Mamba: in_proj, x_proj, dt_proj,
** out_proj, lm_head; Llama/Mistral/Qwen2: q/k/v/o_proj, gate/up/down_proj,
** lm_head; ViT: query/key/value/output/MLP; MambaVision: mixer,
** attention, MLP and head), embeddings, and convolutions (ViT's patch conv,
** MambaVision's stem, block, downsample and mixer convs). Module names follow
** the checkpoint or the transformers version the adapter was trained with
** (for ViT both `vit.encoder.layer.N.attention.attention.query` and
** `vit.layers.N.attention.q_proj`). Assistants (since 1.7): one adapter may
** change the language model, the vision tower and the projector; LLaVA names
** as peft does on transformers 5 (model.language_model.*, model.vision_tower.*,
** model.multi_modal_projector.*) or 4 (language_model.model.*,
** vision_tower.vision_model.*, multi_modal_projector.*); composite assistants
** as docs/COMPOSITE_ASSISTANTS.md says (the language model's own names, or
** language_model.*; image_encoder.*; projector.<index>). Not supported, refused with
** KRAIT_ERR_UNSUPPORTED: DoRA, lora_bias, trained base biases, other PEFT
** methods, LoRA on Mamba's conv1d. Krait applies every adapted module as the
** adapter defines it, also where the PyTorch forward reads the weight tensor
** directly and so skips peft's wrapper (Mamba's dt_proj in transformers 5,
** MambaVision's conv1d_x/conv1d_z upstream): an adapter trained there has a
** zero update for those modules, and one made otherwise takes effect.
**
** Lifetime: an adapter handle is one reference. krait_adapter_free() drops it
** at any time, also while sessions use the adapter: they keep it alive until
** they change their active set or are freed. Loading, querying and freeing
** adapters is thread-safe and may run while other sessions of the model run.
*/
typedef struct krait_adapter krait_adapter;

typedef struct krait_adapter_params {
    uint32_t struct_size; /* sizeof(krait_adapter_params); set by init */
    const char* name;     /* a name for messages and krait_adapter_info; NULL = the folder's name. Default NULL */
} krait_adapter_params;

/* Fills `params` with defaults, struct_size included. NULL does nothing.
** Cannot fail. */
KRAIT_API void krait_adapter_params_init(krait_adapter_params* params);

/* krait_adapter_params_init for a caller's struct of `size` bytes (its
** sizeof(krait_adapter_params)): writes the defaults of the fields that fit in
** `size` and nothing past it, and sets struct_size to the smaller of `size`
** and the library's sizeof. NULL does nothing. Cannot fail. Added in 1.9.
** Since 1.9 the header's krait_adapter_params_init() is a macro over it that
** passes sizeof(params[0]), so a newer library never writes past a caller's
** struct (ABI RULES). */
KRAIT_API void krait_adapter_params_init_sized(krait_adapter_params* params, size_t size);
#define krait_adapter_params_init(params) krait_adapter_params_init_sized((params), sizeof *(params))

/* Loads the PEFT adapter folder `path` for `model` and checks every tensor
** against it: each key must name a module of this model (after the
** architecture's naming rules) with fitting shapes and rank, and the config
** must agree with the tensors. On any error nothing is loaded and the model
** and its sessions are unaffected. `params` may be NULL.
** Errors: INVALID_ARGUMENT (NULL), IO (missing folder, adapter_config.json or
** adapter_model.safetensors), FORMAT (malformed files; a key for a module the
** model lacks, a shape or rank that does not fit, non-finite values: the
** message names the file and key), UNSUPPORTED (see above), OUT_OF_MEMORY.
** Thread-safe. */
KRAIT_API krait_status krait_adapter_load(krait_model* model, const char* path, const krait_adapter_params* params,
                                          krait_adapter** out_adapter);

/* Drops this handle's reference (see Lifetime above). NULL is a no-op.
** Cannot fail. */
KRAIT_API void krait_adapter_free(krait_adapter* adapter);

typedef struct krait_adapter_info {
    uint32_t struct_size;     /* set by the caller to sizeof(krait_adapter_info); never written (ABI RULES) */
    const char* name;         /* valid as long as the handle */
    const char* path;         /* the folder it was loaded from; valid as long as the handle */
    int32_t max_rank;         /* largest r over its modules (0 if it only replaces modules) */
    float lora_alpha;         /* adapter_config.json lora_alpha (before alpha_pattern) */
    int32_t use_rslora;       /* 1 if scaling is alpha / sqrt(r) */
    int64_t num_targets;      /* adapted plus replaced modules: krait_adapter_get_target indices */
    int64_t num_parameters;   /* values held by the adapter */
    int64_t num_labels;       /* classes of its replacement head; 0 if it keeps the model's head */
} krait_adapter_info;

/* Fills `info` (whose struct_size the caller sets) with facts about the
** adapter: the fields that fit in struct_size, struct_size itself left as it
** is. Thread-safe.
** Errors: INVALID_ARGUMENT (NULL, or struct_size smaller than
** krait_adapter_info was in 1.2, which ended with num_labels; 0 included). */
KRAIT_API krait_status krait_adapter_get_info(const krait_adapter* adapter, krait_adapter_info* info);

typedef struct krait_adapter_target {
    uint32_t struct_size;  /* set by the caller to sizeof(krait_adapter_target); never written (ABI RULES) */
    const char* module;    /* the model's module, as the checkpoint names it; valid as long as the handle */
    const char* kind;      /* "linear", "embedding", "conv1d", "conv2d" */
    int32_t rank;          /* r of this module; 0 for a replaced module */
    float scaling;         /* alpha / r (or / sqrt(r)) of this module; 0 for a replaced module */
    int32_t replaced;      /* 1 if the adapter replaces the module (modules_to_save) */
} krait_adapter_target;

/* Fills `target` (whose struct_size the caller sets, as for
** krait_adapter_get_info) with target `index` in [0, num_targets): adapted
** modules first, then replaced ones. Thread-safe.
** Errors: INVALID_ARGUMENT (NULL, index out of range, or struct_size smaller
** than krait_adapter_target was in 1.2, which ended with replaced; 0
** included). */
KRAIT_API krait_status krait_adapter_get_target(const krait_adapter* adapter, int64_t index,
                                                krait_adapter_target* target);

/* Label `id` of the adapter's replacement head (its folder's config.json
** id2label, else "LABEL_<id>"); *out is valid as long as the handle.
** Thread-safe. Errors: INVALID_ARGUMENT (NULL, no replacement head, id out
** of range). */
KRAIT_API krait_status krait_adapter_get_label(const krait_adapter* adapter, int32_t id, const char** out);

/* Makes `n` adapters active on `session`, adapter i with scale scales[i]
** (1.0 = as trained; scales may be negative or 0); n = 0 returns to the base
** model. Takes effect from the session's next call, costs no reload, and
** holds a reference to each adapter until the next set replaces it. On a
** sequence session the recurrent state is kept: tokens already consumed stay
** as computed under the previous set. `scales` may be NULL (all 1.0).
** Errors: INVALID_ARGUMENT (NULL adapters with n > 0, n above 64 (the limit
** since 1.10), an adapter of another model, a non-finite scale, two adapters
** replacing the same module); the active set is unchanged on error. BUSY
** during another call on the same session (see CONVENTIONS). */
KRAIT_API krait_status krait_session_set_adapters(krait_session* session, const krait_adapter* const* adapters,
                                                  const float* scales, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* KRAIT_H */
