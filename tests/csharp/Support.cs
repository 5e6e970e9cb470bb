// Test support: where the repository, the demo models and the CLI are; independent readers of
// PNG and safetensors files; running the CLI; small numeric helpers.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using NUnit.Framework;

namespace Krait.Tests
{
    internal static class Paths
    {
        private static string s_root;

        /// <summary>The repository root: $KRAIT_ROOT, else the first folder above the current
        /// directory or the test assembly that holds models/ and abi/.</summary>
        internal static string Root
        {
            get
            {
                if (s_root != null) return s_root;
                string env = Environment.GetEnvironmentVariable("KRAIT_ROOT");
                if (!string.IsNullOrEmpty(env)) return s_root = Path.GetFullPath(env);
                foreach (string start in new[] { Directory.GetCurrentDirectory(),
                                                 Path.GetDirectoryName(typeof(Paths).Assembly.Location) })
                {
                    for (string d = start; d != null; d = Path.GetDirectoryName(d))
                        if (Directory.Exists(Path.Combine(d, "models")) && Directory.Exists(Path.Combine(d, "abi")))
                            return s_root = d;
                }
                throw new InvalidOperationException("cannot find the repository root: set KRAIT_ROOT");
            }
        }

        /// <summary>$KRAIT_BUILD_DIR, else ROOT/build.</summary>
        internal static string BuildDir
        {
            get
            {
                string env = Environment.GetEnvironmentVariable("KRAIT_BUILD_DIR");
                return string.IsNullOrEmpty(env) ? Path.Combine(Root, "build") : Path.GetFullPath(env);
            }
        }

        internal static string Cli { get { return Path.Combine(BuildDir, "cli", "krait"); } }

        internal static string Models(string name) { return Path.Combine(Root, "models", name); }
        internal static string Fixture(string rel) { return Path.Combine(Root, "tests", "fixtures", rel); }
        internal static string Sample(string name) { return Path.Combine(Root, "models", "samples", name); }

        internal static string MambaDemo { get { return Models("mamba-demo"); } }
        internal static string MambaLora { get { return Models("mamba-demo-lora-licenses"); } }
        internal static string ChatDemo { get { return Models("chat-demo"); } }
        internal static string VitDigits { get { return Models("vit-digits"); } }
        internal static string MambaVisionDigits { get { return Models("mambavision-digits"); } }
        internal static string ParityLora { get { return Models("mambavision-digits-lora-parity"); } }
        internal static string LlavaChat { get { return Fixture("llava/llava_chat"); } }
        internal static string CompositeMambaChat { get { return Fixture("composite/mamba_chat"); } }
        internal static string Photo { get { return Fixture("images/samples/photo_300x199.png"); } }

        internal static readonly string[] Digits = { "digit_0.png", "digit_2.png", "digit_3.png", "digit_5.png",
                                                     "digit_7.png", "digit_9.png" };

        /// <summary>A fresh empty directory under the system's temp folder.</summary>
        internal static string TempDir()
        {
            string d = Path.Combine(Path.GetTempPath(), "krait-cs-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(d);
            return d;
        }
    }

    /// <summary>Runs build/cli/krait and parses its output (an independent reference).</summary>
    internal static class Cli
    {
        internal static string Run(params string[] args)
        {
            var psi = new ProcessStartInfo(Paths.Cli);
            var sb = new StringBuilder();
            foreach (string a in args) sb.Append(' ').Append('"').Append(a.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
            psi.Arguments = sb.ToString();
            psi.UseShellExecute = false;
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            psi.StandardOutputEncoding = Encoding.UTF8;
            using (Process p = Process.Start(psi))
            {
                string stderr = null;
                var errThread = new Thread(() => { stderr = p.StandardError.ReadToEnd(); });
                errThread.Start();
                string output = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                errThread.Join();
                Assert.AreEqual(0, p.ExitCode, "krait " + psi.Arguments + " failed: " + stderr);
                return output;
            }
        }

        /// <summary>`krait classify` of each image: (label, probability) lines per image, in order.</summary>
        internal static List<List<KeyValuePair<string, double>>> Classify(string model, IList<string> images, int topK,
                                                                           params string[] extra)
        {
            var args = new List<string> { "classify", "-m", model, "-k", topK.ToString(CultureInfo.InvariantCulture) };
            args.AddRange(extra);
            args.AddRange(images);
            string output = Run(args.ToArray());
            var result = new List<List<KeyValuePair<string, double>>>();
            foreach (string line in output.Split('\n'))
            {
                if (line.Length == 0) continue;
                if (!line.StartsWith(" "))
                {
                    result.Add(new List<KeyValuePair<string, double>>());
                    continue;
                }
                Match m = Regex.Match(line, @"^\s+([0-9.]+)\s+(.*)$");
                Assert.IsTrue(m.Success, "unexpected CLI line: " + line);
                result[result.Count - 1].Add(new KeyValuePair<string, double>(
                    m.Groups[2].Value, double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)));
            }
            return result;
        }

        /// <summary>`krait tokenize` of a text without special tokens.</summary>
        internal static int[] Tokenize(string model, string text)
        {
            string output = Run("tokenize", "-m", model, "--no-special", "-p", text).Trim();
            if (output.Length == 0) return new int[0];
            return Array.ConvertAll(output.Split(' '), s => int.Parse(s, CultureInfo.InvariantCulture));
        }
    }

