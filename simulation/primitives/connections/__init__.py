"""Connections: HTTP/1.1 keep-alive and `Connection: close`, HTTP/2 GOAWAY, idle timeouts,
per-host pools, staged and immediate closes, drains.

Modules: `connection` (one connection seen from both ends, one request on it), `client` (per-host
pools, transparent retries, outcomes), `server` (keep-alive, close, shutdown strategies, the
target group a load balancer drains), `theory` (the idle-timeout race, GOAWAY refusals, defaults).

    group = TargetGroup(rng, [Server(parent, "server", index=i) for i in range(3)])
    pool = ClientPool(env, ClientConfig(protocol="h2"), rng, group.resolve, owner=component)
    result = yield from pool.request("api", idempotent=False)   # inside a process
    group.deregister(group.in_service[0], "double_goaway", drain=300.0)
"""

from .client import (
    CLIENT_ERRORS,
    ERROR_RESPONSE,
    OK,
    OUTCOMES,
    REFUSED,
    RESET,
    RETRIED_OK,
    UNAVAILABLE,
    ClientConfig,
    ClientPool,
    RequestResult,
)
from .connection import H2, HTTP1, MAX_STREAM_ID, Connection, Protocol, Stream
from .server import (
    STRATEGIES,
    CloseMode,
    Server,
    ServerConfig,
    ShutdownParams,
    ShutdownStrategy,
    TargetGroup,
)

__all__ = [
    "CLIENT_ERRORS",
    "ERROR_RESPONSE",
    "H2",
    "HTTP1",
    "MAX_STREAM_ID",
    "OK",
    "OUTCOMES",
    "REFUSED",
    "RESET",
    "RETRIED_OK",
    "STRATEGIES",
    "UNAVAILABLE",
    "ClientConfig",
    "ClientPool",
    "CloseMode",
    "Connection",
    "Protocol",
    "RequestResult",
    "Server",
    "ServerConfig",
    "ShutdownParams",
    "ShutdownStrategy",
    "Stream",
    "TargetGroup",
]
