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
    ControlCommands.Inject(),
    ControlCommands.Status(),
};
// SIGINT/SIGTERM cancel the verb's token; a run then finishes its reports (summary, plots) before it exits 130
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) });
