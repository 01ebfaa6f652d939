using FedActors.Core.Personalisation;
using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;
using FedActors.TestSupport;

namespace FedActors.Core.Tests.Personalisation;

/// <summary>A small hard non-IID experiment (4 clients, MLP on 8×8 inputs, 10 classes) and one worker slot, for
/// calling a method's client half directly.</summary>
public abstract class PersonalMethodFixture : IDisposable
{
    protected const int C = 10;
    protected readonly Experiment E = TestPersonalisation.Load(TestPersonalisation.NonIid(clients: 4));
    protected readonly WorkerSlot Slot;

    protected PersonalMethodFixture() => Slot = new WorkerSlot(0, E.CreateModel());

    public void Dispose()
    {
        Slot.Model.Dispose();
        E.Dispose();
        GC.SuppressFinalize(this);
    }

    protected int Body => (int)Slot.Model.BodyParameterCount;
    protected int Model => (int)Slot.Model.ParameterCount;
    protected int D => Personal.FeatureSize(Slot.Model);
    protected PersonalContext Context(ParameterVector global, int round, int client = 1) => new(E, Slot, client, round, global, null);
}
