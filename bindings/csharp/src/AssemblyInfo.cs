// Assembly attributes (the csproj sets GenerateAssemblyInfo=false so that mcs and dotnet builds
// carry the same ones).
using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("Krait")]
[assembly: AssemblyDescription("C# binding of the Krait inference SDK's C ABI")]
[assembly: AssemblyProduct("Krait")]
[assembly: AssemblyVersion("1.10.0.0")]
[assembly: AssemblyFileVersion("1.10.0.0")]
[assembly: AssemblyInformationalVersion("1.10.0")]
// The tests check the P/Invoke struct layouts against the C header's (LayoutTests.cs).
[assembly: InternalsVisibleTo("Krait.Tests")]
