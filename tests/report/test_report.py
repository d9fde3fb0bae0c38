"""The incident report of a run: what it says follows the run, escapes scenario strings, is
self-contained and deterministic, and rebuilds from the run directory."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from simulation.cli import main
from simulation.report import write_report

from .conftest import ROOT

RACE = "scenarios/labs/dns-race.yaml"
SHORT = "scenarios/labs/dns-race-short-negative-ttl.yaml"
FIXED = "scenarios/labs/dns-race-fixed.yaml"
PUBLISHED = ROOT / "tests" / "report" / "data" / "published.csv"
SECTIONS = [
    "Summary",
    "Health",
    "Impact",
    "Timeline",
    "Causal chain",
    "Plots",
    "Expectations",
    "Contributing factors and action items",
]


def run(tmp_path, monkeypatch, scenario: str, *args: str, name: str = "o"):
    """Run `scenario` through the CLI (from the repository root) into tmp_path/name."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / name
    code = main(["run", scenario, "--out", str(out), "--progress", "none", *args])
    assert code in (0, 1)
    return out


def md(out) -> str:
    return (out / "report.md").read_text(encoding="utf-8")


def page(out) -> str:
    return (out / "report.html").read_text(encoding="utf-8")


def summary_line(text: str, label: str) -> str:
    m = re.search(rf"^- \*\*{label}:\*\* (.*)$", text, re.M)
    assert m, f"no summary line {label!r}"
    return m.group(1)


# -- content follows the run ---------------------------------------------------------------


def test_sections_in_postmortem_order(examples):
    text = md(examples / "dns-race")
    heads = re.findall(r"^## (.*)$", text, re.M)
    assert heads[: len(SECTIONS)] == SECTIONS
    assert heads[-1] == "Appendix: the scenario as run"
    html_heads = re.findall(r"<h2>(.*?)</h2>", page(examples / "dns-race"))
    assert html_heads[: len(SECTIONS)] == SECTIONS


def test_summary_tells_trigger_cascade_impact_and_end(examples):
    text = md(examples / "dns-race")
    assert summary_line(text, "Trigger").startswith("Enactor lock lost at 23:35:01 PDT: az1 ")
    cascade = summary_line(text, "What cascaded")
    order = ["Enactor stale apply at 23:48:16", "Active plan deleted at 23:48:24"]
    order += ["DNS record empty at 23:48:24", "DNS client failures start at 23:48:39"]
    assert [cascade.index(s) for s in order] == sorted(cascade.index(s) for s in order)
    impact = summary_line(text, "Impact")
    assert (
        "client error minutes 166.3" in impact and "regional record empty minutes 156.6" in impact
    )
    end = summary_line(text, "How it ended")
    assert end.startswith(
        "DNS manual repair at Oct 20 02:25:00 PDT; DNS restored at Oct 20 02:25:00"
    )
    assert "DNS clients recovered at Oct 20 02:34:55 PDT" in end
    assert "Every health row was ok at the end of the run" in end
    assert summary_line(text, "Expectations") == "5 of 5 ok."


def test_health_windows_follow_the_milestones(examples):
    text = md(examples / "dns-race")
    assert "| DynamoDB record | 23:48-Oct 20 02:25 (down) | 0 s | 2 h 36 min | ok |" in text
    assert "| DynamoDB clients (DNS) | 23:48-Oct 20 02:34 (down) |" in text


def test_timeline_in_order_with_local_and_utc_times(examples):
    text = md(examples / "dns-race")
    rows = re.findall(
        r"^\| (2025-10-\d\d \d\d:\d\d:\d\d) \| (2025-10-\d\d \d\d:\d\d:\d\d) \|", text, re.M
    )
    assert rows[0] == ("2025-10-19 23:35:01", "2025-10-20 06:35:01")
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert "| 2025-10-20 02:25:00 | 2025-10-20 09:25:00 | T+3 h 25 min | operator action |" in text


def test_moving_the_repair_moves_the_recovery(tmp_path, monkeypatch):
    out = run(tmp_path, monkeypatch, RACE, "--set", "operators.dns_manual_repair.at=+225 min")
    text = md(out)
    end = summary_line(text, "How it ended")
    assert end.startswith(
        "DNS manual repair at Oct 20 02:45:00 PDT; DNS restored at Oct 20 02:45:00"
    )
    assert "| DynamoDB record | 23:48-Oct 20 02:45 (down) |" in text


def test_without_the_repair_nothing_recovers(tmp_path, monkeypatch):
    out = run(tmp_path, monkeypatch, RACE, "--set", "operators.dns_manual_repair.enabled=false")
    text = md(out)
    end = summary_line(text, "How it ended")
    assert end.startswith("no recovery action or milestone. At the end of the run (Oct 20 03:00)")
    assert end.endswith("still not ok: DynamoDB record, DynamoDB clients (DNS).")
    assert "23:48-end of run (down)" in text


