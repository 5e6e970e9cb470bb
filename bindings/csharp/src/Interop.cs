// Helpers at the native boundary: UTF-8 strings by hand, size_t conversions, parameter struct
// defaults, native string arrays, JSON text for chat messages.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Krait
{
    internal static class Utf8
    {
        // Throws on unpaired surrogates instead of writing U+FFFD silently.
        private static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);

        /// <summary>NUL-terminated UTF-8 bytes of <paramref name="s"/> (null stays null, for the
        /// optional arguments the C ABI takes as NULL). A string holding a NUL character cannot be
        /// passed as a C string: KraitInvalidArgumentException naming <paramref name="what"/>.</summary>
        internal static byte[] Z(string s, string what)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw Status.Argument(what + " contains a NUL character");
            byte[] bytes = Encode(s, what);
            byte[] z = new byte[bytes.Length + 1];
            Buffer.BlockCopy(bytes, 0, z, 0, bytes.Length);
            return z;
        }

        /// <summary>UTF-8 bytes of <paramref name="s"/>, no terminator.</summary>
        internal static byte[] Encode(string s, string what)
        {
            try
            {
                return Strict.GetBytes(s);
            }
            catch (EncoderFallbackException e)
            {
                throw Status.Argument(what + " is not valid Unicode (" + e.Message + ")");
            }
        }

        /// <summary>A NUL-terminated UTF-8 string owned by the library ("" for NULL).</summary>
        internal static string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return FromNative(p, n);
        }

        /// <summary><paramref name="length"/> bytes of UTF-8 at <paramref name="p"/>.</summary>
        internal static string FromNative(IntPtr p, int length)
        {
            if (p == IntPtr.Zero || length == 0) return "";
            byte[] bytes = new byte[length];
            Marshal.Copy(p, bytes, 0, length);
            return Encoding.UTF8.GetString(bytes);
        }

        internal static string Decode(byte[] bytes, int length)
        {
            return Encoding.UTF8.GetString(bytes, 0, length);
        }
    }

    internal static class Size
    {
        internal static UIntPtr Of(long n) { return new UIntPtr(checked((ulong)n)); }

        internal static int ToInt(UIntPtr n, string what)
        {
            ulong v = n.ToUInt64();
            if (v > int.MaxValue) throw new KraitException(KraitStatus.OutOfMemory, what + " of " + v + " elements does not fit a .NET array");
            return (int)v;
        }
    }

    /// <summary>Defaults of the parameter structs from the library's own krait_*_params_init. Up to
    /// 1.8 those functions wrote sizeof() of the library's struct (since 1.9 the 1.8 layout), so
    /// they run on a scratch block far larger than any version, and the binding's struct is read
    /// from it with struct_size set to the size the binding knows (the library then takes its
    /// defaults for any newer fields, ABI RULES in krait.h).</summary>
    internal static class Defaults
    {
        private const int Scratch = 4096;

        private delegate void InitFn(IntPtr p);

        private static T Init<T>(InitFn init) where T : struct
        {
            IntPtr block = Marshal.AllocHGlobal(Scratch);
            try
            {
                for (int i = 0; i < Scratch; i += 8) Marshal.WriteInt64(block, i, 0);
                init(block);
                return (T)Marshal.PtrToStructure(block, typeof(T));
            }
            finally
            {
                Marshal.FreeHGlobal(block);
            }
        }

        internal static NativeMethods.ModelParams Model()
        {
            var p = Init<NativeMethods.ModelParams>(NativeMethods.krait_model_params_init);
            p.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.ModelParams));
            return p;
        }

        internal static NativeMethods.SessionParams Session()
        {
            var p = Init<NativeMethods.SessionParams>(NativeMethods.krait_session_params_init);
            p.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.SessionParams));
            return p;
        }

        internal static NativeMethods.GenerateParams Generate()
        {
            var p = Init<NativeMethods.GenerateParams>(NativeMethods.krait_generate_params_init);
            p.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.GenerateParams));
            p.sampling.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.SamplingParams));
            return p;
        }

        internal static NativeMethods.AdapterParams Adapter()
        {
            var p = Init<NativeMethods.AdapterParams>(NativeMethods.krait_adapter_params_init);
            p.struct_size = (uint)Marshal.SizeOf(typeof(NativeMethods.AdapterParams));
            return p;
        }
    }

    /// <summary>An array of NUL-terminated UTF-8 strings in unmanaged memory (const char* const*),
    /// freed on Dispose.</summary>
    internal sealed class NativeStrings : IDisposable
    {
        private readonly IntPtr[] _items;
        private IntPtr _array;

        internal NativeStrings(IList<string> strings, string what)
        {
            _items = new IntPtr[strings.Count];
            try
            {
                for (int i = 0; i < strings.Count; i++)
                {
                    if (strings[i] == null) throw Status.Argument(what + " " + i + " is null");
                    byte[] z = Utf8.Z(strings[i], what + " " + i);
                    _items[i] = Marshal.AllocHGlobal(z.Length);
                    Marshal.Copy(z, 0, _items[i], z.Length);
                }
                _array = Marshal.AllocHGlobal(IntPtr.Size * Math.Max(1, _items.Length));
                Marshal.Copy(_items, 0, _array, _items.Length);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        internal int Count { get { return _items.Length; } }

        /// <summary>The char* pointers, as an array (for IntPtr[] parameters).</summary>
        internal IntPtr[] Items { get { return _items; } }

        /// <summary>The const char* const* block.</summary>
        internal IntPtr Array { get { return _array; } }

        public void Dispose()
        {
            for (int i = 0; i < _items.Length; i++)
            {
                if (_items[i] != IntPtr.Zero) Marshal.FreeHGlobal(_items[i]);
                _items[i] = IntPtr.Zero;
            }
            if (_array != IntPtr.Zero) Marshal.FreeHGlobal(_array);
            _array = IntPtr.Zero;
        }
    }

    /// <summary>JSON text for chat messages (krait_model_apply_chat_template, krait_session_chat).</summary>
    internal static class Json
    {
        internal static void String(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        /// <summary>[{"role": ..., "content": ...}, ...]; a message with pictures has content parts,
        /// its image parts first, then its text.</summary>
        internal static string Messages(IEnumerable<ChatMessage> messages)
        {
            if (messages == null) throw Status.Argument("messages is null");
            var sb = new StringBuilder("[");
            bool first = true;
            foreach (ChatMessage m in messages)
            {
                if (m == null) throw Status.Argument("a message is null");
                if (!first) sb.Append(", ");
                first = false;
                sb.Append("{\"role\": ");
                String(sb, m.Role ?? "");
                sb.Append(", \"content\": ");
                int images = m.Images == null ? 0 : m.Images.Count;
                if (images == 0)
                {
                    String(sb, m.Content ?? "");
                }
                else
                {
                    sb.Append('[');
                    for (int i = 0; i < images; i++) sb.Append("{\"type\": \"image\"}, ");
                    sb.Append("{\"type\": \"text\", \"text\": ");
                    String(sb, m.Content ?? "");
                    sb.Append("}]");
                }
                sb.Append('}');
            }
            sb.Append(']');
            return sb.ToString();
        }
    }
}
