"""`outage-sim drill`: scripted drills, an interactive session and its replay give the same bytes,
bad options exit 2, and a real terminal session (tmux, 80x24) works end to end."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from rich.console import Console

from simulation.cli import main
from simulation.training.session import DrillOptions, run_drill

from .conftest import DRILL, HISTORICAL_SCRIPT, ROOT

SAME = (
    "summary.json",
    "timeline.csv",
    "metrics.parquet",
    "scenario.json",
    "debrief.md",
    "debrief.json",
)
SHIPPED = "scenarios/drills/dns-race-drill.yaml"


def _same_bytes(a, b) -> None:
    for name in SAME:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_a_scripted_drill_writes_a_run_directory_with_a_debrief(tmp_path, in_root, capsys):
    out = tmp_path / "hist"
    args = [
        "drill",
        "--script",
        str(HISTORICAL_SCRIPT),
        "--out",
        str(out),
        "--counterfactuals",
        "0",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "[2025-10-20T01:15:00-07:00] > do pin_endpoint services=[sts]" in printed
    assert "Customer impact 504.3: the same as the historical run (504.3)." in printed
    for name in (*SAME, "report.md", "report.html", "views.json", "run.json", "drill-script.yaml"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert [a["actor"] for a in summary["operator_actions"]] == ["trainee", "trainee"]
    assert summary["status"] == "ok"  # the historical expectations hold
    debrief = json.loads((out / "debrief.json").read_text())
    assert debrief["score"]["impact"]["ratio_to_historical"] == 1.0
    assert debrief["actions"][0]["effect"] == "not judged (bound)"


def test_an_interactive_session_and_its_recording_give_the_same_bytes(tmp_path, in_root):
    keys = iter(
        [""] * 11  # to 23:55: the pages fired at 23:50
        + ["ack all", "resolve dynamodb.us-east-1.amazonaws.com", "bogus", "step 15 min"]
        + ["show region.dynamodb_dns", "do pin_endpoint services=[sts,lambda]", "", "next"]
        + ["do dns_manual_repair disable_automation=true", "end"]
    )
    screen = io.StringIO()
    console = Console(file=screen, width=80, height=24, color_system=None)
    live = DrillOptions(
        SHIPPED,
        out=tmp_path / "live",
        record=tmp_path / "rec.yaml",
        hints="guided",
        counterfactuals=1,
    )
    assert run_drill(live, stdout=io.StringIO(), console=console, read=lambda _p: next(keys)) == 0
    shown = screen.getvalue()
    assert "ALERTS  4 firing" in shown and "NEW  PAGED: dynamodb_client_errors" in shown
    # resolving at 23:55:00 came before the hint due then (it is not shown); the next one is
    assert "Resolve the endpoint" not in shown
    assert "HINT 00:05:00 [guide] The record has no addresses. Who writes it?" in shown
    assert "error: unknown command 'bogus'" in shown
    assert max(len(line) for line in shown.splitlines()) <= 80
    recorded = (tmp_path / "rec.yaml").read_text()
    assert "hints: guided" in recorded and "seed: 20" in recorded
    assert recorded.count("command:") == 5  # ack, resolve, show, pin, repair: not steps or errors
    replayed = DrillOptions(
        None, out=tmp_path / "replay", script=tmp_path / "rec.yaml", counterfactuals=1
    )
    assert run_drill(replayed, stdout=io.StringIO()) == 0
    _same_bytes(tmp_path / "live", tmp_path / "replay")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["drill"], "give a SCENARIO (or a --script that names one)"),
        ([SHIPPED, "--step", "fast"], "--step 'fast': "),
        ([SHIPPED, "--counterfactuals", "-1"], "--counterfactuals: expected 0 or more"),
        ([SHIPPED, "--script", "nope.yml"], "--script nope.yml: no such file"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message, in_root, capsys):
    assert main(["drill", *args[1:]] if args[0] == "drill" else ["drill", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1


def test_a_bad_script_is_refused_before_the_drill_starts(tmp_path, in_root, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text(f"scenario: {DRILL}\ncommands:\n  - {{at: '+1 h', command: 'do dns_repair'}}\n")
    assert main(["drill", "--script", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"{bad}:3:27: commands[0].command: unknown action 'dns_repair' (available:"
    )
    assert not (tmp_path / "o").exists()


# -- a real terminal -------------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket) running one 80x24 session."""

    def __init__(self, command: str) -> None:
        self.socket = f"outage-sim-test-{uuid.uuid4().hex[:8]}"
        self.run("new-session", "-d", "-s", "drill", "-x", "80", "-y", "24", command)

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "drill")

    def type(self, text: str) -> None:
        if text:
            self.run("send-keys", "-t", "drill", "-l", text)  # literal: `end` is not the End key
        self.run("send-keys", "-t", "drill", "Enter")

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_an_interactive_drill_in_a_real_80x24_terminal(tmp_path, in_root):
    out, rec = tmp_path / "tty", tmp_path / "tty.yaml"
    command = (
        f"cd {ROOT} && {sys.executable} -m simulation drill {SHIPPED} --out {out} --record {rec} "
        "--hints guided --counterfactuals 1; echo DRILL-EXITED $?; sleep 60"
    )
    tmux = Tmux(command)
    try:
        tmux.wait_for("BRIEFING  You are the on-call engineer")
        for minute in range(5, 60, 5):
            tmux.type("")
            tmux.wait_for(f"+{minute} min of 5 h")
        tmux.wait_for("ALERTS  4 firing")
        # the screen is drawn top to bottom: wait for its last part before reading it whole
        screen = tmux.wait_for("DynamoDB clients failing (of 200)")
        lines = screen.rstrip("\n").splitlines()
        assert len(lines) <= 24 and max(len(line) for line in lines) <= 80
        assert "PAGE   FIRING        since 23:50:00  dynamodb_client_errors" in screen
        assert "DynamoDB clients failing (of 200)" in screen and "DASHBOARD" in screen
        tmux.type("resolve dynamodb.us-east-1.amazonaws.com")
        tmux.wait_for("no addresses: clients get nothing to connect to")
        tmux.type("do dns_manual_repair disable_automation=true")
        tmux.wait_for("done: dns_manual_repair on region.dynamodb_dns at 2025-10-19T23:55:00")
        tmux.type("end")
        screen = tmux.wait_for("DRILL-EXITED 0", timeout=120)
        assert "time to mitigate: 5 min (historical: 2 h 35 min)" in screen
    finally:
        tmux.close()
    assert (out / "debrief.md").is_file()
    replay = tmp_path / "replay"
    assert (
        main(
            [
                "drill",
                "--script",
                str(rec),
                "--out",
                str(replay),
                "--quiet",
                "--counterfactuals",
                "1",
            ]
        )
        == 0
    )
    _same_bytes(out, replay)
