using FedActors.Core.Simulation;
using FedActors.Core.Training;
using FedActors.Core.Updates;

namespace FedActors.Core.Personalisation;

/// <summary>
/// Local (<c>local</c>): no federation, PFLlib's <c>serverlocal.py</c>. Every client keeps and trains its own copy of the
/// initial model and is evaluated on it; nothing it learns leaves it. It still answers each round with a zero update, so
/// the round bookkeeping (dropout, deadline) is the same as for every other method, and the global model never moves.
/// </summary>
public sealed class LocalMethod : IPersonalisation, IBatchableClient
{
    public const string ModelPart = "model";
    public string Name => "local";
    public bool SharesWholeModel => true;
    public bool Federates => false;

    public ParameterVector InitialGlobal(Experiment experiment) => experiment.InitialWeights();
    public PersonalState Initial(Experiment experiment, int clientId) => PersonalState.Empty;

    /// <summary>The first global model (the shared initial model) becomes the client's own; later ones are ignored.</summary>
    public PersonalState Receive(PersonalContext c, PersonalState state) =>
        state.Get(ModelPart) is null ? state.With(ModelPart, (float[])c.Global.Values.Clone()) : state;

    public EvalOutcome Evaluate(PersonalContext c, PersonalState state) =>
        Evaluator.Evaluate(c.Model, new ParameterVector(state.Require(ModelPart)), c.Data, c.TestIndices);

    public PersonalTrainResult Train(PersonalContext c, PersonalState state) => IBatchableClient.TrainAlone(this, c, state);

    public ParameterVector TrainingStart(PersonalContext c, PersonalState state) => new(state.Require(ModelPart));

    public PersonalTrainResult AfterTraining(PersonalContext c, PersonalState state, ParameterVector start, TrainOutcome trained) =>
        new(trained with { Delta = new ParameterVector(new float[c.Global.Length]) }, state.With(ModelPart, start.Add(trained.Delta).Values));
}
