using Akka.Configuration;
using FedActors.Runtime.Settings;
using Xunit;

namespace FedActors.Runtime.Tests.Settings;

public class HoconTextSpecs
{
    [Fact]
    public void A_rendered_section_should_parse_back_to_the_same_values()
    {
        // the values Akka's ToString() mangles: a URL (// starts a comment), an empty string, quotes and backslashes,
        // a key with a dot, an empty object, lists, non-ASCII text
        var original = ConfigurationFactory.ParseString("""
            fedactors {
              seed = 7
              ratio = 0.25
              on = on
              timeout = 120s
              url = "http://localhost:5341/x?a=1&b=2"
              empty = ""
              tricky = "say \"hi\" \\ + <ok>"
              name = "Zürich — λ"
              "a.b" = 3
              local {}
              xs = [1, 2, 3]
              nested { deeper { word = yes } }
            }
            other.ignored = 1
            """);

        var rendered = ConfigurationFactory.ParseString(HoconText.Render(original, "fedactors"));

        Assert.Equal(7, rendered.GetInt("fedactors.seed"));
        Assert.Equal(0.25, rendered.GetDouble("fedactors.ratio"));
        Assert.True(rendered.GetBoolean("fedactors.on"));
        Assert.Equal(TimeSpan.FromSeconds(120), rendered.GetTimeSpan("fedactors.timeout"));
        Assert.Equal("http://localhost:5341/x?a=1&b=2", rendered.GetString("fedactors.url"));
        Assert.Equal("", rendered.GetString("fedactors.empty"));
        Assert.Equal("say \"hi\" \\ + <ok>", rendered.GetString("fedactors.tricky"));
        Assert.Equal("Zürich — λ", rendered.GetString("fedactors.name"));
        Assert.Equal(3, rendered.GetInt("fedactors.\"a.b\""));
        Assert.True(rendered.HasPath("fedactors.local"));
        Assert.Equal([1, 2, 3], rendered.GetIntList("fedactors.xs"));
        Assert.Equal("yes", rendered.GetString("fedactors.nested.deeper.word"));
        Assert.False(rendered.HasPath("other"));
    }

    [Fact]
    public void The_whole_effective_configuration_should_survive_being_loaded_back_as_an_experiment_file()
    {
        var effective = FedActorsSettings.Load(null, ["fedactors.seed=9", "fedactors.monitoring.seq.url=\"http://seq:5341\""]);
        var path = Path.Combine(Path.GetTempPath(), $"fa-{Guid.NewGuid():N}.conf");
        File.WriteAllText(path, HoconText.Render(effective, "fedactors"));

        var loaded = FedActorsSettings.Load(path);

        Assert.Equal(HoconText.Render(effective, "fedactors"), HoconText.Render(loaded, "fedactors"));
        Assert.Equal(9, FedActorsSettings.Read(loaded).Seed);
        Assert.Equal("http://seq:5341", loaded.GetString("fedactors.monitoring.seq.url"));
    }
}