    /// <summary>A minimal PNG decoder (8-bit, non-interlaced, gray / RGB / RGBA), independent of
    /// Krait's own image decoding.</summary>
    internal static class Png
    {
        internal static RawImage Decode(string path)
        {
            byte[] file = File.ReadAllBytes(path);
            int pos = 8, width = 0, height = 0, channels = 0;
            var idat = new MemoryStream();
            while (pos < file.Length)
            {
                int len = BigEndian(file, pos);
                string type = Encoding.ASCII.GetString(file, pos + 4, 4);
                if (type == "IHDR")
                {
                    width = BigEndian(file, pos + 8);
                    height = BigEndian(file, pos + 12);
                    Assert.AreEqual(8, file[pos + 16], "bit depth");
                    int colour = file[pos + 17];
                    channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 6 ? 4 : colour == 4 ? 2 : -1;
                    Assert.AreEqual(0, file[pos + 20], "interlace");
                    Assert.IsTrue(channels == 1 || channels == 3 || channels == 4, "colour type " + colour);
                }
                else if (type == "IDAT")
                {
                    idat.Write(file, pos + 8, len);
                }
                pos += 12 + len;
            }
            byte[] z = idat.ToArray();
            var raw = new MemoryStream();
            using (var inflate = new DeflateStream(new MemoryStream(z, 2, z.Length - 2), CompressionMode.Decompress))
                inflate.CopyTo(raw);
            byte[] data = raw.ToArray();
            int stride = width * channels;
            var pixels = new byte[stride * height];
            var prev = new byte[stride];
            for (int y = 0; y < height; y++)
            {
                int filter = data[y * (stride + 1)];
                var row = new byte[stride];
                Array.Copy(data, y * (stride + 1) + 1, row, 0, stride);
                for (int x = 0; x < stride; x++)
                {
                    int a = x >= channels ? row[x - channels] : 0;
                    int b = prev[x];
                    int c = x >= channels ? prev[x - channels] : 0;
                    int add;
                    switch (filter)
                    {
                        case 0: add = 0; break;
                        case 1: add = a; break;
                        case 2: add = b; break;
                        case 3: add = (a + b) / 2; break;
                        case 4:
                            int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                            add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
                            break;
                        default: throw new InvalidDataException("PNG filter " + filter);
                    }
                    row[x] = (byte)(row[x] + add);
                }
                Array.Copy(row, 0, pixels, y * stride, stride);
                prev = row;
            }
            return new RawImage(pixels, width, height, channels);
        }

        private static int BigEndian(byte[] b, int i)
        {
            return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
        }
    }

    /// <summary>Reads named tensors of a .safetensors file (the header parsed with a regular
    /// expression: enough for the fixtures' flat headers).</summary>
    internal static class SafeTensors
    {
        internal static byte[] Raw(string path, string name, out string dtype, out int[] shape)
        {
            byte[] file = File.ReadAllBytes(path);
            long n = BitConverter.ToInt64(file, 0);
            string header = Encoding.UTF8.GetString(file, 8, (int)n);
            Match m = Regex.Match(header, "\"" + Regex.Escape(name) +
                                  "\"\\s*:\\s*\\{\\s*\"dtype\"\\s*:\\s*\"(\\w+)\"\\s*,\\s*\"shape\"\\s*:\\s*\\[([0-9, ]*)\\]\\s*,\\s*\"data_offsets\"\\s*:\\s*\\[\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\]");
            Assert.IsTrue(m.Success, name + " not in " + path);
            dtype = m.Groups[1].Value;
            string dims = m.Groups[2].Value.Trim();
            shape = dims.Length == 0 ? new int[0] : Array.ConvertAll(dims.Split(','), s => int.Parse(s.Trim()));
            long begin = long.Parse(m.Groups[3].Value), end = long.Parse(m.Groups[4].Value);
            var bytes = new byte[end - begin];
            Array.Copy(file, 8 + n + begin, bytes, 0, bytes.Length);
            return bytes;
        }

        internal static int[] Int32s(string path, string name)
        {
            string dtype;
            int[] shape;
            byte[] b = Raw(path, name, out dtype, out shape);
            Assert.AreEqual("I32", dtype);
            var v = new int[b.Length / 4];
            Buffer.BlockCopy(b, 0, v, 0, b.Length);
            return v;
        }

        internal static byte[] UInt8s(string path, string name, out int[] shape)
        {
            string dtype;
            byte[] b = Raw(path, name, out dtype, out shape);
            Assert.AreEqual("U8", dtype);
            return b;
        }
    }

    internal static class Num
    {
        internal static int ArgMax(float[] v, int offset, int length)
        {
            int best = 0;
            for (int i = 1; i < length; i++)
                if (v[offset + i] > v[offset + best]) best = i;
            return best;
        }

        internal static double MaxAbsDiff(float[] a, float[] b)
        {
            Assert.AreEqual(a.Length, b.Length, "lengths");
            double d = 0;
            for (int i = 0; i < a.Length; i++) d = Math.Max(d, Math.Abs((double)a[i] - b[i]));
            return d;
        }

        internal static float[] Slice(float[] v, int offset, int length)
        {
            var r = new float[length];
            Array.Copy(v, offset, r, 0, length);
            return r;
        }

        internal static double[] Softmax(float[] v, int offset, int length)
        {
            double max = double.NegativeInfinity;
            for (int i = 0; i < length; i++) max = Math.Max(max, v[offset + i]);
            var p = new double[length];
            double sum = 0;
            for (int i = 0; i < length; i++) sum += p[i] = Math.Exp(v[offset + i] - max);
            for (int i = 0; i < length; i++) p[i] /= sum;
            return p;
        }
    }

    /// <summary>Runs the finalizers of everything unreachable.</summary>
    internal static class Gc
    {
        internal static void Full()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
    }
}
