"""Configuration: every kind of mistake is refused at load time with exit 2 and a message
naming the file and the key; defaults and path resolution are as documented."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from syndicator.cli import main
from syndicator.config import load_config, parse_duration
from syndicator.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
GOOD_SOURCE = '[[sources]]\nname = "wire"\nurl = "https://example.org/feed.xml"\n'


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[storage]\nurll = 'x'\n", "[storage].urll", "unknown key"),
        ("[outputs]\ndir = 'x'\n", "outputs", "unknown key"),
        ("[output]\nbase_url = 'ftp://x/'\n", "[output].base_url", "not an http(s) URL"),
        (GOOD_SOURCE + GOOD_SOURCE, "[[sources]][1].name", "duplicate name 'wire'"),
        (GOOD_SOURCE.replace('"wire"', '"bad name!"'), "[[sources]][0].name", "not a valid name"),
        ('[[sources]]\nname = "x"\n', "[[sources]][0].url", "missing"),
        (GOOD_SOURCE + 'interval = "5 fortnights"\n', "[[sources]][0].interval", "not a duration"),
        (GOOD_SOURCE + 'interval = "-5m"\n', "[[sources]][0].interval", "not a duration"),
        (GOOD_SOURCE + "enabled = 'yes'\n", "[[sources]][0].enabled", "not true or false"),
        (GOOD_SOURCE + "colour = 'red'\n", "[[sources]][0].colour", "unknown key"),
        (GOOD_SOURCE + "full_text = 'yes'\n", "[[sources]][0].full_text", "not true or false"),
        (GOOD_SOURCE + "full_text_publish = true\n", "[[sources]][0].full_text_publish", "needs full_text = true"),
        ("[fetch]\nmin_interval = 0\n", "[fetch].min_interval", "longer than zero"),
        ("[fetch]\nmax_backoff = 'soon'\n", "[fetch].max_backoff", "not a duration"),
        ("[fetch]\njitter = 1.5\n", "[fetch].jitter", "not a fraction"),
        ('[[sources]]\nname = "x"\nurl = "gopher://x/"\n', "[[sources]][0].url", "only http, https, file"),
        (GOOD_SOURCE + '[[feeds]]\nname = "all"\nsources = ["nope"]\n', "[[feeds]][0].sources", "'nope'"),
        (GOOD_SOURCE + '[[feeds]]\nname = "all"\nlimit = 0\n', "[[feeds]][0].limit", "above zero"),
        ('[merge]\nheadline = "newest"\n', "[merge].headline", "'first', 'latest'"),
        ('[fetch]\ntimeout = "fast"\n', "[fetch].timeout", "not a number"),
        ("[storage\nurl = 1\n", "", "not valid TOML"),
        ("sources = 3\n", "sources", "array of tables"),
        ('[[feeds]]\nname = "all"\ninclude = ["(unclosed"]\n', "[[feeds]][0].include", "not a valid regular"),
        ('[[feeds]]\nname = "all"\ncategories = "World"\n', "[[feeds]][0].categories", "not a list"),
        ('[[feeds]]\nname = "all"\nmax_age = "old"\n', "[[feeds]][0].max_age", "not a duration"),
    ],
)
def test_bad_configuration_exits_2_naming_file_and_key(tmp_path, capsys, text, key, reason):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["--config", str(path), "sources", "list"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert key in err
    assert reason in err
    assert not (tmp_path / "syndicator.db").exists()  # nothing was created from a bad file


def test_missing_file_and_no_configuration(tmp_path, capsys, monkeypatch):
    assert main(["--config", str(tmp_path / "nope.toml"), "stories"]) == 2
    assert "not found" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNDICATOR_CONFIG", raising=False)
    assert main(["stories"]) == 2
    assert "no configuration found" in capsys.readouterr().err


def test_config_search_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNDICATOR_CONFIG", raising=False)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "syndicator.toml").write_text('[output]\ntitle = "from config dir"\n')
    assert load_config().output.title == "from config dir"
    (tmp_path / "syndicator.toml").write_text('[output]\ntitle = "from cwd"\n')
    assert load_config().output.title == "from cwd"
    env = tmp_path / "env.toml"
    env.write_text('[output]\ntitle = "from env"\n')
    monkeypatch.setenv("SYNDICATOR_CONFIG", str(env))
    assert load_config().output.title == "from env"
    assert load_config(tmp_path / "config" / "syndicator.toml").output.title == "from config dir"


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "s.toml"
    path.write_text(
        '[storage]\nurl = "sqlite:///data/s.db"\n[output]\ndir = "out"\n'
        '[[sources]]\nname = "local"\nurl = "feeds/a.xml"\ninterval = "90s"\n'
    )
    cfg = load_config(path)
    assert cfg.database_url() == f"sqlite:///{folder.resolve()}/data/s.db"
    assert cfg.output_dir == (folder / "out").resolve()
    assert cfg.source_url(cfg.sources[0]) == (folder / "feeds" / "a.xml").resolve().as_uri()
    assert cfg.interval(cfg.sources[0]) == 90
    assert [f.name for f in cfg.feeds] == ["all"]  # a default output feed when none is configured


def test_durations():
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    for bad in ("", "5", "1w", "m5", True, 0, "0s"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_config_error_is_also_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_shipped_configurations_load_and_example_lists_every_setting():
    demo = load_config(ROOT / "config" / "syndicator.toml")
    assert {s.name for s in demo.sources} and all(
        Path(demo.source_url(s).removeprefix("file://")).is_file() for s in demo.sources
    )
    example_path = ROOT / "config" / "syndicator.example.toml"
    example = load_config(example_path)
    raw = tomllib.loads(example_path.read_text())
    # Every setting of every section stands in the example file, with its default value.
    from syndicator import config as c

    defaults = {
        "storage": c.StorageConfig(), "output": c.OutputConfig(), "fetch": c.FetchConfig(),
        "merge": c.MergeConfig(), "scheduler": c.SchedulerConfig(), "log": c.LogConfig(),
    }
    for section, default in defaults.items():
        for name in default.__dataclass_fields__:
            assert name in raw[section], f"[{section}] {name} missing from the example configuration"
            assert getattr(getattr(example, section), name) == getattr(default, name), (section, name)
    for name, field in c.SourceConfig.__dataclass_fields__.items():
        assert name in raw["sources"][0], f"[[sources]] {name} missing from the example configuration"
        if isinstance(field.default, bool):  # the flags show their defaults; name, url, title are examples
            assert getattr(example.sources[0], name) == field.default, ("sources", name)
    for key in c.FeedConfig.__dataclass_fields__:
        assert key in raw["feeds"][0] or key == "max_age", f"[[feeds]] {key} missing from the example configuration"
    assert "max_age" in example_path.read_text()
