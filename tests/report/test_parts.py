"""The report's parts alone: escaping, durations, health codes, series reduction, reference
timelines (and their located errors), causal links."""

from __future__ import annotations

import math

import pytest

from simulation.cli import main
from simulation.core.views import Link, check_link
from simulation.report.data import fmt_duration
from simulation.report.health import DEGRADED, DOWN, OK, code_of
from simulation.report.plots import MAX_POINTS, _reduce_level
from simulation.report.reference import ReferenceError, parse_reference
from simulation.report.render import md_code, md_escape

from .conftest import ROOT


def test_md_escape_neutralises_markdown_and_html():
    assert md_escape("a|b *c* _d_ [e](f) `g` #h <i>") == (
        "a\\|b \\*c\\* \\_d\\_ \\[e\\](f) \\`g\\` \\#h &lt;i&gt;"
    )
    assert md_escape("two\n  lines") == "two lines"
    assert md_escape(None) == ""


def test_code_fence_outlasts_backticks_inside():
    assert str(md_code("x: ```", "yaml")) == "````yaml\nx: ```\n````"
    assert str(md_code("plain")) == "```\nplain\n```"


@pytest.mark.parametrize(
    ("seconds", "signed", "text"),
    [
        (24.015, True, "+24 s"),
        (-304.7, True, "-5 min 05 s"),
        (0, True, "+0 s"),
        (300, False, "5 min"),
        (9396, False, "2 h 36 min"),
        (2.25, False, "2.2 s"),
    ],
)
def test_durations(seconds, signed, text):
    assert fmt_duration(seconds, signed) == text


def test_health_codes_both_directions():
    # codes as recorded
    assert [code_of(v, None) for v in (0, 1, 2, 0.5)] == [OK, DEGRADED, DOWN, OK]
    # higher is worse: failing clients of 200
    assert [code_of(v, (0, 200)) for v in (0, 1, 199, 200)] == [OK, DEGRADED, DEGRADED, DOWN]
    # lower is worse: addresses of a full record of 8
    assert [code_of(v, (8, 0)) for v in (8, 7, 1, 0)] == [OK, DEGRADED, DEGRADED, DOWN]


def test_reducing_a_long_level_keeps_its_extremes_and_mean():
    n = 4 * MAX_POINTS
    times = [float(i) for i in range(n)]
    values = [float(i % 7) for i in range(n)]
    starts, lo, hi, mean = _reduce_level(times, values, float(n))
    assert len(starts) == MAX_POINTS // 2
    assert min(lo) == 0 and max(hi) == 6
    total = sum(m * (n / len(starts)) for m in mean)
    assert total == pytest.approx(sum(values), rel=1e-9)
    assert not any(math.isnan(m) for m in mean)


def test_reference_rows_parse_in_each_time_column():
    rows = parse_reference(
        "time_pdt,milestone,role\n2025-10-19T23:48,dns_record_empty,outcome\n", "t.csv"
    )
    assert rows[0].time.isoformat() == "2025-10-19T23:48:00-07:00"
    rows = parse_reference("time_utc,milestone,role\n2025-10-20T06:48,x,input\n", "t.csv")
    assert rows[0].time.isoformat() == "2025-10-20T06:48:00+00:00"
    rows = parse_reference("time,milestone,role\n2025-10-20T08:48+02:00,x,outcome\n", "t.csv")
    assert rows[0].time.isoformat() == "2025-10-20T08:48:00+02:00"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "when,milestone\n",
            "t.csv: missing column(s) 'time_pdt', 'role' (a reference timeline has time_pdt (or "
            "time_utc, or time with offset), milestone, role and optionally subsystem, event)",
        ),
        (
            "time_pdt,milestone,role\nsoon,x,outcome\n",
            "t.csv line 2: time_pdt 'soon' is not an ISO-8601 time (e.g. 2025-10-19T23:48)",
        ),
        (
            "time_pdt,milestone,role\n2025-10-19T23:48-07:00,x,outcome\n",
            "t.csv line 2: time_pdt '2025-10-19T23:48-07:00' has an offset; write it without "
            "(the column names the zone) or use a 'time' column",
        ),
        (
            "time,milestone,role\n2025-10-19T23:48,x,outcome\n",
            "t.csv line 2: time '2025-10-19T23:48' needs a UTC offset",
        ),
        (
            "time_pdt,milestone,role\n2025-10-19T23:48,x,output\n",
            "t.csv line 2: role 'output' must be 'outcome' or 'input'",
        ),
        (
            "time_pdt,milestone,role\n2025-10-19T23:48,,input\n",
            "t.csv line 2: empty milestone",
        ),
    ],
)
def test_bad_reference_timelines(text, message):
    with pytest.raises(ReferenceError) as exc:
        parse_reference(text, "t.csv")
    assert str(exc.value) == message


