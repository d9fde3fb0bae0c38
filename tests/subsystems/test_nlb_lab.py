"""The NLB flapping lab end to end: flapping -> checker degradation -> AZ failover -> connection
errors; disabling failover ends them; velocity control cuts them (same seed); no backlog, no
flapping; operator actions moved in time move the outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from simulation.core import Component, Results, SimEnv
from simulation.core.units import parse_timestamp
from simulation.runner import RunResult, simulate
from simulation.scenario.load import load_scenario
from simulation.subsystems.nlb import Config, Nlb, build

LABS = Path(__file__).resolve().parents[2] / "scenarios" / "labs"
LAB = LABS / "nlb-flapping.yaml"
VELOCITY = LABS / "nlb-flapping-velocity.yaml"
SCOPE = "region.nlb"
H = 3600.0
DISABLE = 5 * H + 6 * 60  # 09:36 in the lab (start 04:30)


@pytest.fixture(scope="module")
def base() -> RunResult:
    return simulate(load_scenario(LAB))


@pytest.fixture(scope="module")
def velocity() -> RunResult:
    return simulate(load_scenario(VELOCITY))


def lab_config(**changes: Any) -> dict[str, Any]:
    cfg = yaml.safe_load(LAB.read_text())["nlb"]
    cfg.update(changes)
    return cfg


def run_config(cfg: dict[str, Any], until: float, actions=()) -> tuple[Nlb, Results, dict]:
    env = SimEnv(parse_timestamp("2025-10-20T04:30:00-07:00"), 1)
    nlb = build(Component(env, "region"), Config(**cfg))
    for at, name in actions:
        action = next(a for a in nlb.actions() if a.name == name)
        env.timeout(at).callbacks.append(lambda _e, action=action: action.run(None))
    env.run(until)
    results = Results(env, until)
    return nlb, results, {k: detect(results) for k, detect in nlb.detectors().items()}


def test_flapping_degrades_the_checker_fails_azs_over_and_nlbs_fail_until_failover_is_off(base):
    assert base.status == "ok", base.expectations
    m = base.milestones
    assert m["nlb_hc_failures_start"] < m["nlb_first_az_failover"]
    assert m["nlb_checker_degraded"] < m["nlb_connection_errors_start"] < DISABLE
    # errors end once every AZ is back in DNS and clients re-resolved (30 s + 60 s TTL)
    assert DISABLE <= m["nlb_errors_resolved"] <= DISABLE + 30.0 + 60.0 + 1.0
    impact = base.impact["nlb"]
    assert impact["error_minutes"] > 200 and impact["nlbs_with_errors"] >= 4
    # api (78% busy) fails with one AZ out: 1 - 1200/1400 of the demand reaching the others
    assert impact["per_nlb"]["api-0"]["peak_error_rate"] >= round(1 - 1200 / 1400, 4) / 3
    stats = base.statistics[SCOPE]
    assert stats["az_failovers"] > 100 and stats["dns_fail_opens"] > 0
    # no error after the resolution: the checker recovered once the backlog cleared, and
    # re-enabling failover at 14:09 takes nothing out
    errors = base.env.recorder.levels[(SCOPE, "nlbs_with_errors")]
    assert errors.first_time(lambda v: v > 0, after=m["nlb_errors_resolved"] + 1.0) is None
    for az in ("az1", "az2", "az3"):
        late = base.env.recorder.levels[(f"{SCOPE}.checker[{az}]", "late_share")]
        assert late.first_time(lambda v: v > 0, after=8 * H) is None
    # sampled connections fail as often as the NLBs' error rates say (same rate on each NLB)
    per = impact["per_nlb"].values()
    duration = base.end
    demand = {lb.label: lb.demand for lb in base.root.find(SCOPE).balancers}
    expected = sum(
        v["failed_connections"] / (demand[k] * duration) for k, v in impact["per_nlb"].items()
    ) / len(per)
    observed = stats["sampled_connections_failed"] / stats["sampled_connections"]
    assert observed == pytest.approx(expected, rel=0.25)


def test_velocity_control_cuts_the_error_minutes_with_the_same_degradation(base, velocity):
    assert velocity.status == "ok", velocity.expectations
    cut = velocity.impact["nlb"]["error_minutes"] / base.impact["nlb"]["error_minutes"]
    assert cut < 0.25
    # the checker degrades just the same: velocity control limits what its verdicts remove
    for key in ("nlb_hc_failures_start", "nlb_checker_degraded", "nlb_first_az_failover"):
        assert velocity.milestones[key] == base.milestones[key]
    stats = velocity.statistics[SCOPE]
    assert stats["failovers_deferred"] > 0
    assert stats["az_failovers"] < base.statistics[SCOPE]["az_failovers"] / 4


def test_without_the_propagation_backlog_nothing_flaps():
    cfg = lab_config()
    cfg["launcher"] = dict(cfg["launcher"], propagation=[{"at": "0 s", "delay": "2 s"}])
    nlb, _results, m = run_config(cfg, DISABLE)
    assert nlb.launcher.launched > 1500
    assert all(c.flaps == 0 and c.failed_late == 0 for c in nlb.checkers.values())
    assert m["nlb_hc_failures_start"] is None and m["nlb_connection_errors_start"] is None


def test_disabling_failover_earlier_ends_the_errors_earlier():
    at = 3 * H  # 07:30
    _nlb, _results, m = run_config(lab_config(), 4 * H, [(at, "nlb_failover_disable")])
    assert m["nlb_connection_errors_start"] < at <= m["nlb_errors_resolved"] <= at + 91.0


def test_left_alone_the_degradation_outlives_the_backlog():
    """Metastable: without the operators, flaps keep the checker past its capacity after the
    propagation backlog has cleared (10:36): DNS updates of the flaps it causes sustain it."""
    nlb, results, m = run_config(lab_config(), 7 * H)
    assert m["nlb_errors_resolved"] is None
    errors = results.level(SCOPE, "nlbs_with_errors")
    assert errors.first_time(lambda v: v > 0, after=6.5 * H) is not None  # after 11:00
    assert all(c.degraded for c in nlb.checkers.values())
