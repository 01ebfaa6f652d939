namespace FedActors.Cli.Commands;

public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    /// <summary>Invalid input (config, data, arguments): nothing was started and nothing written.</summary>
    public const int InvalidInput = 2;
    /// <summary>Stopped by SIGINT/SIGTERM: what was done is written (summary marked interrupted) and can be resumed.</summary>
    public const int Interrupted = 130;
}
