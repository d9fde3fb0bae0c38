"""`dig` (BIND's client, Debian's dnsutils) against the running server, over UDP and TCP."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import ENDPOINT, ORIGIN
from .test_wire import REGIONAL

DIG = shutil.which("dig")
pytestmark = pytest.mark.skipif(
    DIG is None,
    reason="dig not installed (Debian: apt-get install dnsutils; .ci/run installs it when apt "
    "is available); the dnspython-client tests in test_server.py still run",
)


def dig(server, *args: str) -> str:
    cmd = [DIG, "@127.0.0.1", "-p", str(server.port), "+tries=1", "+time=3", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def status(out: str) -> str:
    return re.search(r"status: (\w+)", out).group(1)


def records(out: str, section: str) -> list[list[str]]:
    """The record lines of `section` (ANSWER, AUTHORITY) of dig's default output, split."""
    m = re.search(rf";; {section} SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    return [line.split() for line in m.group(1).splitlines()] if m else []


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_gets_addresses_with_the_modelled_ttl_before_the_race(before_server, transport):
    out = dig(before_server, ENDPOINT, "A", transport)
    assert status(out) == "NOERROR" and re.search(r"flags: qr aa", out)
    answer = records(out, "ANSWER")
    assert len(answer) == 2
    for owner, ttl, cls, rtype, address in answer:
        assert (owner, ttl, cls, rtype) == (ENDPOINT + ".", "60", "IN", "A")
        assert address in REGIONAL
    short = dig(before_server, ENDPOINT, "A", "+short").split()
    assert len(short) == 2 and set(short) <= REGIONAL


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_gets_noerror_no_answer_and_the_soa_while_the_record_is_empty(during_server, transport):
    out = dig(during_server, ENDPOINT, "A", transport)
    assert status(out) == "NOERROR" and "ANSWER: 0," in out
    ((owner, ttl, cls, rtype, *_soa),) = records(out, "AUTHORITY")
    assert (owner, ttl, cls, rtype) == (ORIGIN + ".", "900", "IN", "SOA")


def test_dig_gets_nxdomain_for_unknown_names(during_server):
    out = dig(during_server, "no-such-endpoint." + ORIGIN, "A")
    assert status(out) == "NXDOMAIN" and records(out, "AUTHORITY")[0][3] == "SOA"


def test_dig_gets_refused_for_other_zones(before_server):
    assert status(dig(before_server, "www.example.com", "A")) == "REFUSED"


def test_dig_without_edns_and_other_types(before_server):
    out = dig(before_server, ENDPOINT, "A", "+noedns")
    assert status(out) == "NOERROR" and "OPT PSEUDOSECTION" not in out
    out = dig(before_server, ENDPOINT, "MX")
    assert status(out) == "NOERROR" and "ANSWER: 0," in out and records(out, "AUTHORITY")
    assert status(dig(before_server, "version.bind", "CH", "TXT")) == "REFUSED"
    assert status(dig(before_server, ENDPOINT, "ANY")) == "NOTIMP"
