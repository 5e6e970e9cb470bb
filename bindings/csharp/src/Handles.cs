// One SafeHandle subclass per C handle type. Each ReleaseHandle calls the matching krait_*_free
// exactly once, whether the owner was disposed or only finalized.
//
// Lifetimes the C ABI requires (a model outlives its sessions, states, adapters and borrowed
// tokenizer; a session outlives its conversations) are kept with SafeHandle reference counts: a
// child handle holds a reference on its parent (DangerousAddRef) from its creation until its own
// ReleaseHandle ran, so the parent's krait_*_free runs only after every child's, in whatever order
// Dispose or the finalizer thread reaches them. Disposing a parent early only marks it closed:
// later calls through it throw ObjectDisposedException, and its native object goes when its last
// child goes.
using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Krait
{
    /// <summary>A native Krait object owned through a reference-counted SafeHandle.</summary>
    internal abstract class KraitHandle : SafeHandle
    {
        private static int s_live;

        private SafeHandle _parent;

        protected KraitHandle(IntPtr ptr, SafeHandle parent, bool counted)
            : base(IntPtr.Zero, true)
        {
            SetHandle(ptr);
            _parent = parent;
            Counted = counted && ptr != IntPtr.Zero;
            if (Counted) Interlocked.Increment(ref s_live);
        }

        private int _disposed;

        /// <summary>Whether Dispose was called (or the handle is closed). A disposed handle whose
        /// children still reference it is not closed yet (SafeHandle closes it when its last
        /// reference goes), so the wrappers check this instead of IsClosed.</summary>
        internal bool IsDisposed { get { return Volatile.Read(ref _disposed) != 0 || IsClosed; } }

        protected override void Dispose(bool disposing)
        {
            if (disposing) Volatile.Write(ref _disposed, 1);
            base.Dispose(disposing);
        }

        /// <summary>Native objects created through the binding and not released yet.</summary>
        internal static int Live { get { return Volatile.Read(ref s_live); } }

        private bool Counted { get; set; }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>Frees the native object (krait_*_free).</summary>
        protected abstract void Free(IntPtr ptr);

        /// <summary>Releases what the handle holds besides its parent (overridden by sessions).</summary>
        protected virtual void ReleaseHeld() { }

        protected override bool ReleaseHandle()
        {
            Free(handle);
            ReleaseHeld();
            SafeHandle parent = Interlocked.Exchange(ref _parent, null);
            if (parent != null) parent.DangerousRelease();
            if (Counted) Interlocked.Decrement(ref s_live);
            return true;
        }
    }

    /// <summary>A reference on a parent handle taken before a native call that creates a child:
    /// handed over to the child on success, released otherwise.</summary>
    internal sealed class ParentRef : IDisposable
    {
        private SafeHandle _handle;

        private ParentRef(SafeHandle handle) { _handle = handle; }

        /// <summary>Adds a reference to <paramref name="handle"/>; ObjectDisposedException if it
        /// is closed.</summary>
        internal static ParentRef Take(SafeHandle handle)
        {
            var kh = handle as KraitHandle;
            if (kh != null && kh.IsDisposed) throw new ObjectDisposedException(kh.GetType().Name);
            bool added = false;
            handle.DangerousAddRef(ref added);
            return new ParentRef(handle);
        }

        /// <summary>Adds a reference to a handle that may have been disposed but is kept alive by
        /// a reference the caller holds (a session's model).</summary>
        internal static ParentRef TakeLive(SafeHandle handle)
        {
            bool added = false;
            handle.DangerousAddRef(ref added);
            return new ParentRef(handle);
        }

        internal IntPtr Pointer { get { return _handle.DangerousGetHandle(); } }

        /// <summary>The handle, whose reference now belongs to the caller.</summary>
        internal SafeHandle Transfer()
        {
            SafeHandle h = _handle;
            _handle = null;
            return h;
        }

        public void Dispose()
        {
            SafeHandle h = Interlocked.Exchange(ref _handle, null);
            if (h != null) h.DangerousRelease();
        }
    }

    internal sealed class ModelHandle : KraitHandle
    {
        internal ModelHandle(IntPtr ptr) : base(ptr, null, true) { }

        protected override void Free(IntPtr ptr) { NativeMethods.krait_model_free(ptr); }
    }

    internal sealed class TokenizerHandle : KraitHandle
    {
        private readonly bool _owned;

        /// <summary>An owned tokenizer (krait_tokenizer_load), or one borrowed from a model (parent
        /// not null), which is never freed: the handle then only keeps the model alive.</summary>
        internal TokenizerHandle(IntPtr ptr, SafeHandle model) : base(ptr, model, model == null)
        {
            _owned = model == null;
        }

        protected override void Free(IntPtr ptr)
        {
            if (_owned) NativeMethods.krait_tokenizer_free(ptr);
        }
    }

    internal sealed class SessionHandle : KraitHandle
    {
        private SafeHandle[] _adapters = new SafeHandle[0];

        internal SessionHandle(IntPtr ptr, SafeHandle model) : base(ptr, model, true)
        {
            Model = (ModelHandle)model;
        }

        /// <summary>The session's model (referenced by the session until it is released).</summary>
        internal ModelHandle Model { get; private set; }

        /// <summary>The adapter handles of the session's active set, each referenced (the session
        /// keeps them alive natively too). Replaced by Session.SetAdapters.</summary>
        internal SafeHandle[] Adapters { get { return _adapters; } }

        /// <summary>Installs a new set whose handles the caller referenced and returns the old one,
        /// whose references now belong to the caller.</summary>
        internal SafeHandle[] ExchangeAdapters(SafeHandle[] referenced)
        {
            return Interlocked.Exchange(ref _adapters, referenced);
        }

        /// <summary>Installs a new set whose handles the caller referenced; releases the old one.</summary>
        internal void ReplaceAdapters(SafeHandle[] referenced)
        {
            foreach (SafeHandle h in ExchangeAdapters(referenced)) h.DangerousRelease();
        }

        protected override void Free(IntPtr ptr) { NativeMethods.krait_session_free(ptr); }

        protected override void ReleaseHeld()
        {
            // After krait_session_free: the session no longer uses them.
            ReplaceAdapters(new SafeHandle[0]);
        }
    }

    internal sealed class StateHandle : KraitHandle
    {
        internal StateHandle(IntPtr ptr, SafeHandle model) : base(ptr, model, true) { }

        protected override void Free(IntPtr ptr) { NativeMethods.krait_state_free(ptr); }
    }

    internal sealed class ConversationHandle : KraitHandle
    {
        internal ConversationHandle(IntPtr ptr, SafeHandle session) : base(ptr, session, true) { }

        protected override void Free(IntPtr ptr) { NativeMethods.krait_conversation_free(ptr); }
    }

    internal sealed class AdapterHandle : KraitHandle
    {
        internal AdapterHandle(IntPtr ptr, SafeHandle model) : base(ptr, model, true) { }

        protected override void Free(IntPtr ptr) { NativeMethods.krait_adapter_free(ptr); }
    }
}
