// Status codes and the exceptions they become.
using System;
using System.Runtime.InteropServices;

namespace Krait
{
    /// <summary>The status codes of the C ABI (krait_status). A library newer than this binding may
    /// return codes not listed here: they become a plain <see cref="KraitException"/>.</summary>
    public enum KraitStatus
    {
        /// <summary>Success (KRAIT_OK).</summary>
        Ok = 0,
        /// <summary>A null or empty argument, a value out of range (KRAIT_ERR_INVALID_ARGUMENT).</summary>
        InvalidArgument = 1,
        /// <summary>A file missing or unreadable (KRAIT_ERR_IO).</summary>
        IO = 2,
        /// <summary>A file present but malformed, truncated or inconsistent (KRAIT_ERR_FORMAT).</summary>
        Format = 3,
        /// <summary>Valid input this version does not handle (KRAIT_ERR_UNSUPPORTED).</summary>
        Unsupported = 4,
        /// <summary>An allocation failed (KRAIT_ERR_OUT_OF_MEMORY).</summary>
        OutOfMemory = 5,
        /// <summary>A caller-owned buffer is too small (KRAIT_ERR_BUFFER_TOO_SMALL; the binding sizes
        /// its buffers itself, so it does not normally surface).</summary>
        BufferTooSmall = 6,
        /// <summary>A model load was cancelled by its progress callback (KRAIT_ERR_CANCELLED).</summary>
        Cancelled = 7,
        /// <summary>krait_session_abort() stopped a running call (KRAIT_ERR_ABORTED).</summary>
        Aborted = 8,
        /// <summary>A call made on the wrong kind of model or session (KRAIT_ERR_WRONG_KIND).</summary>
        WrongKind = 9,
        /// <summary>A bug in Krait (KRAIT_ERR_INTERNAL).</summary>
        Internal = 10,
        /// <summary>Another call on the same session is running (KRAIT_ERR_BUSY, since 1.10).</summary>
        Busy = 11,
    }

    /// <summary>A Krait call failed. <see cref="Exception.Message"/> is the library's message
    /// (krait_last_error(), read right after the failing call on the same thread);
    /// <see cref="Status"/> the status code. Each status has its own subclass.</summary>
    public class KraitException : Exception
    {
        /// <summary>Creates an exception for <paramref name="status"/> with
        /// <paramref name="message"/> (the status' name when empty).</summary>
        public KraitException(KraitStatus status, string message)
            : base(string.IsNullOrEmpty(message) ? Library.StatusString(status) : message)
        {
            Status = status;
        }

        /// <summary>The status code the call returned.</summary>
        public KraitStatus Status { get; private set; }

        /// <summary>The exception for <paramref name="status"/>, or null for <see cref="KraitStatus.Ok"/>.</summary>
        public static KraitException FromStatus(KraitStatus status, string message)
        {
            switch (status)
            {
                case KraitStatus.Ok: return null;
                case KraitStatus.InvalidArgument: return new KraitInvalidArgumentException(message);
                case KraitStatus.IO: return new KraitIOException(message);
                case KraitStatus.Format: return new KraitFormatException(message);
                case KraitStatus.Unsupported: return new KraitUnsupportedException(message);
                case KraitStatus.OutOfMemory: return new KraitOutOfMemoryException(message);
                case KraitStatus.BufferTooSmall: return new KraitBufferTooSmallException(message);
                case KraitStatus.Cancelled: return new KraitCancelledException(message);
                case KraitStatus.Aborted: return new KraitAbortedException(message);
                case KraitStatus.WrongKind: return new KraitWrongKindException(message);
                case KraitStatus.Internal: return new KraitInternalException(message);
                case KraitStatus.Busy: return new KraitBusyException(message);
                default: return new KraitException(status, message);
            }
        }
    }

    /// <summary>KRAIT_ERR_INVALID_ARGUMENT: a null or empty argument, a value out of range (a token
    /// id, an index, a size), malformed JSON, a file of another model.</summary>
    public class KraitInvalidArgumentException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitInvalidArgumentException(string message) : base(KraitStatus.InvalidArgument, message) { }
    }

    /// <summary>KRAIT_ERR_IO: a file or directory missing or unreadable (also a model directory that
    /// does not exist).</summary>
    public class KraitIOException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitIOException(string message) : base(KraitStatus.IO, message) { }
    }

    /// <summary>KRAIT_ERR_FORMAT: a file present but malformed, truncated or inconsistent.</summary>
    public class KraitFormatException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitFormatException(string message) : base(KraitStatus.Format, message) { }
    }

    /// <summary>KRAIT_ERR_UNSUPPORTED: valid input this version does not handle.</summary>
    public class KraitUnsupportedException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitUnsupportedException(string message) : base(KraitStatus.Unsupported, message) { }
    }

    /// <summary>KRAIT_ERR_OUT_OF_MEMORY: an allocation in the library failed.</summary>
    public class KraitOutOfMemoryException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitOutOfMemoryException(string message) : base(KraitStatus.OutOfMemory, message) { }
    }

    /// <summary>KRAIT_ERR_BUFFER_TOO_SMALL (not normally seen: the binding sizes its buffers).</summary>
    public class KraitBufferTooSmallException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitBufferTooSmallException(string message) : base(KraitStatus.BufferTooSmall, message) { }
    }

    /// <summary>KRAIT_ERR_CANCELLED: a model load stopped by its progress callback returning false.
    /// (A load cancelled through a CancellationToken throws OperationCanceledException instead, with
    /// this exception as its InnerException.)</summary>
    public class KraitCancelledException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitCancelledException(string message) : base(KraitStatus.Cancelled, message) { }
    }

    /// <summary>KRAIT_ERR_ABORTED: a call stopped by <see cref="Session.Abort"/>. A call cancelled
    /// through its CancellationToken throws OperationCanceledException instead, with this exception
    /// as its InnerException.</summary>
    public class KraitAbortedException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitAbortedException(string message) : base(KraitStatus.Aborted, message) { }
    }

    /// <summary>KRAIT_ERR_WRONG_KIND: a call made on the wrong kind of model or session (a sequence
    /// call on a classifier, a classifier call on a language model, images on a text-only model).</summary>
    public class KraitWrongKindException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitWrongKindException(string message) : base(KraitStatus.WrongKind, message) { }
    }

    /// <summary>KRAIT_ERR_INTERNAL: a bug in Krait; please report the message.</summary>
    public class KraitInternalException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitInternalException(string message) : base(KraitStatus.Internal, message) { }
    }

    /// <summary>KRAIT_ERR_BUSY: another call on the same session (or a conversation over it) is
    /// running; calls on one session must not overlap, so use one session per thread. Nothing was
    /// done and the running call is unharmed. Since 1.10.</summary>
    public class KraitBusyException : KraitException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public KraitBusyException(string message) : base(KraitStatus.Busy, message) { }
    }

    internal static class Status
    {
        /// <summary>The exception for a native status, or null for OK; reads krait_last_error() at
        /// once (it is valid only until the next Krait call on this thread).</summary>
        internal static KraitException ToException(int status)
        {
            if (status == 0) return null;
            return KraitException.FromStatus((KraitStatus)status, Utf8.FromNative(NativeMethods.krait_last_error()));
        }

        /// <summary>Throws the exception for a non-OK status.</summary>
        internal static void Check(int status)
        {
            KraitException e = ToException(status);
            if (e != null) throw e;
        }

        /// <summary>A binding-side argument error, as the library would report it.</summary>
        internal static KraitInvalidArgumentException Argument(string message)
        {
            return new KraitInvalidArgumentException(message);
        }
    }
}
