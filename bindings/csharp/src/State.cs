// Snapshots of a sequence session's state.
using System;

namespace Krait
{
    /// <summary>An immutable copy of a sequence session's state (krait_state), from
    /// <see cref="Session.Snapshot"/>: restorable into any session of the same model, any number of
    /// times, from any thread. Holds a reference on its model.</summary>
    public sealed class State : IDisposable
    {
        private readonly StateHandle _handle;

        internal State(StateHandle handle)
        {
            _handle = handle;
        }

        internal StateHandle Handle
        {
            get
            {
                if (_handle.IsDisposed) throw new ObjectDisposedException("State");
                return _handle;
            }
        }

        /// <summary>The number of context tokens the state holds (krait_state_get_n_tokens).</summary>
        public long TokenCount
        {
            get
            {
                long n;
                Status.Check(NativeMethods.krait_state_get_n_tokens(Handle, out n));
                return n;
            }
        }

        /// <summary>Releases the state. Safe to call twice.</summary>
        public void Dispose()
        {
            _handle.Dispose();
        }
    }
}
