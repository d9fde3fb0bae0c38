"""Queueing theory the server patterns are validated against (and labs quote beside results).

Notation: arrival rate `lam`, service rate per worker `mu`, `c` workers, offered load
`a = lam / mu` (Erlangs), utilisation `rho = a / c`. Waits are times in queue (W_q), excluding
service.
"""

from __future__ import annotations

import math


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c (Erlang B), by the stable recursion B(k) = aB/(k + aB)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c (Erlang C); requires a < c."""
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue of M/M/c: C(c, a) / (c mu - lam); infinite when unstable."""
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_quantile(lam: float, mu: float, c: int, q: float) -> float:
    """The q-quantile of the M/M/c wait: P(W > t) = C exp(-(c mu - lam) t)."""
    pw = erlang_c(c, lam / mu)
    if q <= 1.0 - pw:
        return 0.0
    return math.log(pw / (1.0 - q)) / (c * mu - lam)


def mm1_mean_wait(lam: float, mu: float) -> float:
    """Mean time in queue of M/M/1: rho / (mu - lam)."""
    return mmc_mean_wait(lam, mu, 1)


def mm1_sojourn_quantile(lam: float, mu: float, q: float) -> float:
    """The q-quantile of M/M/1 response time (wait + service), exponential with rate mu - lam."""
    if lam >= mu:
        return math.inf
    return -math.log(1.0 - q) / (mu - lam)


def mmck_probabilities(lam: float, mu: float, c: int, k: int) -> list[float]:
    """Stationary distribution of the number in an M/M/c/K system (K = c + room to wait)."""
    if k < c:
        raise ValueError(f"capacity K={k} is below the number of servers c={c}")
    a = lam / mu
    terms = [1.0]
    for n in range(1, k + 1):
        terms.append(terms[-1] * a / min(n, c))
    total = sum(terms)
    return [t / total for t in terms]


def mmck_blocking(lam: float, mu: float, c: int, k: int) -> float:
    """Probability an arrival finds an M/M/c/K system full and is lost (PASTA)."""
    return mmck_probabilities(lam, mu, c, k)[-1]