SCENARIO = """\
title: t
start: "2025-10-19T23:00:00-07:00"
duration: "1 h"
reference_timeline: {ref}
dynamodb_dns: {{}}
"""


def test_a_bad_reference_timeline_is_a_located_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SCENARIO.format(ref="missing.csv"))
    (tmp_path / "b.yaml").write_text(SCENARIO.format(ref="bad.csv"))
    (tmp_path / "bad.csv").write_text("time_pdt,milestone,role\n2025-10-19T23:48,x,maybe\n")
    assert main(["validate", "s.yaml", "b.yaml"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "s.yaml:4:21: reference_timeline: no such file 'missing.csv' (looked for missing.csv)",
        "b.yaml:4:21: reference_timeline: bad.csv line 2: role 'maybe' must be 'outcome' or "
        "'input'",
    ]
    assert main(["run", "s.yaml", "--out", "o"]) == 2
    assert not (tmp_path / "o").exists()


def test_the_reference_timeline_resolves_against_the_scenario_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.yaml").write_text(SCENARIO.format(ref="ref.csv"))
    (tmp_path / "sub" / "ref.csv").write_text("time_pdt,milestone,role\n2025-10-19T23:48,x,input\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "sub/s.yaml"]) == 0


def test_causal_link_nodes_are_checked():
    check_link(Link("milestone:a", "event:b"))
    with pytest.raises(ValueError) as exc:
        check_link(Link("milestone:a", "b"))
    assert str(exc.value) == (
        "causal link node 'b': expected 'milestone:NAME', 'action:NAME' or 'event:KIND'"
    )


def test_the_shipped_dns_variants_validate(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert (
        main(
            [
                "validate",
                "scenarios/labs/dns-race-fixed.yaml",
                "scenarios/labs/dns-race-short-negative-ttl.yaml",
            ]
        )
        == 0
    )


def test_chain_phases_follow_the_links():
    from simulation.report.chain import Edge, Node, _assign_phases

    keys = [
        "action:break",
        "milestone:empty",
        "milestone:failing",
        "action:repair",
        "milestone:restored",
        "milestone:collapse",
        "milestone:clients_back",
    ]
    nodes = {k: Node(k, float(i), k) for i, k in enumerate(keys)}
    edges = [
        Edge("action:break", "milestone:empty", recovers=False),  # a fault injection
        Edge("milestone:empty", "milestone:failing"),
        Edge("action:repair", "milestone:restored"),  # inferred: effect of an action
        Edge("milestone:restored", "milestone:collapse", recovers=False),  # harm after a repair
        Edge("milestone:restored", "milestone:clients_back"),  # inferred: effect of a recovery
    ]
    _assign_phases(nodes, edges, keys)
    assert {k: n.phase for k, n in nodes.items()} == {
        "action:break": "trigger",
        "milestone:empty": "sustaining",
        "milestone:failing": "sustaining",
        "action:repair": "recovery",
        "milestone:restored": "recovery",
        "milestone:collapse": "sustaining",
        "milestone:clients_back": "recovery",
    }
