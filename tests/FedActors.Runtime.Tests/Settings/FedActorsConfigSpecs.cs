using FedActors.Core.Data;
using FedActors.Runtime.Settings;
using Xunit;

namespace FedActors.Runtime.Tests.Settings;

public class FedActorsConfigSpecs
{
    private static string WriteConf(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"fa-{Guid.NewGuid():N}.conf");
        File.WriteAllText(path, text);
        return path;
    }

    private static ConfigurationError Error(string hocon, params string[] overrides) =>
        Assert.Throws<ConfigurationError>(() => FedActorsSettings.Read(FedActorsSettings.Load(WriteConf(hocon), overrides)));

    [Fact]
    public void A_CUDA_device_kind_should_be_refused_with_the_reason_where_it_cannot_work()
    {
        // a kind that is none of cpu, cuda, cuda:N
        Assert.Contains("cpu, cuda or cuda:N", Error("fedactors.device.kind = \"gpu\"").Message);
        // anything else is accepted where this TorchSharp finds CUDA, else refused saying how to get it: the FedAvg family,
        // every personalisation method, SkyMask and the data-poisoning attacks (their tensors are made where the model is)
        string[] runs =
        [
            "fedactors.device.kind = \"cuda\"",
            .. Core.Personalisation.PersonalisationRegistry.Names.Select(m => $"fedactors {{ device.kind = \"cuda\", personalization.method = {m} }}"),
            "fedactors { device.kind = \"cuda:0\", defence.rule = skymask, server.root-samples = 100 }",
            "fedactors { device.kind = \"cuda\", attack.kind = label-flip }",
            "fedactors { device.kind = \"cuda\", attack.kind = scaling }",
        ];
        foreach (var conf in runs)
        {
            if (TorchSharp.torch.cuda.is_available())
                Assert.StartsWith("cuda", FedActorsSettings.Read(FedActorsSettings.Load(WriteConf(conf))).Device.Device);
            else
                Assert.Contains("deploy/bundle.sh --libtorch host", Error(conf).Message);
        }
    }

    [Fact]
    public void The_few_defaults_code_keeps_should_be_the_reference_defaults()
    {
        // reference.conf is the one home of defaults; where a record keeps a default for code that builds settings by
        // hand (tests, the bare loop), it must say the same
        var s = FedActorsSettings.Read(FedActorsSettings.Load(null));
        Assert.Equal(Core.Config.ServerSettings.Default, s.Server);
        Assert.Equal(Core.Simulation.HealthSettings.Default, s.Round.Health);
        Assert.Equal(new Core.Training.TrainOptions(s.Train.Epochs, s.Train.BatchSize, s.Train.LearningRate), s.Train);
    }

    [Theory]
    [InlineData(2000, 0)] // PFLlib's setting: everyone
    [InlineData(10000, 0)]
    [InlineData(100000, 10000)] // a cross-device population: a seeded sample
    public void Personalised_evaluation_should_take_every_client_up_to_ten_thousand_and_a_sample_beyond(int population, int expected)
    {
        var s = FedActorsSettings.Read(FedActorsSettings.Load(WriteConf("fedactors { personalization.method = fedala }"),
            [$"fedactors.clients.count={population}", "fedactors.data.partition.kind=cross-device"]));
        Assert.Equal(expected, s.Personalisation!.EvaluateClients);
        Assert.Equal(Math.Min(population, 10000), s.Personalisation.EvaluatedOf(population));
        var e = Error("fedactors { personalization.method = fedala, personalization.evaluate-clients = lots }");
        Assert.Equal(("fedactors.personalization.evaluate-clients", "auto or an integer in [0, 100] (0 = every client)"), (e.Key, e.Expected));
    }

    [Fact]
    public void Defaults_should_be_read_from_the_embedded_reference()
    {
        var s = FedActorsSettings.Read(FedActorsSettings.Load(null));
        Assert.Equal(42, s.Seed);
        Assert.Equal(10, s.Rounds);
        Assert.Equal("fashion-mnist", s.Data.Dataset);
        Assert.Equal("dirichlet", s.Data.Partition.Kind);
        Assert.Equal(0.5, s.Data.Partition.Alpha);
        Assert.Equal(0.75, s.Data.Partition.TrainFraction);
        Assert.Equal(100, s.Clients.Count);
        Assert.Equal(10, s.Clients.SampledPerRound);
        Assert.Equal(TimeSpan.FromSeconds(120), s.Round.Timeout);
        Assert.Equal("fedavg", s.Rule);
        var c = FedActorsSettings.Reference;
        Assert.Equal("ddata", c.GetString("akka.cluster.sharding.state-store-mode"));
        Assert.False(c.GetBoolean("akka.cluster.sharding.remember-entities"));
    }

    [Fact]
    public void The_fixed_keys_seed_and_rounds_should_be_honoured_from_file_and_overrides()
    {
        var s = FedActorsSettings.Read(FedActorsSettings.Load(WriteConf("fedactors { seed = 7, rounds = 3 }"), ["fedactors.rounds=5"]));
        Assert.Equal(7, s.Seed);
        Assert.Equal(5, s.Rounds);
    }

    [Fact]
    public void An_included_file_should_be_the_fallback_of_the_including_one()
    {
        var dir = Directory.CreateTempSubdirectory("fa-include-").FullName;
        File.WriteAllText(Path.Combine(dir, "base.conf"), "fedactors { seed = 7, rounds = 3 }");
        File.WriteAllText(Path.Combine(dir, "child.conf"), "include \"base.conf\"\nfedactors.rounds = 9");
        var s = FedActorsSettings.Read(FedActorsSettings.Load(Path.Combine(dir, "child.conf")));
        Assert.Equal((7L, 9), (s.Seed, s.Rounds));
        File.WriteAllText(Path.Combine(dir, "broken.conf"), "include \"nope.conf\"");
        Assert.EndsWith("nope.conf", Assert.Throws<ConfigurationError>(() => FedActorsSettings.Load(Path.Combine(dir, "broken.conf"))).Key);
    }

    [Fact]
    public void An_unknown_key_should_be_named_with_the_closest_known_one()
    {
        var e = Error("fedactors.train.learning-rat = 0.1");
        Assert.Equal("fedactors.train.learning-rat", e.Key);
        Assert.Contains("did you mean fedactors.train.learning-rate", e.Message);
    }

    [Fact]
    public void Keep_last_good_should_be_refused_with_a_personalisation_method()
    {
        var e = Error("fedactors.round.health.on-failure = keep-last-good\nfedactors.personalization.method = fedala");
        Assert.Equal("fedactors.round.health.on-failure", e.Key);
        Assert.Contains("stop with a personalisation method", e.Message);
    }

    [Fact]
    public void A_password_should_never_be_written_out_and_should_not_make_nodes_differ()
    {
        var withPassword = Support.NodeConfig("fedactors.state.connection = \"Host=db;Username=u;Password=s3cret;Database=fl\"");
        var other = Support.NodeConfig("fedactors.state.connection = \"Host=db2;Username=u;Database=fl\"");
        Assert.DoesNotContain("s3cret", HoconText.Render(withPassword, "fedactors"));
        Assert.Contains("Host=db;Username=u;Database=fl", HoconText.Render(withPassword, "fedactors"));
        Assert.Equal(HoconText.ExperimentHash(withPassword), HoconText.ExperimentHash(other));
        Assert.Equal("Host=db;Database=fl", HoconText.WithoutPassword("Host=db;PWD = x y;Database=fl"));
    }

    [Fact]
    public void Nodes_on_different_GPUs_of_one_machine_should_be_one_experiment_and_a_CPU_node_another()
    {
        // one clients node per GPU: cuda:0, cuda:1 (and plain cuda) are the same run; the CPU's rounding is not
        static string Hash(string kind) => HoconText.ExperimentHash(Support.NodeConfig($"fedactors.device.kind = \"{kind}\""));
        Assert.Equal(Hash("cuda"), Hash("cuda:0"));
        Assert.Equal(Hash("cuda:0"), Hash("cuda:1"));
        Assert.NotEqual(Hash("cpu"), Hash("cuda:1"));
        // existing CPU runs keep their identity (what a resumption and a shared database key them by)
        Assert.Contains(("fedactors.device.kind", "\"cpu\""), HoconText.ExperimentKeys(Support.NodeConfig()));
    }

    [Fact]
    public void An_unknown_key_given_with_set_should_be_an_error_too()
    {
        var e = Error("", "fedactors.clients.cnt=5");
        Assert.Equal("fedactors.clients.cnt", e.Key);
    }

    [Fact]
    public void A_value_of_the_wrong_type_should_name_the_key_the_value_and_the_type()
    {
        var e = Error("fedactors.rounds = ten");
        Assert.Equal("fedactors.rounds", e.Key);
        Assert.Contains("\"ten\"", e.Message);
        Assert.Contains("an integer", e.Message);
    }

    [Theory]
    [InlineData("fedactors.rounds = 0", "fedactors.rounds")]
    [InlineData("fedactors.clients.fraction = 1.5", "fedactors.clients.fraction")]
    [InlineData("fedactors.data.partition.alpha = 0", "fedactors.data.partition.alpha")]
    [InlineData("fedactors.clients.dropout.probability = -0.1", "fedactors.clients.dropout.probability")]
    [InlineData("fedactors.train.learning-rate = -1", "fedactors.train.learning-rate")]
    public void An_out_of_range_value_should_name_the_key_and_the_range(string hocon, string key)
    {
        var e = Error(hocon);
        Assert.Equal(key, e.Key);
        Assert.Contains("in [", e.Message.Replace("in (", "in ["));
    }

    [Fact]
    public void An_unknown_registered_name_should_list_the_valid_ones()
    {
        var e = Error("fedactors.data.partition.kind = shards");
        Assert.Contains("bias, cross-device, dirichlet, file, iid, pathological", e.Message);
        e = Error("fedactors.defence.rule = krumm");
        Assert.Contains("fedavg", e.Message);
    }

    [Fact]
    public void A_missing_dataset_file_should_name_the_folder_and_the_file()
    {
        var e = Error("fedactors.data.directory = \"/nonexistent/fmnist\"");
        Assert.Equal("fedactors.data.directory", e.Key);
        Assert.Contains("train-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("dataset-fashion-mnist", e.Message);
    }

    [Fact]
    public void Sampling_more_clients_than_exist_should_be_an_error()
    {
        var e = Error("fedactors.clients { count = 5, per-round = 6 }");
        Assert.Equal("fedactors.clients.per-round", e.Key);
        Assert.Contains("at most fedactors.clients.count = 5", e.Message);
    }

    [Fact]
    public void A_missing_config_file_should_be_named_and_a_truncated_one_should_name_its_unclosed_brace()
    {
        var missing = Assert.Throws<ConfigurationError>(() => FedActorsSettings.Load("/nonexistent/x.conf"));
        Assert.Equal("/nonexistent/x.conf", missing.Key);
        // Akka's HOCON parser accepts a file cut off after "=" (the key left empty); the syntax check refuses it first
        var truncated = Error("fedactors { rounds = ");
        Assert.EndsWith(".conf", truncated.Key);
        Assert.Contains("line 1", truncated.Message);
        Assert.Contains("'{' opened here to be closed", truncated.Message);
    }

    [Fact]
    public void A_rule_whose_f_breaks_its_precondition_for_the_clients_per_round_should_be_an_error()
    {
        // 10 clients per round with Krum f = 4: n > 2f + 2 fails
        var e = Error("fedactors.defence { rule = krum, krum.f = 4 }");
        Assert.Equal("fedactors.defence.krum", e.Key);
        Assert.Contains("n > 2f + 2", e.Message);
        var ok = FedActorsSettings.Read(FedActorsSettings.Load(WriteConf("fedactors.defence { rule = krum, krum.f = 3 }")));
        Assert.IsType<Core.Aggregation.Krum>(ok.CreateRule());
    }

    [Fact]
    public void An_unknown_attack_should_list_the_registered_ones()
    {
        var e = Error("fedactors.attack.kind = min-maxx");
        Assert.Equal("fedactors.attack.kind", e.Key);
        Assert.Contains("fang-krum, fang-trim, gaussian, label-flip, lie, min-max, min-sum, scaling, sign-flip", e.Message);
    }

    [Fact]
    public void Malicious_ids_outside_the_population_and_bad_attack_options_should_name_their_keys()
    {
        Assert.Equal("fedactors.attack.ids", Error("fedactors.attack { kind = sign-flip, ids = [3, 100] }").Key);
        Assert.Equal("fedactors.attack.min-max.perturbation", Error("fedactors.attack { kind = min-max, min-max.perturbation = cosine }").Key);
        Assert.Equal("fedactors.attack.fraction", Error("fedactors.attack { kind = lie, fraction = 1.5 }").Key);
    }

    [Fact]
    public void The_pill_should_refuse_a_data_only_attack_and_unknown_options()
    {
        Assert.Equal("fedactors.attack.pill.enabled", Error("fedactors.attack { kind = label-flip, pill.enabled = on }").Key);
        Assert.Equal("fedactors.attack.pill.search", Error("fedactors.attack { kind = min-max, pill { enabled = on, search = greedy } }").Key);
        var s = FedActorsSettings.Read(FedActorsSettings.Load(WriteConf("fedactors.attack { kind = min-max, pill { enabled = on, classifier-neurons = 3 } }")));
        Assert.True(s.Attack!.Pill!.Enabled);
        Assert.Equal(3, s.Attack.Pill.ClassifierNeurons);
    }

    [Fact]
    public void An_attack_should_be_read_with_its_options()
    {
        var s = FedActorsSettings.Read(FedActorsSettings.Load(WriteConf("fedactors.attack { kind = sign-flip, ids = [1, 2], start-round = 3, sign-flip.scale = 4 }")));
        Assert.Equal("sign-flip", s.Attack!.Kind);
        Assert.Equal([1, 2], s.Attack.Ids);
        Assert.Equal(3, s.Attack.StartRound);
        Assert.Equal(4.0, s.Attack.Options!.Double("scale"));
    }

    [Fact]
    public void A_bad_rule_option_should_name_its_full_key()
    {
        var e = Error("fedactors.defence { rule = trimmed-mean, trimmed-mean.beta = -1 }");
        Assert.Equal("fedactors.defence.trimmed-mean.beta", e.Key);
    }

    [Fact]
    public void Monitoring_settings_should_reject_a_bad_Seq_url()
    {
        var c = FedActorsSettings.Load(null, ["fedactors.monitoring.seq.url=\"localhost:5341\""]);
        var e = Assert.Throws<ConfigurationError>(() => MonitoringSettings.Read(c));
        Assert.Equal("fedactors.monitoring.seq.url", e.Key);
    }

    [Theory]
    [InlineData("train+test", "t10k-labels-idx1-ubyte.gz")]
    [InlineData("train", "train-labels-idx1-ubyte.gz")]
    public void Validation_should_name_each_dataset_file_the_pool_needs(string pool, string missing)
    {
        // arrange: a folder with every file of the pool but one (validation checks presence, not content)
        var dir = Directory.CreateTempSubdirectory("fmnist-").FullName;
        foreach (var f in FashionMnist.Files.Where(f => f != missing)) File.WriteAllBytes(Path.Combine(dir, f), []);
        // act
        var e = Error($"fedactors.data.directory = \"{dir}\"", $"fedactors.data.pool = \"{pool}\"");
        // assert
        Assert.Equal("fedactors.data.directory", e.Key);
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void A_personalisation_method_should_be_read_with_its_options()
    {
        var s = FedActorsSettings.Read(FedActorsSettings.Load(null, ["fedactors.personalization.method=fedala", "fedactors.personalization.fedala.threshold=0.01",
            "fedactors.data.dataset=synthetic"]));
        Assert.Equal("fedala", s.PersonalisationOrNone.Method);
        var method = Assert.IsType<Core.Personalisation.FedAlaMethod>(s.CreatePersonalisation());
        Assert.Equal(0.01, method.Options.Threshold);
        Assert.Equal(2, method.Options.AdaptedTensors);
        Assert.Null(FedActorsSettings.Read(FedActorsSettings.Load(null, ["fedactors.data.dataset=synthetic"])).CreatePersonalisation());
    }

    [Theory]
    [InlineData("fedactors.personalization.method=pfedme", "fedactors.personalization.method", "fedala")]
    [InlineData("fedactors.personalization.dbe.momentum=2", "fedactors.personalization.dbe.momentum", "a number in [0, 1]")]
    [InlineData("fedactors.personalization.evaluate=malicious", "fedactors.personalization.evaluate", "benign")]
    public void Bad_personalisation_input_should_name_the_key_and_the_valid_values(string set, string key, string hint)
    {
        var e = Error("fedactors.data.dataset = synthetic", set);
        Assert.Equal(key, e.Key);
        Assert.Contains(hint, e.Message);
    }

    [Theory]
    [InlineData("dbe", "lie")]
    [InlineData("gpfl", "label-flip")]
    [InlineData("fedcp", "min-max")]
    [InlineData("fedala", "sign-flip")]
    [InlineData("fedala", "scaling")]
    public void Personalisation_should_take_attacks_that_poison_its_shared_vector_or_its_training(string method, string attack)
    {
        var s = FedActorsSettings.Read(FedActorsSettings.Load(null,
            ["fedactors.data.dataset=synthetic", $"fedactors.personalization.method={method}", $"fedactors.attack.kind={attack}", "fedactors.attack.fraction=0.2"]));
        Assert.Equal(method, s.PersonalisationOrNone.Method);
        Assert.Equal(attack, s.Attack!.Kind);
    }

    [Fact]
    public void Personalisation_should_refuse_the_attacks_it_cannot_carry_naming_why()
    {
        const string data = "fedactors.data.dataset = synthetic";
        var local = Error(data, "fedactors.personalization.method=local", "fedactors.attack.kind=lie");
        Assert.Equal("fedactors.personalization.method", local.Key);
        Assert.Contains("share nothing", local.Message);
        var localEveryone = Error(data, "fedactors.personalization.method=local", "fedactors.attack.kind=lie", "fedactors.attack.fraction=1");
        Assert.Equal("fedactors.personalization.method", localEveryone.Key); // the real reason, not the empty evaluation it implies
        var everyone = Error(data, "fedactors.personalization.method=fedala", "fedactors.attack.kind=lie", "fedactors.attack.fraction=1");
        Assert.Equal("fedactors.personalization.evaluate", everyone.Key);
        Assert.Contains("every client is malicious", everyone.Message);
        foreach (var method in new[] { "gpfl", "fedcp" })
        {
            var pill = Error(data, $"fedactors.personalization.method={method}", "fedactors.attack.kind=lie", "fedactors.attack.pill.enabled=on");
            Assert.Equal("fedactors.attack.pill.enabled", pill.Key);
            Assert.Contains("not the model", pill.Message);
        }
    }

    [Fact]
    public void Personalisation_with_a_root_trained_rule_or_held_out_evaluation_should_be_refused_up_front()
    {
        var fltrust = Error("fedactors.data.dataset = synthetic", "fedactors.personalization.method=gpfl", "fedactors.defence.rule=fltrust",
            "fedactors.server.root-samples=50");
        Assert.Contains("root update", fltrust.Message);
        var heldOut = Error("fedactors.data.dataset = synthetic", "fedactors.personalization.method=fedcp", "fedactors.data.evaluation=held-out");
        Assert.Equal("fedactors.data.evaluation", heldOut.Key);
    }
}
