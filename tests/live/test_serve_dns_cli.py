"""`outage-sim serve-dns` as a user runs it: a real process, real queries, Ctrl-C; and every bad
option as one exact line with exit code 2."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from simulation.cli import main

from .conftest import DURING, ENDPOINT, RACE, ROOT


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "simulation", "serve-dns", str(RACE), "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(proc: subprocess.Popen, needle: str, seen: list[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return line
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"{needle!r} never printed:\n{''.join(seen)}")


def port_of(line: str) -> int:
    return int(line.split("listening on 127.0.0.1:")[1].split()[0])


def query(port: int, qname: str = ENDPOINT) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(qname, "A"), "127.0.0.1", port=port, timeout=5)


def test_frozen_moment_answers_and_ctrl_c_stops_cleanly():
    proc, seen = start("--at", DURING), []
    try:
        port = port_of(wait_for(proc, "listening on", seen))
        status = wait_for(proc, "sim ", seen)
        assert "sim 2025-10-20T01:00:00-07:00 (start + 2 h) | dynamodb: EMPTY (NODATA)" in status
        r = query(port)
        assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority[0].ttl == 900
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped: 1 queries answered (NOERROR 1)" in out
    assert err == ""
    text = "".join(seen)
    assert "simulating to 2025-10-20T01:00:00-07:00 and freezing there" in text
    assert f"try: dig @127.0.0.1 -p {port} {ENDPOINT} A" in text


def test_replay_follows_the_wall_clock_through_the_race():
    # 1 wall second = 1 h of sim from 23:40: the record empties about 0.15 s in, and the
    # replay freezes at the end (03:00) with the repair (02:25) served.
    proc, seen = start("--speed", "3600", "--from", "+40 min"), []
    try:
        port = port_of(wait_for(proc, "listening on", seen))
        assert "replaying from 2025-10-19T23:40:00-07:00 at 3600x" in "".join(seen)
        wait_for(proc, "dynamodb: EMPTY (NODATA)", seen)
        wait_for(proc, "frozen at the scenario's end", seen)
        r = query(port)
        assert r.rcode() == dns.rcode.NOERROR and r.answer and r.answer[0].ttl == 60
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    lines = [line for line in seen if line.startswith("  sim ")]
    assert "dynamodb: 8 addresses" in lines[0] and "EMPTY" in lines[1]
    assert "dynamodb: 8 addresses" in lines[-1]


def bad(capsys, *args: str) -> str:
    code = main(["serve-dns", str(RACE), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    return err.strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port 70000: expected 0 (any free port) to 65535"),
        (
            ["--speed", "0"],
            "--speed 0: expected a positive number (sim seconds per wall second)",
        ),
        (
            ["--speed", "nan"],
            "--speed nan: expected a positive number (sim seconds per wall second)",
        ),
        (
            ["--at", "start", "--from", "start"],
            "--from goes with --speed; --at already says which moment to serve",
        ),
        (
            ["--address", "localhost"],
            "--address 'localhost': expected an IP address such as 127.0.0.1 or ::1",
        ),
        (
            ["--at", "2025-10-21T00:00:00-07:00"],
            "--at '2025-10-21T00:00:00-07:00': outside the scenario, which runs from "
            "2025-10-19T23:00:00-07:00 to 2025-10-20T03:00:00-07:00",
        ),
        (
            ["--from", "soon"],
            "--from 'soon': expected start, end, an ISO-8601 time with offset such as "
            "'2025-10-19T23:50:00-07:00', or an offset from the start such as '+50 min'",
        ),
    ],
)
def test_bad_options_are_one_exact_line(capsys, args, message):
    assert bad(capsys, *args) == message


def test_at_and_speed_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve-dns", str(RACE), "--at", "start", "--speed", "2"])
    assert exit_.value.code == 2
    assert "argument --speed: not allowed with argument --at" in capsys.readouterr().err


def test_a_scenario_without_a_zone_is_refused(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = main(["serve-dns", str(ROOT / "scenarios/labs/server-patterns.yaml"), "--at", "start"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "scenarios/labs/server-patterns.yaml: this scenario has no authoritative DNS zone to "
        "serve (serve-dns needs e.g. a dynamodb_dns: section)"
    )


def test_a_port_in_use_is_a_user_error(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert bad(capsys, "--at", "start", "--port", str(port)) == (
            f"cannot listen on 127.0.0.1:{port} (UDP and TCP): Address already in use "
            "(another server there? choose one with --port)"
        )
