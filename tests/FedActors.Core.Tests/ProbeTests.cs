public class ProbeTests { [Xunit.Fact] public void Torch_loads() => Xunit.Assert.Equal(3f, FedActors.Core.Probe.Run()); }
