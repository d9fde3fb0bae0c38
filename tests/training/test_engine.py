"""The engine: investigations read the model without changing it, actions go through the
components' Action objects like scenario operators, every bad command says why."""

from __future__ import annotations

import pytest

from simulation.core import ScenarioError, UserInputError
from simulation.outputs import build_summary, metrics_parquet
from simulation.training.engine import DrillSetup, Engine
from simulation.training.screens import plain

from .conftest import DRILL, drive, minutes

REPAIR = "do dns_manual_repair disable_automation=true"
LOOKS = [
    "ack all",
    "resolve dynamodb.us-east-1.amazonaws.com",
    "resolve dynamodb.us-east-1.amazonaws.com TXT",
    "show region.dynamodb_dns",
    "show",
    "logs region.dynamodb_dns 3",
    "deps console_signin",
    "status",
    "dash",
    "alerts",
    "actions",
    "actions pin_endpoint",
    "help",
]


def _text(engine: Engine, command: str) -> str:
    reply = engine.execute(command)
    assert not reply.error, plain(reply.body)
    return plain(reply.body)


def test_looking_never_changes_the_model():
    acting = [(minutes(75), "do pin_endpoint services=[sts]"), (minutes(95), REPAIR)]
    quiet = drive(acting)
    busy = drive(
        sorted(
            acting + [(minutes(m), c) for m in (50, 60, 80, 96) for c in LOOKS], key=lambda x: x[0]
        )
    )
    a, b = quiet.finish(), busy.finish()
    assert metrics_parquet(a) == metrics_parquet(b)
    assert build_summary(a) == build_summary(b)
    commands = [e for e in b.env.recorder.events if e[2] == "drill_command"]
    # views (status, dash, alerts, actions, help) are not recorded; the rest are, in order
    assert len(commands) == 4 * 7 + 2
    assert commands[0][1:] == ("region.operators", "drill_command", "ack all")


def test_resolve_asks_the_simulated_name_servers_as_a_fresh_client():
    engine = drive([])
    engine.advance_to(minutes(30))
    before = _text(engine, "resolve dynamodb.us-east-1.amazonaws.com")
    assert "via region.dynamodb_dns.route53: NOERROR" in before
    # weighted records: a client gets one load balancer's two addresses, for the record's TTL
    assert "2 answer(s), TTL 1 min: 10.1." in before
    engine.advance_to(minutes(60))  # the record emptied at 23:48
    after = _text(engine, "resolve dynamodb.us-east-1.amazonaws.com")
    assert "no addresses: clients get nothing to connect to; cached 15 min (negative)" in after
    assert engine.typed[-1].touched == ("region.dynamodb_dns.route53",)


def test_show_reads_levels_and_deps_reads_the_graph():
    engine = drive([])
    engine.advance_to(minutes(60))
    shown = _text(engine, "show region.dynamodb_dns")
    assert "regional_addresses (addresses)     0" in shown
    assert "children: planner, route53, enactor[az1]" in shown
    deps = _text(engine, "deps sts")
    words = " ".join(deps.split())
    assert "needs dynamodb name_resolution hard" in words
    assert "needed by console_signin calls hard errors 100%" in words
    assert "errors 100%" in deps


def test_a_trainee_action_is_an_operator_action_of_the_run():
    engine = drive([(minutes(75), "pin_endpoint services=[sts]")])  # `do` may be left out
    result = engine.finish()
    assert result.operator_actions == [
        {
            "name": "pin_endpoint",
            "action": "pin_endpoint",
            "target": "region.services",
            "time": "2025-10-20T00:15:00-07:00",
            "note": "trainee: pin_endpoint services=[sts]",
            "actor": "trainee",
        }
    ]
    rows = [e for e in result.env.recorder.events if e[2] == "operator_action"]
    assert rows == [
        (
            4500.0,
            "region.operators",
            "operator_action",
            "trainee: pin_endpoint on region.services (services=['sts'])",
        )
    ]
    sts = result.impact["services"]["sts"]["windows"]
    assert sts[0][1] == "2025-10-20T00:15:00-07:00"


def test_the_scenarios_own_actions_are_off_unless_kept():
    off = drive([]).finish()
    assert off.operator_actions == [] and off.milestones["dns_restored"] is None
    kept = drive([], keep_operators=True).finish()
    assert [a["name"] for a in kept.operator_actions] == ["partial_mitigation", "dns_manual_repair"]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("fix it", "unknown command 'fix'; `help` lists the commands"),
        ("do", "usage: do ACTION [@SCOPE] [key=value ...]; see `actions`"),
        (
            "do dns_repair",
            "unknown action 'dns_repair' (available: {available})",
        ),
        (
            "do dns_manual_repair bogus=1",
            "unknown parameter 'bogus' for 'dns_manual_repair' (accepted: generation, "
            "disable_automation)",
        ),
        (
            "do dns_manual_repair generation=0",
            "dns_manual_repair generation: Input should be greater than or equal to 1",
        ),
        ("do dns_manual_repair now", "expected KEY=VALUE or @SCOPE, got 'now'"),
        (
            "do pin_endpoint services=[stss]",
            "pin_endpoint: unknown service 'stss' (services: lambda, sts, console_signin)",
        ),
        (
            "do pin_endpoint @region.ec2 services=[sts]",
            "no 'region.ec2' offers 'pin_endpoint' (offered by: region.services)",
        ),
        (
            "show region.dynamodb",
            "no component 'region.dynamodb' (did you mean region.dynamodb_dns, "
            "region.dynamodb_dns.route53, region.dynamodb_dns.planner?); `show` lists the top level",
        ),
        ("deps lamda", "no service 'lamda' in the dependency graph (did you mean lambda?)"),
        (
            "resolve example.org",
            "no simulated zone holds example.org. (zones: us-east-1.amazonaws.com.)",
        ),
        (
            "ack pager",
            "no alert 'pager' (alerts: dynamodb_client_errors, lambda_errors, sts_errors, signin_errors)",
        ),
        ("step 0 s", "step needs a positive duration, e.g. `step 10 min`"),
        ("truth", "`truth` is for the game master (outage-sim drill --game-master)"),
        ('resolve "x', "cannot read the command: No closing quotation"),
    ],
)
def test_bad_commands_say_why_and_change_nothing(command, message):
    engine = drive([])
    message = message.replace("{available}", ", ".join(sorted(engine.offered)))
    reply = engine.execute(command)
    assert (
        reply.error and plain(reply.body).replace("\n", " ").split() == f"error: {message}".split()
    )
    assert engine.typed == [] and engine.now == 0


