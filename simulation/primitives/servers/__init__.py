"""Server patterns: accept queues, client connections, worker pools and the five thread layouts.

Modules: `service` (pluggable service time), `worker` (a thread, a pool of threads on one work
queue), `sockets` (accept queue, connections), `clients` (connections that arrive, send requests
and close), `patterns` (the five patterns), `theory` (M/M/1, M/M/c, M/M/c/K formulas). The work
queue itself (discipline, admission, deadlines) is `resilience.admission.WorkQueue`.
"""

from .clients import Clients
from .patterns import (
    PATTERN_NAMES,
    PATTERNS,
    PatternName,
    Server,
    ServerConfig,
    build_server,
)
from .service import ServerView, ServiceTime, ServiceTimeConfig, state_dependent, with_overhead
from .sockets import AcceptQueue, Connection, ConnectionConfig, ListenerConfig, Request
from .worker import Worker, WorkerPool

__all__ = [
    "PATTERNS",
    "PATTERN_NAMES",
    "AcceptQueue",
    "Clients",
    "Connection",
    "ConnectionConfig",
    "ListenerConfig",
    "PatternName",
    "Request",
    "Server",
    "ServerConfig",
    "ServerView",
    "ServiceTime",
    "ServiceTimeConfig",
    "Worker",
    "WorkerPool",
    "build_server",
    "state_dependent",
    "with_overhead",
]
