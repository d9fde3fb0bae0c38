"""Counterfactual variants of the reference (scenarios/variants/*.yaml): each runs, and its
`comparison` against the reference (same seed, same horizon) moves the way its mechanism says.

Each is run on the shortest horizon that shows its effect (`duration=` applies to both sides).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.runner import compare_with_base, simulate
from simulation.scenario.load import load_scenario
from tests.reference_horizon import horizon

VARIANTS = Path(__file__).resolve().parents[1] / "scenarios" / "variants"
REFERENCE = VARIANTS.parent / "aws-us-east-1-2025-10-20.yaml"


def compare(name: str, *overrides: str) -> dict:
    variant = simulate(load_scenario(VARIANTS / name, list(overrides)))
    assert variant.failure is None
    return compare_with_base(variant, list(overrides))


def delta(block: dict, milestone: str) -> float | None:
    return block["milestones"][milestone]["delta_s"]


def test_every_variant_extends_the_reference_and_is_tested():
    here = Path(__file__).read_text()
    for path in sorted(VARIANTS.glob("*.yaml")):
        assert "extends: ../aws-us-east-1-2025-10-20.yaml" in path.read_text(), path.name
        assert f'"{path.name}"' in here, f"{path.name} has no test"


def test_enactor_fix_no_empty_record_no_lease_loss():
    c = compare("enactor-fix.yaml", *horizon(240))
    m = c["milestones"]
    assert m["dns_record_empty"]["base"] is not None and m["dns_record_empty"]["variant"] is None
    assert m["dwfm_state_checks_failing"]["variant"] is None
    assert c["impact"]["dynamodb_dns.client_error_minutes"]["variant"] == 0


@pytest.mark.parametrize(("name", "sign"), [("dns-ttl-short.yaml", -1), ("dns-ttl-long.yaml", +1)])
def test_dns_ttls_move_the_client_recovery(name, sign):
    c = compare(name, *horizon(300))
    assert sign * delta(c, "dns_clients_recovered") > 5 * 60


def test_no_dwfm_restart_no_lease_recovery():
    c = compare("no-dwfm-restart.yaml", *horizon(510))
    leases = c["milestones"]["dwfm_leases_all_restored"]
    assert leases["base"] is not None and leases["variant"] is None


def test_earlier_dwfm_restart_leases_back_earlier():
    c = compare("early-dwfm-restart.yaml", *horizon(510))
    assert delta(c, "dwfm_leases_all_restored") < -40 * 60


def test_dwfm_admission_no_collapse_and_earlier_leases():
    c = compare("dwfm-admission.yaml", *horizon(510))
    assert c["milestones"]["dwfm_congestive_collapse"]["variant"] is None
    assert delta(c, "dwfm_leases_all_restored") < -60 * 60


@pytest.mark.parametrize(("name", "sign"), [("fleet-half.yaml", -1), ("fleet-double.yaml", +1)])
def test_fleet_size_moves_the_lease_recovery(name, sign):
    c = compare(name, *horizon(600))
    d = delta(c, "dwfm_leases_all_restored")
    assert d is not None and sign * d > 10 * 60


def test_nlb_velocity_control_cuts_connection_error_minutes():
    c = compare("nlb-velocity-control.yaml", *horizon(720))
    minutes = c["impact"]["nlb.error_minutes"]
    # Measured 792 vs 1494 (-47%) once launches became DWFM state changes: the base lost its
    # early (02:35) flapping wave, which velocity control used to cut as well. The claim is a
    # substantial cut; a model where velocity control saves less than 40% fails here.
    assert minutes["variant"] < 0.6 * minutes["base"]


def test_asg_replacement_with_a_short_grace_keeps_the_checker_and_network_manager_out_of_it():
    """Measured over seeds 1-20 (docs/nlb.md): with a 300 s grace no Network Manager backlog
    forms in any seed where the race fires, and the NLB wave is over long before 09:36."""
    c = compare("asg-replace-unhealthy.yaml", *horizon(510))
    start = c["milestones"]["nm_backlog_start"]
    assert start["base"] is not None and start["variant"] is None
    resolved = c["milestones"]["nlb_errors_resolved"]  # base: only after 09:36's disable
    assert resolved["base"] is None and resolved["variant"] is not None
