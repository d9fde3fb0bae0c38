"""`outage-sim check dns-race`: exit 1 with a counterexample, 0 with the fix, 2 on bad options."""

from simulation.cli import main


def test_check_finds_the_race_and_exits_1(capsys):
    assert main(["check", "dns-race"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION" in out and "Shortest counterexample" in out
    assert "PLAN DELETED" in out


def test_check_fixed_is_clean_and_exits_0(capsys):
    assert main(["check", "dns-race", "--fixed"]) == 0
    assert "no violation" in capsys.readouterr().out


def test_check_rejects_nonsense_options(capsys):
    assert main(["check", "dns-race", "--enactors", "0"]) == 2
    assert capsys.readouterr().err.strip() == "--enactors: expected a positive integer, got 0"


def test_list_finds_shipped_scenarios_from_anywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no ./scenarios here: falls back to the ones beside the package
    assert main(["list"]) == 0
    assert "dns-race.yaml" in capsys.readouterr().out
