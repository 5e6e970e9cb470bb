// Process-wide facts and settings: versions, CPU kernels, the log callback.
using System;
using System.Threading;

namespace Krait
{
    /// <summary>Severity of a library log message (krait_log_level).</summary>
    public enum LogLevel
    {
        /// <summary>Details for debugging.</summary>
        Debug = 0,
        /// <summary>Informational messages (what a load did).</summary>
        Info = 1,
        /// <summary>Something unexpected that the library worked around.</summary>
        Warn = 2,
        /// <summary>Errors.</summary>
        Error = 3,
        /// <summary>As a minimum level: log nothing.</summary>
        None = 4,
    }

    /// <summary>Receives a library log message. Called on the thread of the Krait call that logs
    /// (or one of the library's worker threads serving it), possibly on several threads at once: it
    /// must be thread-safe, return quickly and must not call into Krait.</summary>
    /// <param name="level">The message's severity.</param>
    /// <param name="message">The message (UTF-8 from the library, decoded).</param>
    public delegate void LogCallback(LogLevel level, string message);

    /// <summary>Versions, CPU facts and process-wide settings of the native library.</summary>
    public static class Library
    {
        /// <summary>The version of the C header this binding was written against, as
        /// KRAIT_VERSION_NUMBER (major * 1000000 + minor * 1000 + patch).</summary>
        public const uint HeaderVersionNumber = 1008000;

        // The trampoline the library calls: static, so its function pointer stays valid for the
        // life of the process (the library may still call a replaced callback briefly).
        private static readonly NativeMethods.LogFn s_logTrampoline = OnLog;
        private static LogCallback s_log;

        [ThreadStatic] private static Exception t_logError;

        /// <summary>The library's version as a number (krait_version()).</summary>
        public static uint VersionNumber { get { return NativeMethods.krait_version(); } }

        /// <summary>The library's version, "MAJOR.MINOR.PATCH" (krait_version_string()).</summary>
        public static string Version { get { return Utf8.FromNative(NativeMethods.krait_version_string()); } }

        /// <summary>The CPU kernels the process runs: "portable", "avx2" or "avx512"
        /// (krait_cpu_kernels(); the environment variable KRAIT_CPU_VARIANT caps the choice).</summary>
        public static string CpuKernels { get { return Utf8.FromNative(NativeMethods.krait_cpu_kernels()); } }

        /// <summary>The BF16 dot-product unit of models loaded with <see cref="MatmulPrecision.Bf16"/>:
        /// "amx", "avx512_bf16" or "none" (krait_cpu_bf16_products()).</summary>
        public static string CpuBf16Products { get { return Utf8.FromNative(NativeMethods.krait_cpu_bf16_products()); } }

        /// <summary>Native objects (models, sessions, states, conversations, adapters, tokenizers)
        /// created through this binding and not released yet; for leak checks.</summary>
        public static int OpenHandleCount { get { return KraitHandle.Live; } }

        /// <summary>A short English name of a status code ("invalid argument"; krait_status_string()).</summary>
        /// <param name="status">The status code.</param>
        public static string StatusString(KraitStatus status)
        {
            return Utf8.FromNative(NativeMethods.krait_status_string((int)status));
        }

        /// <summary>Installs a process-wide log callback receiving messages at or above
        /// <paramref name="minLevel"/>; null restores the default (WARN and above to stderr). The
        /// delegate is kept in a static field until replaced. An exception the callback throws is
        /// caught at the native boundary: when the message came from <see cref="Model.Load"/> on its
        /// own thread, Load rethrows it once the native call has returned (releasing the model);
        /// otherwise it is dropped.</summary>
        /// <param name="callback">The callback, or null for the default.</param>
        /// <param name="minLevel">Messages below this level are dropped.</param>
        public static void SetLogCallback(LogCallback callback, LogLevel minLevel = LogLevel.Info)
        {
            Volatile.Write(ref s_log, callback);
            if (callback == null)
                NativeMethods.krait_set_log_callback(IntPtr.Zero, IntPtr.Zero, (int)minLevel);
            else
                NativeMethods.krait_set_log_callback(
                    System.Runtime.InteropServices.Marshal.GetFunctionPointerForDelegate(s_logTrampoline),
                    IntPtr.Zero, (int)minLevel);
        }

        /// <summary>Throws if the loaded library cannot serve this binding (another major version,
        /// or older than the header it was written against).</summary>
        internal static void CheckCompatible()
        {
            uint v = VersionNumber;
            if (v / 1000000 != HeaderVersionNumber / 1000000 || v < HeaderVersionNumber)
                throw new KraitUnsupportedException("the loaded Krait library is version " + Version +
                                                   ", but this binding needs 1.8 or a later 1.x");
        }

        /// <summary>The exception a log callback threw on this thread since the last call, if any.</summary>
        internal static Exception TakeLogError()
        {
            Exception e = t_logError;
            t_logError = null;
            return e;
        }

        private static void OnLog(int level, IntPtr message, IntPtr userData)
        {
            try
            {
                LogCallback cb = Volatile.Read(ref s_log);
                if (cb != null) cb((LogLevel)level, Utf8.FromNative(message));
            }
            catch (Exception e)
            {
                // Never let it cross into the library; the logging call rethrows it where it can.
                if (t_logError == null) t_logError = e;
            }
        }
    }
}
