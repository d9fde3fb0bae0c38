"""The DWFM lab scenario (scenarios/labs/dwfm-collapse.yaml) and its variants, run end to end.

The lab must show: leases lost during the DynamoDB DNS outage, collapse after it ends, recovery
only after throttle + restart; no recovery within the horizon without them (or with only one);
no collapse with admission by queue size; faster recovery with half the fleet; a later rescue,
a later recovery. Same seed, same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulation.outputs import build_summary, metrics_parquet, timeline_csv
from simulation.runner import RunResult, simulate
from simulation.scenario.load import load_scenario

LAB = Path(__file__).resolve().parents[2] / "scenarios" / "labs" / "dwfm-collapse.yaml"
DWFM = "region.ec2.dwfm"
OFF = ("operators.throttle_lease_work.enabled=false", "operators.restart_dwfm_hosts.enabled=false")


def run(*overrides: str) -> RunResult:
    return simulate(load_scenario(LAB, list(overrides)))


def at(result: RunResult, name: str) -> str | None:
    t = result.milestones[name]
    return None if t is None else result.env.clock.iso(t)[11:16]


@pytest.fixture(scope="module")
def lab() -> RunResult:
    return run()


def test_the_lab_meets_its_expectations_in_the_incident_s_order(lab):
    assert lab.status == "ok", [e for e in lab.expectations if not e["ok"]]
    m = lab.milestones
    order = [
        "dns_record_empty",
        "dwfm_state_checks_failing",
        "dns_restored",
        "dwfm_congestive_collapse",
        "nm_backlog_start",
        "dwfm_leases_all_restored",
        "ec2_launches_normal",
    ]
    times = [m[k] for k in order]
    assert None not in times and times == sorted(times)
    assert m["nm_backlog_start"] < m["nm_backlog_cleared"] < m["ec2_launches_normal"]
    stats = lab.statistics[DWFM]
    assert stats["lost_peak"] == 20000 and stats["leased_at_end"] == 20000
    assert stats["collapse_ratio"] > 2 and stats["host_swapping_minutes"] > 60
    assert stats["restarts"] == 4


def test_leases_are_lost_during_the_outage_and_stay_lost_while_collapsed(lab):
    lost = lab.env.recorder.levels[(DWFM, "lost")]
    m = lab.milestones
    assert lost.value_at(m["dns_record_empty"]) == 0
    assert lost.value_at(m["dns_record_empty"] + 20 * 60) == 20000
    # collapsed: between the repair and the rescue the leases do not come back
    rescue = next(t for t, _s, k, _d in lab.env.recorder.events if k == "dwfm_throttle")
    assert lost.time_weighted_mean(m["dwfm_congestive_collapse"] + 600, rescue) > 19000


def test_without_throttle_and_restart_no_recovery_within_the_horizon():
    r = run(*OFF)
    assert r.milestones["dwfm_congestive_collapse"] is not None
    assert r.milestones["dwfm_leases_all_restored"] is None
    assert r.statistics[DWFM]["leased_at_end"] == 0


@pytest.mark.parametrize("keep", OFF)
def test_one_of_the_two_is_not_enough(keep):
    r = run(*(o for o in OFF if o != keep))
    assert r.milestones["dwfm_leases_all_restored"] is None, keep


def test_admission_by_waiting_queue_size_prevents_the_collapse():
    r = run(*OFF, "ec2.dwfm.queue.max_waiting=0")
    assert r.milestones["dwfm_congestive_collapse"] is None
    assert "02:35" < at(r, "dwfm_leases_all_restored") < "03:30"
    assert r.statistics[DWFM]["establishment"]["rejected"] > 0


def test_half_the_fleet_recovers_sooner(lab):
    r = run("ec2.fleet.droplets=10000")
    assert r.milestones["dwfm_leases_all_restored"] < lab.milestones["dwfm_leases_all_restored"]


def test_a_later_rescue_gives_a_later_recovery(lab):
    later = (
        "operators.throttle_lease_work.at=2025-10-20T05:14:00-07:00",
        "operators.restart_dwfm_hosts.at=2025-10-20T05:14:00-07:00",
    )
    r = run(*later)
    delta = r.milestones["dwfm_leases_all_restored"] - lab.milestones["dwfm_leases_all_restored"]
    assert delta == pytest.approx(3600, abs=600)


def test_same_seed_same_bytes(lab):
    again = run()
    assert json.dumps(build_summary(again), sort_keys=True) == json.dumps(
        build_summary(lab), sort_keys=True
    )
    assert timeline_csv(again) == timeline_csv(lab)
    assert metrics_parquet(again) == metrics_parquet(lab)


def test_metrics_stay_small(lab):
    # levels are recorded on change or per window; no per-request rows
    assert len(metrics_parquet(lab)) < 3_000_000
