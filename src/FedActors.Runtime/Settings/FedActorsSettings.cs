using System.Globalization;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using FedActors.Core.Aggregation;
using FedActors.Core.Attacks;
using FedActors.Core.Config;
using FedActors.Core.Personalisation;
using FedActors.Core.Data;
using FedActors.Core.Data.Partitioners;
using FedActors.Core.Models;
using FedActors.Core.Training;

namespace FedActors.Runtime.Settings;

/// <summary>
/// Reads an experiment: the user's HOCON file, then <c>--set key=value</c> overrides on top, then the embedded
/// <c>reference.conf</c> underneath. Every key under <c>fedactors</c> is read with its type and range checked, and a
/// key the reference does not know is an error with a closest-match hint. Nothing here starts any work.
/// </summary>
public static class FedActorsSettings
{
    private static readonly Lazy<Config> ReferenceConfig = new(() =>
    {
        using var stream = typeof(FedActorsSettings).Assembly.GetManifestResourceStream("FedActors.Runtime.reference.conf")
            ?? throw new InvalidOperationException("reference.conf is not embedded");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    });

    /// <summary>The embedded defaults.</summary>
    public static Config Reference => ReferenceConfig.Value;

    /// <summary>Parses the file and overrides into the effective configuration (reference as fallback).</summary>
    public static Config Load(string? path, IEnumerable<string>? overrides = null)
    {
        Config user = ConfigurationFactory.Empty;
        if (path is not null)
        {
            user = ParseFile(path, depth: 0);
        }
        foreach (var o in overrides ?? [])
        {
            int eq = o.IndexOf('=');
            if (eq <= 0) throw new ConfigurationError("--set", o, "key=value");
            string key = o[..eq].Trim(), value = o[(eq + 1)..].Trim();
            if (value.StartsWith('=') || value.StartsWith(':')) throw new ConfigurationError("--set", o, "key=value with one separator");
            Config single;
            try { single = ConfigurationFactory.ParseString($"{key} = {value}"); }
            catch (Exception) { single = ConfigurationFactory.ParseString($"{key} = \"{value.Replace("\\", "\\\\").Replace("\"", "\\\"")}\""); }
            user = single.WithFallback(user);
        }
        CheckKnownKeys(user);
        return user.WithFallback(Reference);
    }

    /// <summary>Parses an experiment file. Top-level <c>include "other.conf"</c> lines (relative to the file) are honoured:
    /// the included file is the fallback of the including one.</summary>
    private static Config ParseFile(string path, int depth)
    {
        if (!File.Exists(path)) throw new ConfigurationError(path, null, "an existing HOCON experiment file");
        if (depth > 8) throw new ConfigurationError(path, null, "at most 8 levels of include");
        var included = new List<Config>();
        var body = new System.Text.StringBuilder();
        foreach (var line in File.ReadAllLines(path))
        {
            var m = System.Text.RegularExpressions.Regex.Match(line, "^\\s*include\\s+\"([^\"]+)\"\\s*$");
            if (m.Success) included.Add(ParseFile(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, m.Groups[1].Value), depth + 1));
            else body.AppendLine(line);
        }
        HoconSyntax.Check(body.ToString(), path);
        var config = Parse(body.ToString(), path);
        foreach (var inc in included) config = config.WithFallback(inc);
        return config;
    }

    /// <summary>Parses HOCON text; a syntax error names the file.</summary>
    public static Config Parse(string text, string source)
    {
        try { return ConfigurationFactory.ParseString(text); }
        catch (Exception e) { throw new ConfigurationError(source, null, "valid HOCON", e.Message); }
    }

    /// <summary>Every leaf under the user's <c>fedactors</c> object must exist in the reference.</summary>
    public static void CheckKnownKeys(Config user)
    {
        if (user.IsEmpty || !user.HasPath("fedactors")) return;
        var known = LeafPaths(Reference.GetValue("fedactors"), "fedactors").ToHashSet();
        var knownObjects = ObjectPaths(Reference.GetValue("fedactors"), "fedactors").ToHashSet();
        foreach (var path in LeafPaths(user.GetValue("fedactors"), "fedactors"))
        {
            if (known.Contains(path)) continue;
            if (knownObjects.Contains(path)) throw new ConfigurationError(path, "a value", "an object with keys of its own");
            var nearest = known.MinBy(k => Levenshtein(k, path));
            throw new ConfigurationError(path, null, "a known key", $"unknown key; did you mean {nearest}?");
        }
    }

    private static IEnumerable<string> LeafPaths(HoconValue value, string prefix)
    {
        if (!value.IsObject()) { yield return prefix; yield break; }
        foreach (var (key, child) in value.GetObject().Items)
            foreach (var p in LeafPaths(child, $"{prefix}.{key}")) yield return p;
    }

    private static IEnumerable<string> ObjectPaths(HoconValue value, string prefix)
    {
        if (!value.IsObject()) yield break;
        yield return prefix;
        foreach (var (key, child) in value.GetObject().Items)
            foreach (var p in ObjectPaths(child, $"{prefix}.{key}")) yield return p;
    }

    private static int Levenshtein(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    /// <summary><c>fedactors.device.kind</c>: cpu, or cuda / cuda:N where this TorchSharp finds a CUDA libtorch (a bundle with
    /// the node's own PyTorch: deploy/bundle.sh --libtorch host). On a CUDA device the clients train and evaluate there, and
    /// so do the server's own steps on a worker (the root update, SkyMask's masks): every tensor they make is made where the
    /// worker's model is (TensorPlacementTests checks each method, attack and rule that makes tensors of its own).</summary>
    private static void ValidateDevice(ExperimentSettings s) => ParseDevice(s.Device.Device, "fedactors.device.kind", $"\"{s.Device.Device}\"");

    private static bool IsDeviceName(string kind) => kind == "cpu" || kind == "cuda"
        || (kind.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(kind[5..], NumberStyles.None, CultureInfo.InvariantCulture, out _));

    /// <summary>The torch device a name (cpu, cuda or cuda:N) stands for, checked against what this TorchSharp finds: CUDA
    /// only with a CUDA libtorch and a device of that index. <paramref name="key"/> names the setting or option in the error.</summary>
    public static TorchSharp.torch.Device ParseDevice(string kind, string key, string? shown = null)
    {
        shown ??= kind;
        if (!IsDeviceName(kind)) throw new ConfigurationError(key, shown, "cpu, cuda or cuda:N");
        if (kind == "cpu") return TorchSharp.torch.CPU;
        if (!TorchSharp.torch.cuda.is_available())
            throw new ConfigurationError(key, shown, "a CUDA device this TorchSharp can use",
                "none found: this build's libtorch is the CPU one (NuGet TorchSharp-cpu). On a GPU node: deploy/bundle.sh --libtorch host, which loads the node's own PyTorch libtorch (CUDA)");
        var parsed = TorchSharp.torch.device(kind);
        if (parsed.index >= TorchSharp.torch.cuda.device_count())
            throw new ConfigurationError(key, shown, $"a device index below {TorchSharp.torch.cuda.device_count()}");
        return parsed;
    }

    /// <summary>Reads and validates the typed experiment settings from an effective configuration.</summary>
    public static ExperimentSettings Read(Config c)
    {
        var r = new Reader(c);
        var settings = new ExperimentSettings(
            Name: r.Name("fedactors.name"),
            Seed: r.Long("fedactors.seed"),
            Rounds: r.Int("fedactors.rounds", 1, 1_000_000),
            Data: new DataSettings(
                Dataset: r.OneOf("fedactors.data.dataset", ["fashion-mnist", "synthetic"]),
                Directory: r.String("fedactors.data.directory"),
                Pool: r.OneOf("fedactors.data.pool", ["train+test", "train"]),
                Limit: r.Int("fedactors.data.limit", 0, int.MaxValue),
                SyntheticSamples: r.Int("fedactors.data.synthetic-samples", 1, 10_000_000),
                Evaluation: r.OneOf("fedactors.data.evaluation", ["clients", "held-out"]),
                Partition: new PartitionOptions(
                    Kind: r.OneOf("fedactors.data.partition.kind", PartitionerRegistry.Names),
                    Alpha: r.Double("fedactors.data.partition.alpha", 0, double.MaxValue, minExclusive: true),
                    ClassesPerClient: r.Int("fedactors.data.partition.classes-per-client", 1, 1000),
                    Balanced: r.Bool("fedactors.data.partition.balanced"),
                    MinSamples: r.Int("fedactors.data.partition.min-samples", 0, int.MaxValue),
                    TrainFraction: r.Double("fedactors.data.partition.train-fraction", 0, 1, minExclusive: true),
                    Bias: r.Double("fedactors.data.partition.bias", 0, 1),
                    Path: r.String("fedactors.data.partition.path"),
                    SamplesMean: r.Double("fedactors.data.partition.samples-mean", 1, 1_000_000),
                    SamplesSigma: r.Double("fedactors.data.partition.samples-sigma", 0, 5))),
            Model: r.OneOf("fedactors.model.kind", ModelRegistry.Names),
            Train: new TrainOptions(
                Epochs: r.Int("fedactors.train.epochs", 1, 10_000),
                BatchSize: r.Int("fedactors.train.batch-size", 1, 1_000_000),
                LearningRate: r.Double("fedactors.train.learning-rate", 0, 1000, minExclusive: true),
                Momentum: r.Double("fedactors.train.momentum", 0, 0.9999999),
                WeightDecay: r.Double("fedactors.train.weight-decay", 0, 1000),
                DropLast: r.Bool("fedactors.train.drop-last"),
                GradientClamp: r.Double("fedactors.train.gradient-clamp", 0, double.MaxValue)),
            Clients: new PopulationSettings(
                Count: r.Int("fedactors.clients.count", 1, 100_000_000),
                Fraction: r.Double("fedactors.clients.fraction", 0, 1, minExclusive: true),
                PerRound: r.Int("fedactors.clients.per-round", 0, int.MaxValue),
                Dropout: new DropoutSettings(
                    r.Double("fedactors.clients.dropout.probability", 0, 1),
                    r.Double("fedactors.clients.dropout.flaky-fraction", 0, 1),
                    r.Double("fedactors.clients.dropout.flaky-probability", 0, 1)),
                Speed: new SpeedSettings(
                    r.Double("fedactors.clients.speed.samples-per-second", 0, double.MaxValue, minExclusive: true),
                    r.Double("fedactors.clients.speed.sigma", 0, 10),
                    r.Double("fedactors.clients.speed.link-seconds", 0, double.MaxValue))),
            Round: new RoundSettings(
                DeadlineSeconds: r.Double("fedactors.round.deadline-seconds", 0, double.MaxValue),
                Timeout: r.Duration("fedactors.round.timeout"),
                EvaluateEvery: r.Int("fedactors.round.evaluate-every", 1, int.MaxValue),
                MaxInFlight: r.Int("fedactors.round.max-in-flight", 1, 1_000_000),
                Health: new Core.Simulation.HealthSettings(
                    MaxRejectedFraction: r.Double("fedactors.round.health.max-rejected-fraction", 0, 1),
                    OnFailure: r.OneOf("fedactors.round.health.on-failure", Core.Simulation.HealthSettings.Actions))),
            Rule: r.OneOf("fedactors.defence.rule", AggregationRegistry.Names),
            Device: new DeviceSettings(
                Device: r.String("fedactors.device.kind"),
                Workers: r.Int("fedactors.device.workers", 0, 1024),
                ThreadsPerWorker: r.Int("fedactors.device.threads-per-worker", 1, 1024),
                BatchClients: r.Int("fedactors.device.batch-clients", 1, 4096),
                BatchWait: r.Duration("fedactors.device.batch-wait")));
        settings = settings with
        {
            Server = new ServerSettings(
                r.Double("fedactors.server.learning-rate", 0, 1000, minExclusive: true),
                r.Int("fedactors.server.root-samples", 0, 1_000_000),
                r.Double("fedactors.server.root-bias", 0, 1),
                r.Int("fedactors.server.root-bias-class", 0, 1_000_000)),
        };
        settings = settings with { RuleOptions = new HoconOptionReader(c, $"fedactors.defence.{settings.Rule}"), Attack = ReadAttack(c, r, settings.Clients.Count) };
        settings = settings with { Personalisation = ReadPersonalisation(c, r, settings) };
        settings = settings with { Faults = ReadFaults(c, settings) };
        ValidateRule(settings);
        Validate(settings);
        ValidateDevice(settings);
        if (int.TryParse(c.GetString("fedactors.state.max-active-entities"), out int cap) && cap > 0 && cap < settings.Clients.SampledPerRound)
            throw new ConfigurationError("fedactors.state.max-active-entities", cap.ToString(CultureInfo.InvariantCulture),
                $"0 or at least the clients per round ({settings.Clients.SampledPerRound}): a round's clients must be resident together");
        if (settings.PersonalisationOrNone.Enabled && settings.Round.HealthOrDefault.OnFailure == Core.Simulation.HealthSettings.KeepLastGood)
            throw new ConfigurationError("fedactors.round.health.on-failure", "\"keep-last-good\"", "stop with a personalisation method",
                "its clients take the new global model into their personal state while they are evaluated; a discarded round would leave that in them");
        return settings;
    }

    /// <summary><c>fedactors.faults</c>: each object becomes a <see cref="Core.Faults.Fault"/>, checked against the run; a bad
    /// one is named by its index and field (<c>fedactors.faults[2].fraction</c>).</summary>
    private static IReadOnlyList<Core.Faults.Fault> ReadFaults(Config c, ExperimentSettings s)
    {
        const string key = "fedactors.faults";
        var value = c.GetValue(key);
        if (value is null || value.IsEmpty || (!value.IsArray() && value.GetString() is null or "")) return []; // [] reads as an empty value
        if (!value.IsArray()) throw new ConfigurationError(key, $"\"{value.GetString()}\"", "a list of fault objects, e.g. [ { kind = \"drop\", round = 3 } ]");
        var faults = new List<Core.Faults.Fault>();
        var items = value.GetArray();
        for (int i = 0; i < items.Count; i++)
        {
            var at = $"{key}[{i}]";
            if (!items[i].IsObject()) throw new ConfigurationError(at, $"\"{items[i].GetString()}\"", "an object such as { kind = \"drop\", round = 3 }");
            var json = new System.Text.Json.Nodes.JsonObject();
            foreach (var (field, v) in items[i].GetObject().Items)
            {
                if (!Core.Faults.Fault.FieldNames.Contains(field))
                    throw new ConfigurationError($"{at}.{field}", null, "a fault field: " + string.Join(", ", Core.Faults.Fault.FieldNames));
                var text = v.GetString();
                if (field is "round" or "rounds")
                {
                    if (!int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int n))
                        throw new ConfigurationError($"{at}.{field}", $"\"{text}\"", "an integer");
                    json[field] = n;
                }
                else if (field is "fraction" or "seconds" or "factor")
                {
                    if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
                        throw new ConfigurationError($"{at}.{field}", $"\"{text}\"", "a finite number");
                    json[field] = d;
                }
                else json[field] = text;
            }
            try
            {
                if (!json.ContainsKey("kind")) throw new Core.Faults.FaultError("kind", "(missing)", "one of " + string.Join(", ", Core.Faults.FaultKinds.All));
                if (!json.ContainsKey("round")) throw new Core.Faults.FaultError("round", "(missing)", $"the round it takes effect in, 1–{s.Rounds}");
                var fault = Core.Faults.Fault.FromJson(json.ToJsonString());
                fault.Validate(s.Rounds, s.Clients.Count, scripted: true);
                if (fault.Kind == Core.Faults.FaultKinds.PartitionNode && !c.GetBoolean("fedactors.cluster.fault-injection"))
                    throw new Core.Faults.FaultError("kind", fault.Kind, "a fault the run can carry out: partition-node needs fedactors.cluster.fault-injection = on");
                faults.Add(fault);
            }
            catch (Core.Faults.FaultError e) { throw new ConfigurationError($"{at}.{e.Field}", e.Value, e.Expected); }
        }
        return faults;
    }

    private static PersonalisationSettings ReadPersonalisation(Config c, Reader r, ExperimentSettings s)
    {
        const string key = "fedactors.personalization.method";
        var method = r.OneOf(key, PersonalisationRegistry.Names);
        const string evaluateKey = "fedactors.personalization.evaluate-clients";
        int evaluateClients;
        if (c.GetString(evaluateKey) == "auto") evaluateClients = PersonalisationSettings.AutoEvaluateClients(s.Clients.Count);
        else
        {
            try { evaluateClients = r.Int(evaluateKey, 0, s.Clients.Count); }
            catch (ConfigurationError e) { throw new ConfigurationError(evaluateKey, e.Value, $"auto or an integer in [0, {s.Clients.Count}] (0 = every client)"); }
        }
        var p = new PersonalisationSettings(method, new HoconOptionReader(c, $"fedactors.personalization.{method}"), evaluateClients,
            r.OneOf("fedactors.personalization.evaluate", PersonalisationSettings.EvaluateModes));
        // Every method's section is read and checked now, so a bad value fails up front even for a method not chosen.
        foreach (var name in PersonalisationRegistry.Names.Where(n => n != PersonalisationRegistry.None))
            PersonalisationRegistry.Create(name, new HoconOptionReader(c, $"fedactors.personalization.{name}"));
        if (!p.Enabled) return p;
        var created = PersonalisationRegistry.Create(method, p.Options!)!;
        if (s.Attack is { Enabled: true } attack)
        {
            if (!created.Federates)
                throw new ConfigurationError(key, $"\"{method}\"", "a method that federates while fedactors.attack.kind is set: its clients share nothing an attack could poison");
            if (attack.Pill is { Enabled: true } && !created.SharesWholeModel)
                throw new ConfigurationError("fedactors.attack.pill.enabled", "on", $"off with {method}: the Pill's coordinates are the model's layers, and {method}'s shared vector is not the model");
        }
        // after the method's own refusals, which give the real reason where both apply (Local with an attack on every client)
        if (Core.Simulation.ClientEvaluation.Excluded(s with { Personalisation = p }).Count >= s.Clients.Count)
            throw new ConfigurationError("fedactors.personalization.evaluate", $"\"{p.Evaluate}\"",
                "all, or an attack that leaves some client benign: every client is malicious, so no personal model would be evaluated");
        if (s.CreateRule().NeedsRootUpdate)
            throw new ConfigurationError(key, $"\"{method}\"", $"none with the {s.Rule} rule: its root update trains the global model, which a personalised method's shared vector is not");
        if (!created.SharesWholeModel && s.Rule == "skymask")
            throw new ConfigurationError(key, $"\"{method}\"", "a method that shares the whole model (SkyMask masks the model's layers)");
        if (s.Data.Evaluation != "clients")
            throw new ConfigurationError("fedactors.data.evaluation", $"\"{s.Data.Evaluation}\"", "clients: personalised models are evaluated on each client's own test split");
        return p;
    }

    private static AttackSettings ReadAttack(Config c, Reader r, int population)
    {
        var kind = r.OneOf("fedactors.attack.kind", AttackRegistry.Names.Prepend("none"));
        int[] ids;
        try { ids = c.GetIntList("fedactors.attack.ids").ToArray(); }
        catch (Exception) { throw new ConfigurationError("fedactors.attack.ids", c.GetValue("fedactors.attack.ids")?.ToString() ?? "", "a list of client ids such as [0, 5, 7]"); }
        foreach (var id in ids)
            if (id < 0 || id >= population)
                throw new ConfigurationError("fedactors.attack.ids", id.ToString(CultureInfo.InvariantCulture), $"client ids in [0, {population})");
        var attack = new AttackSettings(kind,
            r.Double("fedactors.attack.fraction", 0, 1),
            ids,
            r.Int("fedactors.attack.start-round", 1, int.MaxValue),
            r.OneOf("fedactors.attack.knowledge", ["colluders", "benign", "all"]),
            kind == "none" ? null : new HoconOptionReader(c, $"fedactors.attack.{kind}"),
            new PillOptions(
                r.Bool("fedactors.attack.pill.enabled"),
                r.Int("fedactors.attack.pill.classifier-neurons", 1, 100_000),
                r.OneOf("fedactors.attack.pill.search", ["max", "min"]),
                r.OneOf("fedactors.attack.pill.disconnection", ["zero-weight", "zero-update", "off"]),
                r.OneOf("fedactors.attack.pill.sim-adjust", ["min", "mean", "off"]),
                r.OneOf("fedactors.attack.pill.dist-adjust", ["norm", "match", "off"]),
                r.OneOf("fedactors.attack.pill.reference", ["mean", "extra-trained"]),
                r.Int("fedactors.attack.pill.extra-epochs", 0, 100_000),
                r.OneOf("fedactors.attack.pill.feature-pattern", ["repeated", "one-time", "adaptive"]),
                r.OneOf("fedactors.attack.pill.classifier-pattern", ["repeated", "one-time", "adaptive"]),
                r.Int("fedactors.attack.pill.adaptive-period", 1, 100_000),
                r.OneOf("fedactors.attack.pill.budget", ["pill-only", "concentrated"])));
        if (attack.Pill!.Enabled && (kind == "none" || AttackRegistry.Create(kind, attack.Options!).Model is null))
            throw new ConfigurationError("fedactors.attack.pill.enabled", "on", $"a model-poisoning attack to wrap (fedactors.attack.kind = {kind})");
        if (attack.Enabled) AttackRegistry.Create(kind, attack.Options!); // reads and checks its options now
        return attack;
    }

    /// <summary>Builds the rule once, so its options are read and checked, and checks its precondition against the
    /// clients per round (dropouts can still shrink a round below it; the coordinator then keeps the model).</summary>
    private static void ValidateRule(ExperimentSettings s)
    {
        var rule = s.CreateRule();
        if (rule.NeedsRootUpdate && s.ServerOrDefault.RootSamples == 0)
            throw new ConfigurationError("fedactors.server.root-samples", "0", $"at least 1: the {s.Rule} rule trains on the server's root set");
        try { rule.Validate(s.Clients.SampledPerRound); }
        catch (RulePreconditionException e)
        {
            throw new ConfigurationError($"fedactors.defence.{s.Rule}", null, $"options that fit {s.Clients.SampledPerRound} clients per round", e.Message);
        }
    }

    /// <summary>Checks that involve more than one key, or the file system.</summary>
    private static void Validate(ExperimentSettings s)
    {
        var clients = s.Clients;
        if (clients.PerRound > clients.Count)
            throw new ConfigurationError("fedactors.clients.per-round", clients.PerRound.ToString(CultureInfo.InvariantCulture),
                $"at most fedactors.clients.count = {clients.Count} (cannot sample more clients than exist)");
        if (s.Data.Dataset == "fashion-mnist")
        {
            var files = s.Data.Pool == "train" ? FashionMnist.Files.Take(2) : FashionMnist.Files;
            foreach (var f in files)
            {
                var full = Path.Combine(s.Data.Directory, f);
                if (!File.Exists(full))
                    throw new ConfigurationError("fedactors.data.directory", $"\"{s.Data.Directory}\"",
                        $"a folder holding {f}", $"{full} is missing; install Debian's dataset-fashion-mnist or point the key at the IDX files");
            }
        }
        if (s.Data.Partition.Kind == "cross-device")
        {
            long bytes = Core.Data.Partitioners.CrossDevicePartitioner.EstimatedBytes(clients.Count, s.Data.Partition.SamplesMean);
            long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            if (bytes > available / 2)
                throw new ConfigurationError("fedactors.clients.count", clients.Count.ToString(CultureInfo.InvariantCulture),
                    "a population whose partition fits in memory",
                    $"{clients.Count} clients × {s.Data.Partition.SamplesMean} samples need about {bytes / 1048576.0:0} MB of partition, more than half of the {available / 1048576.0:0} MB this process may use");
        }
        if (s.Data.Partition.Kind == "file" && !File.Exists(s.Data.Partition.Path))
            throw new ConfigurationError("fedactors.data.partition.path", $"\"{s.Data.Partition.Path}\"", "an existing fedactors-partition/1 JSON file (kind = file)");
        if (s.Data.Partition.Kind == "pathological" && s.Data.Partition.ClassesPerClient > 10 && s.Data.Dataset == "fashion-mnist")
            throw new ConfigurationError("fedactors.data.partition.classes-per-client", s.Data.Partition.ClassesPerClient.ToString(CultureInfo.InvariantCulture), "at most 10, the classes of Fashion-MNIST");
    }

    /// <summary>Typed reads that name the key, the value and what was expected on failure.</summary>
    private sealed class Reader(Config c)
    {
        private string Raw(string path)
        {
            var v = c.GetValue(path);
            if (v is null || v.IsEmpty) throw new ConfigurationError(path, null, "a value");
            if (v.IsObject() || v.IsArray()) throw new ConfigurationError(path, "an object or list", "a single value");
            return v.GetString();
        }

        public string String(string path) => Raw(path);

        public string Name(string path)
        {
            var s = Raw(path);
            if (s.Length == 0 || s.Any(ch => !(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.')))
                throw new ConfigurationError(path, $"\"{s}\"", "a name of letters, digits, '-', '_' or '.'");
            return s;
        }

        public string OneOf(string path, IEnumerable<string> allowed)
        {
            var s = Raw(path);
            var list = allowed.ToArray();
            if (!list.Contains(s)) throw new ConfigurationError(path, $"\"{s}\"", $"one of {string.Join(", ", list)}");
            return s;
        }

        public long Long(string path)
        {
            var s = Raw(path);
            return long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
                ? v : throw new ConfigurationError(path, $"\"{s}\"", "an integer");
        }

        public int Int(string path, int min, int max)
        {
            var s = Raw(path);
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
                throw new ConfigurationError(path, $"\"{s}\"", $"an integer in [{min}, {max}]");
            if (v < min || v > max) throw new ConfigurationError(path, s, $"an integer in [{min}, {max}]");
            return v;
        }

        public double Double(string path, double min, double max, bool minExclusive = false)
        {
            var s = Raw(path);
            string range = $"a number in {(minExclusive ? "(" : "[")}{min.ToString(CultureInfo.InvariantCulture)}, {(max == double.MaxValue ? "∞)" : max.ToString(CultureInfo.InvariantCulture) + "]")}";
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                throw new ConfigurationError(path, $"\"{s}\"", range);
            if (v < min || v > max || (minExclusive && v == min)) throw new ConfigurationError(path, s, range);
            return v;
        }

        public bool Bool(string path)
        {
            var s = Raw(path);
            return s switch
            {
                "on" or "true" or "yes" => true,
                "off" or "false" or "no" => false,
                _ => throw new ConfigurationError(path, $"\"{s}\"", "on or off"),
            };
        }

        public TimeSpan Duration(string path)
        {
            var s = Raw(path);
            TimeSpan t;
            try { t = c.GetTimeSpan(path, null, allowInfinite: false); }
            catch (Exception) { throw new ConfigurationError(path, $"\"{s}\"", "a duration such as 30s or 2m"); }
            if (t <= TimeSpan.Zero) throw new ConfigurationError(path, s, "a positive duration");
            return t;
        }
    }
}
