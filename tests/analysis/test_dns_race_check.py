"""The exhaustive check of the DNS automation: finds the incident, proves the fix, shortest traces."""

from __future__ import annotations

import networkx as nx
import pytest

from simulation.analysis.dns_race_check import PROPERTIES, check


@pytest.fixture(scope="module")
def unfixed():
    return check(keep_graph=True)


@pytest.fixture(scope="module")
def fixed():
    return check(fixed=True, keep_graph=True)


def test_default_configuration_finds_the_race(unfixed):
    assert unfixed.violation
    assert set(unfixed.violations) == set(PROPERTIES)
    # deterministic exploration: the same graph every time (see the module docstring)
    assert (unfixed.states, unfixed.transitions) == (12390, 27085)
    trace = unfixed.counterexample
    assert trace == unfixed.violations["active_plan_never_deleted"]
    last = trace[-1]
    assert last.action == "cleanup" and "PLAN DELETED" in last.dns
    stale = [s for s in trace if s.action == "apply" and "was g" in s.detail]
    assert stale, "the race needs a stale apply over a newer plan"
    assert [s.number for s in trace] == list(range(1, len(trace) + 1))


def test_counterexamples_are_shortest(unfixed):
    graph = unfixed.graph
    depth = nx.single_source_shortest_path_length(graph, unfixed.start)
    for prop in ("active_plan_never_deleted", "regional_never_empty"):
        nearest = min(d for n, d in depth.items() if prop in graph.nodes[n]["violated"])
        assert len(unfixed.violations[prop]) == nearest
    stale_edges = [u for u, _v, stale in graph.edges(data="stale_apply") if stale]
    assert len(unfixed.violations["no_stale_apply"]) == 1 + min(depth[u] for u in stale_edges)


def test_the_fix_is_clean(fixed):
    assert not fixed.violation and fixed.counterexample == []
    assert (fixed.states, fixed.transitions) == (6312, 14189)
    assert not any(v for _n, v in fixed.graph.nodes(data="violated"))
    text = fixed.format()
    assert "no violation" in text and "6,312 states" in text


def test_report_names_every_property_and_prints_the_trace(unfixed):
    text = unfixed.format()
    assert text.startswith("dns-race check: 1 Planner, 2 Enactors, 5 generations")
    assert "VIOLATION: 3 of 3 properties fail" in text
    assert "Shortest counterexample for 'the active plan is never deleted':" in text
    assert f"{len(unfixed.counterexample):>3}. enactor" in text
    assert "DNS: dynamodb -> g" in text


def test_one_enactor_cannot_race():
    result = check(enactors=1)
    assert not result.violation


def test_a_threshold_beyond_the_plans_deletes_nothing_but_stale_applies_remain():
    result = check(threshold=5)
    assert set(result.violations) == {"no_stale_apply"}


def test_more_endpoints_still_race_and_the_fix_still_holds():
    assert "active_plan_never_deleted" in check(endpoints=2, generations=4).violations
    assert not check(endpoints=2, generations=4, fixed=True).violation
