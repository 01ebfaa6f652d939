using FedActors.Core.Config;
using FedActors.Core.Models;

namespace FedActors.Core.Training;

/// <summary>
/// How a run trains its clients (<c>fedactors.device.batch-clients</c>, issue #9): <see cref="Size"/> clients in one
/// batched call (<see cref="BatchedTrainer"/>, the GPU path), or one at a time (<see cref="LocalTrainer"/>). A run that
/// asks for batches it cannot have trains one at a time and says why (<see cref="Refused"/>, in the run's summary).
/// </summary>
/// <remarks>Batched updates equal sequential ones to float tolerance, not bit for bit, so the size is a setting that
/// changes results (slightly); on the CPU runs with the same size give the same bits whatever the order tasks arrive in,
/// because a batched call's result for a client does not depend on who shares the call (<see cref="BatchedTrainer"/>;
/// tested). On a GPU that holds only where its kernels are deterministic (cuDNN may pick non-deterministic convolution
/// algorithms): not yet measured.
/// Data-poisoning clients train on poisoned batches one at a time inside a batched run. Personalised clients batch when
/// their method trains by plain local SGD from a vector of their own (<see cref="Personalisation.IBatchableClient"/>: Local
/// and FedALA); DBE (its own forward pass and regulariser), GPFL and FedCP (modules trained with the model) do not.</remarks>
public sealed record ClientBatching(int Size, int Asked, string? Refused)
{
    public static readonly ClientBatching OneAtATime = new(1, 1, null);

    public bool Batched => Size > 1;

    public static ClientBatching Decide(ExperimentSettings s, SplitModel model)
    {
        int asked = s.Device.BatchClients;
        if (asked <= 1) return OneAtATime;
        if (s.PersonalisationOrNone.Enabled && s.CreatePersonalisation() is not Personalisation.IBatchableClient)
            return new(1, asked, $"personalization.method = {s.PersonalisationOrNone.Method} trains with steps of its own, not plain local SGD, one client at a time");
        if (BatchedTrainer.WhyNot(model) is { } why) return new(1, asked, why);
        return new(asked, asked, null);
    }

    /// <summary>
    /// Which clients share a call: the clients with the most local steps first, <see cref="Size"/> a call (ties in the
    /// order given). A call takes as many steps as its largest client, and every place computes each of them (the idle
    /// places of clients whose batches ran out included), so calls of clients with like step counts waste least: with
    /// cross-device clients' skewed sizes, calls in arrival order leave about half their places idle
    /// (<c>fedactors bench device</c>'s busy share). No client's update changes: a batched call's result for a client does
    /// not depend on who shares it (<see cref="BatchedTrainer"/>).
    /// </summary>
    public IEnumerable<T[]> Calls<T>(IEnumerable<T> clients, Func<T, int> steps) =>
        clients.OrderByDescending(steps).Chunk(Size); // OrderBy is stable: ties keep their order

    /// <summary>
    /// The next call from a queue that keeps filling (a worker's): the <see cref="Size"/> queued clients that leave the
    /// fewest places idle, a run of neighbours in step order (the most steps on a tie of busy share). Taking the clients
    /// with the most steps instead would, as new tasks keep arriving, put each new large client with the backlog's small
    /// ones. Clients left behind go in a later call; the round's last calls take what remains.
    /// </summary>
    public T[] Fullest<T>(IReadOnlyCollection<T> queued, Func<T, int> steps)
    {
        var sorted = queued.OrderByDescending(steps).ToArray(); // stable: ties keep their order
        if (sorted.Length <= Size) return sorted;
        var s = sorted.Select(steps).ToArray();
        double Share(int from, long sum) => s[from] == 0 ? 1 : sum / ((double)Size * s[from]);
        long window = s.Take(Size).Sum(x => (long)x);
        int best = 0;
        double bestShare = Share(0, window);
        for (int i = 1; i + Size <= s.Length; i++)
        {
            window += s[i + Size - 1] - s[i - 1];
            if (Share(i, window) > bestShare) (best, bestShare) = (i, Share(i, window));
        }
        return sorted[best..(best + Size)];
    }

    /// <summary>The share of a call's places (clients × the call's steps, the largest client's) that train a client.</summary>
    public static double BusyShare(IReadOnlyCollection<int> steps) => steps.Count == 0 || steps.Max() == 0 ? 1 : steps.Sum() / ((double)steps.Count * steps.Max());

    /// <summary>The <paramref name="i"/>-th of <paramref name="n"/> clients' share of a batched call's
    /// <paramref name="total"/> time: the shares differ by at most 1 and add up to the total.</summary>
    public static long Share(long total, int n, int i) => total / n + (i < total % n ? 1 : 0);

    public override string ToString() => Batched ? $"batched, {Size} clients a call"
        : Refused is null ? "one client at a time" : $"one client at a time (batch-clients = {Asked} refused: {Refused})";
}
