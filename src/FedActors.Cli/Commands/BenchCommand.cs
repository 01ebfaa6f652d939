using System.CommandLine;

namespace FedActors.Cli.Commands;

public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks");
        return command;
    }
}
