using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace FedActors.Runtime.State;

/// <summary>
/// A throwaway PostgreSQL server for tests and <c>bench cluster</c>: <c>initdb</c> in a fresh temporary folder, <c>pg_ctl start</c> on a free
/// loopback port (no other address), trust authentication for the one local user, and <c>pg_ctl stop</c> plus the
/// folder's removal on dispose. Both tools refuse to run as root, so as root (CI) they run as <c>nobody</c> through
/// <c>runuser</c>. The binaries come from Debian's <c>postgresql</c> package, which <c>./run.sh test</c> and
/// <c>./run.sh bench cluster</c> install.
/// </summary>
public sealed class LocalPostgresServer : IDisposable
{
    private readonly string _dir;
    private readonly string _bin;
    private readonly bool _asNobody;

    public LocalPostgresServer()
    {
        _bin = FindBin() ?? throw new InvalidOperationException(
            "PostgreSQL's initdb/pg_ctl were not found under /usr/lib/postgresql (Debian package postgresql; ./run.sh test and ./run.sh bench cluster install it)");
        _asNobody = Environment.UserName == "root";
        _dir = Directory.CreateTempSubdirectory("fedactors-pg-").FullName;
        if (_asNobody) Run("chown", "nobody:nogroup", _dir);
        Port = FreePort();
        Pg("initdb", "-D", Path.Combine(_dir, "data"), "-U", "fedactors", "--auth=trust", "-E", "UTF8", "--no-sync");
        Pg("pg_ctl", "-D", Path.Combine(_dir, "data"), "-l", Path.Combine(_dir, "log"), "-w", "-t", "60",
            "-o", $"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start");
    }

    public int Port { get; }

    /// <summary>A connection string for database <c>postgres</c> as user <c>fedactors</c>.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Database=postgres;Username=fedactors";

    private static string? FindBin()
    {
        if (Directory.Exists("/usr/lib/postgresql"))
            foreach (var v in Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d))
                if (File.Exists(Path.Combine(v, "bin", "pg_ctl"))) return Path.Combine(v, "bin");
        return null;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private void Pg(string tool, params string[] args) =>
        Run(_asNobody ? "runuser" : Path.Combine(_bin, tool), _asNobody ? ["-u", "nobody", "--", Path.Combine(_bin, tool), .. args] : args);

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/tmp" };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2))) { p.Kill(true); throw new TimeoutException($"{file} did not finish"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {output.Result}{error.Result}");
    }

    public void Dispose()
    {
        try { Pg("pg_ctl", "-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop"); }
        finally { try { Directory.Delete(_dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { } }
    }
}