def test_the_fixed_variant_stops_at_the_trigger(examples):
    text = md(examples / "dns-race-fixed")
    assert summary_line(text, "Trigger").startswith("Enactor lock lost at 23:3")
    assert summary_line(text, "What cascaded") == "nothing: no effect of the trigger was detected."
    assert (
        "| Enactor apply-time version check | on | dynamodb\\_dns.apply\\_version\\_check |" in text
    )
    assert "Action items" not in text


def test_factors_and_action_items_come_from_the_design_switches(examples):
    text = md(examples / "dns-race")
    assert (
        "| Enactor apply-time version check | off | dynamodb\\_dns.apply\\_version\\_check "
        "| contributing (fix absent) |" in text
    )
    items = re.findall(r"^1\. (.*)$", text, re.M)
    assert items == [
        "Compare-and-set the endpoint's plan generation inside the apply transaction, so an "
        "older plan never overwrites a newer one (Enactor apply-time version check: off)",
        "Make the clean-up transaction refuse to delete a plan an endpoint points at (Clean-up "
        "protects the active plan: off)",
    ]


def test_causal_chain_links_and_picture(examples):
    out = examples / "dns-race"
    text = md(out)
    assert "![Causal chain](plots/causal-chain.svg)" in text
    assert (
        "| DNS restored | DNS clients recovered | clients' cached negative answers expire "
        "(min(SOA TTL, SOA minimum) = 15 min) |" in text
    )
    svg = (out / "plots" / "causal-chain.svg").read_text()
    for word in ("Trigger", "Sustaining", "Recovery", "Enactor lock lost", "DNS clients recovered"):
        assert f">{word}</text>" in svg


def test_every_declared_plot_is_drawn(examples):
    out = examples / "dns-race"
    views = json.loads((out / "views.json").read_text())
    keys = {p["key"] for p in views["plots"] if p["kind"] == "time"}
    assert keys == {"dns-record", "dns-generations"}
    assert {p.stem for p in (out / "plots").glob("*.svg")} == keys | {"health", "causal-chain"}
    html = page(out)
    assert html.count("<svg ") == 4 and 'id="fig-health"' in html


# -- variants --------------------------------------------------------------------------------


def test_variant_comparison_in_summary_and_report(examples):
    out = examples / "dns-race-short-negative-ttl"
    c = json.loads((out / "summary.json").read_text())["comparison"]
    assert c["base"] == RACE and c["seed"] == 20 and c["base_status"] == "ok"
    rec = c["milestones"]["dns_clients_recovered"]
    assert (
        rec["base"] == "2025-10-20T02:34:55-07:00" and rec["variant"] == "2025-10-20T02:30:11-07:00"
    )
    assert rec["delta_s"] == pytest.approx(-284.551)
    assert c["milestones"]["dns_record_empty"]["delta_s"] == 0.0
    assert c["impact"]["dynamodb_dns.client_error_minutes"] == {
        "base": 166.3,
        "variant": 161.5,
        "delta": -4.8,
    }
    text = md(out)
    assert (
        "| dns\\_clients\\_recovered | 2025-10-20 02:34:55 | 2025-10-20 02:30:11 | -4 min 45 s |"
        in text
    )
    assert "| clients\\_recovered | ok | ok | redefined in the variant |" in text


def test_the_fixed_variant_prevents_every_milestone(examples):
    c = json.loads((examples / "dns-race-fixed" / "summary.json").read_text())["comparison"]
    assert all(m["variant"] is None and m["base"] for m in c["milestones"].values())
    assert "| dns\\_record\\_empty | 2025-10-19 23:48:24 | did not happen | prevented |" in md(
        examples / "dns-race-fixed"
    )


def test_no_compare_says_so(tmp_path, monkeypatch):
    out = run(tmp_path, monkeypatch, SHORT, "--no-compare")
    c = json.loads((out / "summary.json").read_text())["comparison"]
    assert c == {"base": RACE, "skipped": "--no-compare was given"}
    assert "Comparison with scenarios/labs/dns-race.yaml skipped: --no-compare was given." in md(
        out
    )


def test_overrides_reach_the_base_when_it_has_the_key(tmp_path, monkeypatch):
    out = run(
        tmp_path,
        monkeypatch,
        SHORT,
        "--set",
        "dynamodb_dns.record_ttl=30 s",
        "--set",
        "operators.dns_manual_repair.at=+210 min",
    )
    c = json.loads((out / "summary.json").read_text())["comparison"]
    assert c["overrides_applied"] == [
        "dynamodb_dns.record_ttl=30 s",
        "operators.dns_manual_repair.at=+210 min",
    ]
    assert c["milestones"]["dns_restored"]["delta_s"] == 0.0  # both repaired at 02:30
    assert c["milestones"]["dns_restored"]["base"] == "2025-10-20T02:30:00-07:00"


