using System.CommandLine;
using FedActors.Cli.Commands;

// The only composition root: each verb builds what it needs from its options.
var root = new RootCommand("FedActors: a federated-learning simulator on Akka.NET and TorchSharp.")
{
    RunCommand.Create(),
    NodeCommand.Create(),
    MatrixCommand.Create(),
    BenchCommand.Create(),
    CompareCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
