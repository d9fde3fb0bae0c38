"""Bad EC2 input: every new key and action parameter is refused with its exact, located message."""

from __future__ import annotations

import textwrap

import pytest

from simulation.cli import main
from simulation.subsystems.ec2 import Config

HEAD = """\
start: "2025-10-19T23:00:00-07:00"
duration: "1 h"
"""


def validate(tmp_path, monkeypatch, capsys, body: str) -> tuple[int, list[str]]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(HEAD + textwrap.dedent(body))
    code = main(["validate", "bad.yaml"])
    return code, capsys.readouterr().err.strip().splitlines()


def test_ec2_needs_the_dynamodb_dns_section(tmp_path, monkeypatch, capsys):
    code, lines = validate(tmp_path, monkeypatch, capsys, "ec2: {}\n")
    assert code == 2
    assert lines == [
        "bad.yaml:3:6: ec2: EC2 needs the `dynamodb_dns` section: DWFM's state checks read "
        "DynamoDB through "
        "its endpoint dynamodb.us-east-1.amazonaws.com (add a `dynamodb_dns:` section)"
    ]


def test_bad_keys_each_located_with_their_reason(tmp_path, monkeypatch, capsys):
    body = """\
    dynamodb_dns: {}
    ec2:
      fleet:
        azs: [a, a]
      dwfm:
        hostz: 3
        queue: {deadline: "1 min"}
        check_retry: {attempt_timeout: null}
    """
    code, lines = validate(tmp_path, monkeypatch, capsys, body)
    assert code == 2
    assert lines == [
        "bad.yaml:6:10: ec2.fleet.azs: duplicate Availability Zones in ['a', 'a']",
        "bad.yaml:8:5: ec2.dwfm: unknown key 'hostz' (did you mean 'hosts'?)",
        "bad.yaml:9:12: ec2.dwfm.queue: deadline must stay null: each attempt carries its "
        "retry policy's attempt_timeout as its deadline",
        "bad.yaml:10:18: ec2.dwfm.check_retry: attempt_timeout must be set: it is the deadline "
        "of each attempt (e.g. attempt_timeout: '1 min')",
    ]


def test_an_establishment_that_cannot_fit_its_deadline_is_refused(tmp_path, monkeypatch, capsys):
    body = """\
    dynamodb_dns: {}
    ec2:
      dwfm:
        establish_work: 100
    """
    code, lines = validate(tmp_path, monkeypatch, capsys, body)
    assert code == 2
    assert lines == [
        "bad.yaml:5:3: ec2: dwfm.establish_retry.attempt_timeout: re-establishing one batch "
        "takes 74.8 s on an idle host (100 droplets x 0.748 s), not less than the attempt "
        "timeout (60 s): no attempt could ever succeed (raise the timeout or lower "
        "fleet.batch_size)"
    ]


def test_bad_action_parameters(tmp_path, monkeypatch, capsys):
    body = """\
    dynamodb_dns: {}
    ec2: {}
    operators:
      - {at: "+10 min", action: dwfm_restart_hosts, params: {hosts: [7]}}
      - {at: "+10 min", action: dwfm_restart_hosts, name: r2, params: {hosts: 1.5}}
      - {at: "+10 min", action: dwfm_admission, params: {max_waiting: -1}}
      - {at: "+10 min", action: dwfm_throttle, params: {speed: "1/s"}}
    """
    code, lines = validate(tmp_path, monkeypatch, capsys, body)
    assert code == 2
    assert lines[0] == "bad.yaml:6:57: operators[0].params: hosts: no DWFM host 7 (hosts are 0..3)"
    assert lines[1].startswith("bad.yaml:7:75: operators[1].params.hosts: ")
    assert lines[1].endswith("a fraction of hosts must be in (0, 1], got 1.5")
    assert lines[2].startswith("bad.yaml:8:67: operators[2].params.max_waiting: ")
    assert lines[2].endswith("expected a non-negative integer, got -1")
    assert lines[3] == "bad.yaml:9:52: operators[3].params: missing required key 'rate'"
    assert lines[4] == (
        "bad.yaml:9:53: operators[3].params: unknown parameter 'speed' for 'dwfm_throttle' "
        "(accepted: rate, burst, mode, state_changes)"
    )


def test_the_lab_defaults_are_kept_by_a_partial_override():
    cfg = Config(dwfm={"memory": {"memory_limit": "1 TiB"}, "establish_retry": {"cap": "1 min"}})
    assert cfg.dwfm.memory.accesses_per_request == 100_000
    assert cfg.dwfm.memory.compute_time == 0.005
    assert cfg.dwfm.establish_retry.attempt_timeout == 60.0
    assert cfg.dwfm.establish_retry.max_attempts is None
    assert cfg.dwfm.queue.on_expired == "complete"


@pytest.mark.parametrize("key", ["check_retry", "establish_retry"])
def test_attempt_timeouts_are_required(key):
    with pytest.raises(ValueError, match="attempt_timeout must be set"):
        Config(dwfm={key: {"attempt_timeout": None}})