def test_base_overrides_split():
    from simulation.runner import base_overrides
    from simulation.scenario.load import load_scenario

    tree = load_scenario(ROOT / RACE).tree
    applied, skipped = base_overrides(
        tree,
        [
            "seed=3",
            "dynamodb_dns.soa_ttl=300 s",
            "dynamodb_dns.clients.max_ttl=1 h",
            "operators.dns_manual_repair.at=+1 h",
            "operators.0.note=x",
            "operators.other.at=+1 h",
            "labs.retry_storm.clients=3",
        ],
    )
    assert applied == [
        "seed=3",
        "dynamodb_dns.soa_ttl=300 s",
        "dynamodb_dns.clients.max_ttl=1 h",
        "operators.dns_manual_repair.at=+1 h",
        "operators.0.note=x",
    ]
    assert skipped == ["operators.other.at=+1 h", "labs.retry_storm.clients=3"]


def test_a_scenario_without_extends_has_no_comparison(examples):
    summary = json.loads((examples / "dns-race" / "summary.json").read_text())
    assert "comparison" not in summary
    assert "Comparison" not in md(examples / "dns-race")


# -- reference timeline ----------------------------------------------------------------------


def test_reference_timeline_side_by_side(tmp_path, monkeypatch):
    out = run(tmp_path, monkeypatch, RACE, "--set", f"reference_timeline={PUBLISHED}")
    assert (out / "reference_timeline.csv").read_bytes() == PUBLISHED.read_bytes()
    text = md(out)
    assert (
        "| 2025-10-19 23:48 | 06:48 | outcome | dns\\_record\\_empty | The regional record set is "
        "empty | 2025-10-19 23:48:24 | +24 s |" in text
    )
    assert (
        "| 2025-10-20 02:25 | 09:25 | operator action (input) | dns\\_manual\\_repair | Operators "
        "restore all DNS records by hand \\| &lt;b&gt;automation&lt;/b&gt; stays broken | "
        "2025-10-20 02:25:00 | +0 s |" in text
    )
    assert (
        "| dns\\_clients\\_recovered | Last clients recover as cached negative answers expire | 2025-10-20 02:34:55 | -5 min 05 s |"
        in text
    )
    assert (
        "Published rows outside this scenario's model (2): dwfm\\_leases\\_all\\_restored, "
        "dns\\_automation\\_disabled\\_global." in text
    )
    html = page(out)
    assert "<b>automation" not in html and "&lt;b&gt;automation&lt;/b&gt;" in html
    # a later run into the same directory without a reference removes the stale copy
    run(tmp_path, monkeypatch, RACE)
    assert not (out / "reference_timeline.csv").exists()
    assert "Against the published timeline" not in md(out)


# -- escaping, self-contained, deterministic ------------------------------------------------


def test_scenario_strings_are_escaped_everywhere(tmp_path, monkeypatch):
    evil = "<script>alert(1)</script> | *x* [a](b)"
    out = run(
        tmp_path,
        monkeypatch,
        RACE,
        "--set",
        f"title={evil}",
        "--set",
        "operators.dns_manual_repair.note=<img src=x onerror=alert(2)>",
        "--set",
        "dynamodb_dns.enactors.names=['<b>az1</b>', az2, az3]",
        "--set",
        "dynamodb_dns.slowness.0.enactor=<b>az1</b>",
    )
    html = page(out)
    for raw in ("<script>alert", "<img src=x", "<b>az1"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | *x* [a](b)" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "Enactor &lt;b&gt;az1&lt;/b&gt;: plan taken" in html  # inside an inline SVG
    text = md(out)
    assert "# Incident report: &lt;script&gt;alert(1)&lt;/script&gt; \\| \\*x\\* \\[a\\](b)" in text
    body, appendix = text.split("## Appendix")
    assert "<img" not in body and "<b>" not in body
    assert "  note: <img src=x onerror=alert(2)>" in appendix  # literal inside a code block
    svg = (out / "plots" / "dns-generations.svg").read_text()
    assert "<b>" not in svg and "&lt;b&gt;az1&lt;/b&gt;" in svg


def test_html_is_self_contained(examples):
    html = page(examples / "dns-race")
    assert "<script" not in html and "<link" not in html and " src=" not in html
    urls = set(re.findall(r"https?://[^\"' )]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate ids between inline SVGs"
    assert "<metadata>" not in html and "Date" not in html


def test_rebuilding_gives_the_same_bytes_and_drops_stale_pictures(examples, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(examples / "dns-race", out)
    files = ["report.md", "report.html", *(f"plots/{p.name}" for p in (out / "plots").iterdir())]
    before = {f: (out / f).read_bytes() for f in files}
    (out / "plots" / "old-picture.svg").write_text("<svg/>")
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert {f: (out / f).read_bytes() for f in files} == before
    assert not (out / "plots" / "old-picture.svg").exists()


def test_an_old_run_directory_still_renders(examples, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(examples / "dns-race", out)
    for name in ("views.json", "metrics.parquet", "timeline.csv"):
        (out / name).unlink()
    shutil.rmtree(out / "plots")
    write_report(out)
    text = md(out)
    assert "No component of this scenario declares a health series." in text
    assert "No component declares causal links: the milestones and operator actions" in text
    assert "![Sequence of milestones and actions](plots/causal-chain.svg)" in text
