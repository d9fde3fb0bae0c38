"""Closed forms the connection model is checked against, and the defaults the rules quote.

- Idle-timeout race. A client sends on a keep-alive connection a think time `g` after it read
  the previous response; the server closes the connection `keepalive` after it sent that
  response. With one-way delay d = rtt/2 and read time r, the request is lost iff it reaches the
  server after the close and leaves the client before the server's FIN arrives:
  `keepalive - rtt - r < g < keepalive - r` (and `g < client_idle`, or the client closes first).
  For exponential think times of rate `rate` the probability is the exponential's mass there.
  The window is empty when `client_idle <= keepalive - rtt - r`: the server's keep-alive timeout
  must exceed the caller's idle timeout.
- GOAWAY (RFC 9113 6.8). Streams the client sends within one round trip around a GOAWAY carrying
  the current last id (from d before it is sent until it arrives) are above that id: refused.
  A first GOAWAY(2^31-1) followed after `wait` by the real last id refuses only the streams sent
  in the last `rtt - wait` of that window: none when the wait is at least one round trip.
"""

from __future__ import annotations

import math

IDLE_TIMEOUTS: dict[str, float] = {"alb": 60.0, "nlb": 350.0, "nginx": 75.0, "nodejs": 5.0}
"""Default idle (keep-alive) timeouts, seconds: ALB 60 s, NLB 350 s, nginx 75 s, Node.js 5 s."""
ELB_DEREGISTRATION_DELAY = 300.0
"""ELB's default deregistration delay (connection draining), seconds."""
BROWSER_CONNECTIONS_PER_HOST = 6
"""Connections browsers open per host for HTTP/1.1."""


def idle_race_safe(caller_idle: float | None, server_keepalive: float | None) -> bool:
    """The rule: a server's keep-alive timeout must exceed its caller's idle timeout."""
    if server_keepalive is None:
        return True
    return caller_idle is not None and server_keepalive > caller_idle


def idle_race_probability(
    rate: float,
    server_keepalive: float | None,
    client_idle: float | None,
    rtt: float,
    response_read: float = 0.0,
) -> float:
    """Probability that one request, sent after an exponential think time, meets the race."""
    if server_keepalive is None:
        return 0.0
    lo = max(server_keepalive - rtt - response_read, 0.0)
    hi = server_keepalive - response_read
    if client_idle is not None:
        hi = min(hi, client_idle)
    if hi <= lo:
        return 0.0
    return math.exp(-rate * lo) - math.exp(-rate * hi)


def goaway_refused_expected(rate: float, rtt: float, wait: float | None = None) -> float:
    """Expected streams refused on one connection carrying Poisson streams at `rate`.

    `wait=None`: a single GOAWAY with the current last id; otherwise the double GOAWAY with
    `wait` between its two frames.
    """
    window = rtt if wait is None else max(rtt - wait, 0.0)
    return rate * window
