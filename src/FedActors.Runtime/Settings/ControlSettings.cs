using System.Globalization;
using System.Net;
using Akka.Configuration;

namespace FedActors.Runtime.Settings;

/// <summary><c>fedactors.control</c>: where a run's control API listens (see reference.conf).</summary>
public sealed record ControlSettings(bool Enabled, string Host, int Port, string Token)
{
    public static ControlSettings Read(Config c)
    {
        const string at = "fedactors.control";
        bool enabled;
        try { enabled = c.GetBoolean($"{at}.enabled"); }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidCastException)
        {
            throw new ConfigurationError($"{at}.enabled", $"\"{c.GetString($"{at}.enabled")}\"", "on or off");
        }
        var host = c.GetString($"{at}.host") ?? "";
        if (!IPAddress.TryParse(host, out _))
            throw new ConfigurationError($"{at}.host", $"\"{host}\"", "an IP address to listen on, e.g. 127.0.0.1");
        var portText = c.GetString($"{at}.port") ?? "";
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
            throw new ConfigurationError($"{at}.port", $"\"{portText}\"", "a TCP port in 0–65535 (0 = any free one)");
        return new ControlSettings(enabled, host, port, c.GetString($"{at}.token") ?? "");
    }
}
