namespace FedActors.Runtime.Monitoring;

/// <summary>Whether a Seq server answers, asked once at a run's start so an unreachable one is said, not silent.</summary>
public static class SeqProbe
{
    /// <returns>Null when Seq answered; otherwise why not.</returns>
    public static async Task<string?> ProblemAsync(string url, TimeSpan timeout)
    {
        try
        {
            using var http = new HttpClient { Timeout = timeout };
            using var response = await http.GetAsync(new Uri(new Uri(url), "api"));
            return null; // any HTTP answer: a server is there (a wrong API key shows as rejected events, which Seq reports)
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            return e is TaskCanceledException ? $"no answer within {timeout.TotalSeconds:0} s" : e.GetBaseException().Message;
        }
    }
}