def test_steps_next_and_end():
    engine = drive([])
    engine.execute("")
    assert engine.now == 300
    engine.execute("step 25 min")
    assert engine.now == 1800
    engine.execute("next")  # the first pages fire at 23:50:00, seen at the end of that check
    assert engine.now == minutes(50) + 30 and engine.firing()
    engine.execute("next")
    assert engine.now == minutes(51) + 30 and "signin_errors" in engine.firing()
    engine.execute("next")  # no repair: nothing changes for 12 steps
    assert engine.now == minutes(51) + 30 + 12 * 300
    engine.execute("end")
    assert engine.finished and engine.now == engine.end


def test_the_game_master_sees_the_truth():
    drilled, _ = DrillSetup(DRILL).load()
    engine = Engine(drilled, game_master=True, historical_actions=[("02:25", "dns_manual_repair")])
    engine.advance_to(minutes(60))
    truth = _text(engine, "truth")
    assert "root cause region.dynamodb_dns" in truth
    assert "23:48:24   dns_record_empty" in truth
    assert "customer impact so far: 44.3" in truth
    assert "TRUTH  cause region.dynamodb_dns | 3 milestones" in _text(engine, "status")


@pytest.mark.parametrize(
    "lab",
    ["server-patterns.yaml", "memory-pressure.yaml", "congestive-collapse.yaml", "dns-race.yaml"],
)
def test_any_scenario_can_be_drilled_without_a_drill_section(lab):
    from .conftest import ROOT

    drilled, _ = DrillSetup(ROOT / "scenarios/labs" / lab).load()
    engine = Engine(drilled, step=10)
    engine.advance()
    assert engine.drill is None and engine.rows, "the dashboard comes from the report plots"
    for command in ("status", "dash", "show", f"show {engine.root.children[0].scope}", "actions"):
        reply = engine.execute(command)
        assert not reply.error, plain(reply.body)
    assert "this scenario defines none: watch the dashboard" in plain(engine.execute("status").body)


def test_a_model_error_in_an_action_ends_the_drill_with_a_failed_run():
    from simulation.core import Action

    engine = drive([])
    comp, action = engine.offered["pin_endpoint"][0]

    def broken(_params):
        raise ZeroDivisionError("boom")

    engine.offered["pin_endpoint"] = [(comp, Action("pin_endpoint", broken, action.params))]
    engine.advance_to(minutes(60))
    reply = engine.execute("do pin_endpoint services=[sts]")
    assert (
        "the model failed: model error in pin_endpoint at sim time 3600 s: ZeroDivisionError: boom"
        in (" ".join(plain(reply.body).split()))
    )
    assert engine.finished
    result = engine.finish()
    assert result.status == "failed" and result.end == minutes(60)
    assert "ZeroDivisionError" in result.failure_detail


def test_ctrl_c_at_the_prompt_writes_a_failed_run_without_a_debrief(tmp_path, in_root):
    import io

    from rich.console import Console

    from simulation.training.session import DrillOptions, run_drill

    keys = iter(["", "", "ack all"])

    def read(_prompt):
        try:
            return next(keys)
        except StopIteration:
            raise KeyboardInterrupt from None

    out = tmp_path / "o"
    opts = DrillOptions(DRILL, out=out, counterfactuals=0)
    console = Console(file=io.StringIO(), width=80, height=24)
    assert run_drill(opts, stdout=io.StringIO(), console=console, read=read) == 1
    summary = (out / "summary.json").read_text()
    assert '"status": "failed"' in summary and "interrupted at sim time 600 s" in summary
    assert not (out / "debrief.md").exists()
    assert 'command: "ack all"' in (out / "drill-script.yaml").read_text()


def test_the_faults_own_operator_entries_stay_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "d.yaml"
    path.write_text(f"extends: {DRILL}\ndrill:\n  inputs: [partial_mitigation]\n")
    drilled, _ = DrillSetup(path).load()
    assert [(e.key, e.enabled) for e in drilled.model.operators] == [
        ("dns_manual_repair", False),
        ("partial_mitigation", True),
    ]
    by_option, _ = DrillSetup(DRILL, keep=("dns_manual_repair",)).load()
    assert [e.enabled for e in by_option.model.operators] == [True, False]
    path.write_text(f"extends: {DRILL}\ndrill:\n  inputs: [break_it]\n")
    with pytest.raises(ScenarioError) as err:
        DrillSetup(path).load()
    assert str(err.value) == (
        "d.yaml:3:12: drill.inputs[0]: no operator entry 'break_it' (entries: "
        "dns_manual_repair, partial_mitigation)"
    )
    with pytest.raises(UserInputError) as err:
        DrillSetup(DRILL, keep=("repair",)).load()
    assert str(err.value) == (
        "--keep repair: no operator entry of that name (dns_manual_repair, partial_mitigation)"
    )
