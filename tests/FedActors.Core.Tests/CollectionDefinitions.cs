using Xunit;

namespace FedActors.Core.Tests;

/// <summary>Torch tests share the native library's thread-local state: run them one at a time.</summary>
[CollectionDefinition("Torch", DisableParallelization = true)]
public sealed class TorchCollection;
