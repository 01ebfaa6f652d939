using FedActors.Runtime.State;

namespace FedActors.TestSupport;

/// <summary>A throwaway PostgreSQL server (<see cref="LocalPostgresServer"/>) as an xunit class fixture.</summary>
public sealed class PostgresServer : IDisposable
{
    private readonly LocalPostgresServer _server = new();

    public int Port => _server.Port;

    public string ConnectionString => _server.ConnectionString;

    public void Dispose() => _server.Dispose();
}
