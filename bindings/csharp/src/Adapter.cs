// PEFT LoRA adapters.
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;

namespace Krait
{
    /// <summary>One module an adapter changes (krait_adapter_target).</summary>
    public sealed class AdapterTarget
    {
        internal AdapterTarget(NativeMethods.AdapterTarget t)
        {
            Module = Utf8.FromNative(t.module);
            Kind = Utf8.FromNative(t.kind);
            Rank = t.rank;
            Scaling = t.scaling;
            Replaced = t.replaced != 0;
        }

        /// <summary>The model's module, as the checkpoint names it.</summary>
        public string Module { get; private set; }
        /// <summary>"linear", "embedding", "conv1d" or "conv2d".</summary>
        public string Kind { get; private set; }
        /// <summary>r of this module; 0 for a replaced module.</summary>
        public int Rank { get; private set; }
        /// <summary>alpha / r (or / sqrt(r)); 0 for a replaced module.</summary>
        public float Scaling { get; private set; }
        /// <summary>Whether the adapter replaces the module (modules_to_save).</summary>
        public bool Replaced { get; private set; }

        /// <summary>"module (kind, r)".</summary>
        public override string ToString()
        {
            return Module + " (" + Kind + (Replaced ? ", replaced" : ", r=" + Rank) + ")";
        }
    }

    /// <summary>A PEFT LoRA adapter loaded for one model (krait_adapter), from
    /// <see cref="Model.LoadAdapter"/>; activated per session with <see cref="Session.SetAdapters"/>
    /// or per call with <see cref="GenerateOptions.Adapters"/> / <see cref="Session.UseAdapters"/>.
    /// Disposing it while sessions use it is safe: they keep it alive until their set changes.</summary>
    public sealed class Adapter : IDisposable
    {
        private readonly AdapterHandle _handle;
        private readonly Model _model;
        private IList<AdapterTarget> _targets;
        private IList<string> _labels;

        internal Adapter(Model model, string path, string name)
        {
            if (path == null) throw Status.Argument("path is null");
            _model = model;
            ModelHandle mh = model.Handle;
            NativeMethods.AdapterParams p = Defaults.Adapter();
            byte[] nameZ = Utf8.Z(name, "name");
            GCHandle pin = default(GCHandle);
            try
            {
                if (nameZ != null)
                {
                    pin = GCHandle.Alloc(nameZ, GCHandleType.Pinned);
                    p.name = pin.AddrOfPinnedObject();
                }
                using (ParentRef parent = ParentRef.Take(mh))
                {
                    IntPtr a;
                    Status.Check(NativeMethods.krait_adapter_load(mh, Utf8.Z(path, "path"), ref p, out a));
                    _handle = new AdapterHandle(a, parent.Transfer());
                }
            }
            finally
            {
                if (pin.IsAllocated) pin.Free();
            }
            var info = new NativeMethods.AdapterInfo();
            info.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.AdapterInfo));
            Status.Check(NativeMethods.krait_adapter_get_info(_handle, ref info));
            Name = Utf8.FromNative(info.name);
            Path = Utf8.FromNative(info.path);
            MaxRank = info.max_rank;
            LoraAlpha = info.lora_alpha;
            UseRsLora = info.use_rslora != 0;
            TargetCount = info.num_targets;
            NumParameters = info.num_parameters;
            NumLabels = info.num_labels;
        }

        internal AdapterHandle Handle
        {
            get
            {
                if (_handle.IsDisposed) throw new ObjectDisposedException("Adapter");
                return _handle;
            }
        }

        /// <summary>The model the adapter was loaded for.</summary>
        public Model Model { get { return _model; } }
        /// <summary>Its name (the folder's name unless one was given).</summary>
        public string Name { get; private set; }
        /// <summary>The folder it was loaded from.</summary>
        public string Path { get; private set; }
        /// <summary>The largest r over its modules (0 if it only replaces modules).</summary>
        public int MaxRank { get; private set; }
        /// <summary>adapter_config.json's lora_alpha.</summary>
        public float LoraAlpha { get; private set; }
        /// <summary>Whether scaling is alpha / sqrt(r).</summary>
        public bool UseRsLora { get; private set; }
        /// <summary>Adapted plus replaced modules.</summary>
        public long TargetCount { get; private set; }
        /// <summary>Values held by the adapter.</summary>
        public long NumParameters { get; private set; }
        /// <summary>Classes of its replacement head; 0 if it keeps the model's head.</summary>
        public long NumLabels { get; private set; }

        /// <summary>The modules it changes: adapted ones first, then replaced ones
        /// (krait_adapter_get_target).</summary>
        public IList<AdapterTarget> Targets
        {
            get
            {
                if (_targets == null)
                {
                    var list = new List<AdapterTarget>();
                    for (long i = 0; i < TargetCount; i++)
                    {
                        var t = new NativeMethods.AdapterTarget();
                        t.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.AdapterTarget));
                        Status.Check(NativeMethods.krait_adapter_get_target(Handle, i, ref t));
                        list.Add(new AdapterTarget(t));
                    }
                    _targets = new ReadOnlyCollection<AdapterTarget>(list);
                }
                return _targets;
            }
        }

        /// <summary>The labels of its replacement head, by id (empty if it keeps the model's head).</summary>
        public IList<string> Labels
        {
            get
            {
                if (_labels == null)
                {
                    var list = new List<string>();
                    for (int i = 0; i < NumLabels; i++) list.Add(GetLabel(i));
                    _labels = new ReadOnlyCollection<string>(list);
                }
                return _labels;
            }
        }

        /// <summary>Label <paramref name="id"/> of its replacement head (krait_adapter_get_label).</summary>
        /// <exception cref="KraitInvalidArgumentException">no replacement head, id out of range</exception>
        public string GetLabel(int id)
        {
            IntPtr label;
            Status.Check(NativeMethods.krait_adapter_get_label(Handle, id, out label));
            return Utf8.FromNative(label);
        }

        /// <summary>Drops this reference (sessions using the adapter keep it alive). Safe to call twice.</summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        /// <summary>The adapter's name.</summary>
        public override string ToString() { return "Krait.Adapter(" + Name + ")"; }
    }
}
