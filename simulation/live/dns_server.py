"""Real DNS over UDP and TCP, answered from a running (or frozen) simulation.

`DnsServer` listens on one address and port for both transports (asyncio, one thread) and hands
every packet to a `wire.Responder`. UDP: one datagram in, at most one out. TCP (RFC 1035 4.2.2,
RFC 7766): 2-byte length-prefixed messages, read however they are split into segments, several
per connection answered in order; a connection idle for `idle_timeout` seconds, or one that
sends something that cannot be answered (shorter than a header, a response), is closed. At most
`max_connections` TCP connections are open at once; more are closed on arrival.

`LiveDns` runs the server and the sim-time driver in the same event loop: the simulation advances
between packets, in bounded slices (see `driver.Replay`), so a query always sees a whole state
and nothing needs a lock. `LiveDnsThread` runs a `LiveDns` in a background thread (for tests and
for tools that need the server next to other work).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Callable

from .driver import Replay, SimDriver
from .wire import Responder

_LENGTH = struct.Struct("!H")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            out = self.server.responder.respond(data, tcp=False)
            if out is not None and self.transport is not None:
                self.transport.sendto(out, addr)
        except Exception:  # e.g. a send to an unreachable address: drop, keep serving
            self.server.responder.counts["send_errors"] += 1

    def error_received(self, exc: Exception) -> None:
        """ICMP errors for earlier replies (port unreachable): nothing to do."""


class DnsServer:
    """UDP and TCP listeners on `address:port` (port 0: a free port, the same for both)."""

    def __init__(
        self,
        responder: Responder,
        address: str = "127.0.0.1",
        port: int = 5353,
        idle_timeout: float = 10.0,
        max_connections: int = 128,
    ) -> None:
        self.responder = responder
        self.address = address
        self.port = port
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._clients: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Bind both sockets (raises OSError if the address or port cannot be had)."""
        loop = asyncio.get_running_loop()
        for attempt in range(20):
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.address, self.port)
            )
            port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(
                    self._client, self.address, port, reuse_address=True
                )
            except OSError:
                self._udp.close()
                if self.port != 0 or attempt == 19:
                    raise
                continue  # the free UDP port is taken for TCP: try another one
            self.port = port
            return

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._clients):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        self.connections += 1
        try:
            if self.connections <= self.max_connections:
                await self._serve_connection(reader, writer)
            else:
                self.responder.counts["connections_refused"] += 1
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass  # the client went away, sent half a message, or idled: close
        except asyncio.CancelledError:
            pass  # the server is closing
        except Exception:  # the last line: a bug must not escape into the event loop
            self.responder.counts["internal_errors"] += 1
        finally:
            self.connections -= 1
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        idle = self.idle_timeout
        while True:
            (length,) = _LENGTH.unpack(await asyncio.wait_for(reader.readexactly(2), idle))
            wire = await asyncio.wait_for(reader.readexactly(length), idle)
            out = self.responder.respond(wire, tcp=True)
            if out is None:
                return
            writer.write(_LENGTH.pack(len(out)) + out)
            await asyncio.wait_for(writer.drain(), idle)


StatusFn = Callable[[SimDriver, Responder, float], None]
"""Called about twice a second with the driver, the responder and the replay lag (sim s)."""


class LiveDns:
    """A DNS server answering from a simulation that is frozen (`speed` None) or replayed."""

    def __init__(
        self,
        driver: SimDriver,
        speed: float | None = None,
        origin: float = 0.0,
        address: str = "127.0.0.1",
        port: int = 5353,
        idle_timeout: float = 10.0,
        tick: float = 0.05,
    ) -> None:
        if not driver.zones:
            raise ValueError("the scenario has no authoritative DNS zone to serve")
        self.driver = driver
        self.speed = speed
        self.origin = origin
        self.tick = tick
        self.responder = Responder(lambda: driver.zones, driver.env.rng("live.dns"))
        self.server = DnsServer(self.responder, address, port, idle_timeout)

    async def run(
        self,
        stop: asyncio.Event,
        ready: Callable[[LiveDns], None] | None = None,
        status: StatusFn | None = None,
        status_every: float = 0.5,
    ) -> None:
        """Serve until `stop` is set. Frozen: simulate to `origin` first; replayed: from it."""
        self.driver.advance_to(self.origin)
        await self.server.start()
        try:
            # the replay's wall clock starts once the server is up
            replay = None if self.speed is None else Replay(self.driver, self.speed, self.origin)
            if ready is not None:
                ready(self)
            loop = asyncio.get_running_loop()
            next_status = loop.time()
            lag = 0.0
            while not stop.is_set():
                if status is not None and loop.time() >= next_status:  # first: the origin
                    status(self.driver, self.responder, lag)
                    next_status = loop.time() + status_every
                if replay is not None and not self.driver.finished:
                    lag = replay.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.tick)
        finally:
            await self.server.close()


class LiveDnsThread:
    """Runs a `LiveDns` in a daemon thread with its own event loop (`with` starts and stops it)."""

    def __init__(self, live: LiveDns, timeout: float = 30.0) -> None:
        self.live = live
        self.timeout = timeout
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="live-dns", daemon=True)

    @property
    def port(self) -> int:
        return self.live.server.port

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.live.run(self._stop, ready=lambda _live: self._ready.set())

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._ready.set()

    def start(self) -> LiveDnsThread:
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise TimeoutError("the live DNS server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self.timeout)

    def __enter__(self) -> LiveDnsThread:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
