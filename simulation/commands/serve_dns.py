"""`outage-sim serve-dns FILE`: answer real DNS queries (dig, resolvers) from a simulated zone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import shutil
import signal
import sys
from pathlib import Path

from ..core.errors import UserInputError
from .common import EXIT_OK, FORMATTER


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "serve-dns",
        help="serve a scenario's simulated DNS zone to real DNS clients (dig, resolvers)",
        description="Build FILE's model, run it in this process, and answer DNS queries over UDP "
        "and TCP from its authoritative zone (e.g. Route 53 as the DynamoDB DNS automation left "
        "it): addresses with the modelled TTL, NOERROR with no answer and the SOA while a record "
        "is empty, NXDOMAIN for unknown names, REFUSED for other zones. --at freezes one "
        "moment; --speed replays sim time faster than real time (default: --speed 1 from the "
        "start). A status line shows the sim time and what each endpoint resolves to. "
        "Ctrl-C stops. See docs/live-dns.md.",
        epilog="examples:\n"
        "  outage-sim serve-dns scenarios/labs/dns-race.yaml --at 2025-10-20T01:00:00-07:00\n"
        "  dig @127.0.0.1 -p 5353 dynamodb.us-east-1.amazonaws.com A\n"
        "  outage-sim serve-dns scenarios/labs/dns-race.yaml --speed 60 --from '+40 min'",
        formatter_class=FORMATTER,
    )
    s.add_argument("file", metavar="FILE", type=Path)
    when = s.add_mutually_exclusive_group()
    when.add_argument(
        "--at",
        metavar="TIME",
        help="freeze this moment: start, end, an ISO-8601 time with offset, or +DURATION",
    )
    when.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="replay X sim seconds per wall second (default 1), frozen at the scenario's end",
    )
    s.add_argument(
        "--from",
        dest="origin",
        metavar="TIME",
        help="with --speed: the sim time the replay starts at (default: start)",
    )
    s.add_argument("--port", type=int, default=5353, help="UDP and TCP port (default 5353; 0: any)")
    s.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 serves the network)",
    )
    s.add_argument("--seed", type=int, default=None, metavar="N", help="override the seed")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a scenario key (dotted path, YAML value); repeatable",
    )
    s.set_defaults(func=run)


def check_options(args: argparse.Namespace) -> None:
    """Option problems the parser cannot see, as UserInputError (exit 2)."""
    if not 0 <= args.port <= 65535:
        raise UserInputError(f"--port {args.port}: expected 0 (any free port) to 65535")
    if args.speed is not None and not (args.speed > 0 and math.isfinite(args.speed)):
        raise UserInputError(
            f"--speed {args.speed:g}: expected a positive number (sim seconds per wall second)"
        )
    if args.origin is not None and args.at is not None:
        raise UserInputError("--from goes with --speed; --at already says which moment to serve")
    try:
        ipaddress.ip_address(args.address)
    except ValueError:
        raise UserInputError(
            f"--address {args.address!r}: expected an IP address such as 127.0.0.1 or ::1"
        ) from None


def run(args: argparse.Namespace) -> int:
    from ..live.dns_server import LiveDns
    from ..live.driver import SimDriver, resolve_instant
    from ..runner import prepare
    from ..scenario.load import display_path, load_scenario

    check_options(args)
    loaded = load_scenario(args.file, args.overrides)
    if args.at is not None:
        speed, origin = None, resolve_instant(args.at, loaded, "--at")
    else:
        speed = 1.0 if args.speed is None else args.speed
        origin = 0.0 if args.origin is None else resolve_instant(args.origin, loaded, "--from")
    driver = SimDriver(prepare(loaded, args.seed))
    if not driver.zones:
        raise UserInputError(
            f"{display_path(args.file)}: this scenario has no authoritative DNS zone to serve "
            "(serve-dns needs e.g. a dynamodb_dns: section)"
        )
    live = LiveDns(driver, speed, origin, args.address, args.port)
    out = sys.stdout
    print(f"outage-sim serve-dns: {loaded.model.title} (seed {driver.env.seed})", flush=True)
    for zone in driver.zones:
        print(f"  zone {zone.served.origin} from {zone.scope}", flush=True)
    if speed is None:
        print(f"  simulating to {driver.iso(origin)} and freezing there ...", flush=True)
    else:
        print(
            f"  replaying from {driver.iso(origin)} at {speed:g}x "
            f"(1 wall second = {speed:g} sim seconds)",
            flush=True,
        )
    status = _Status(out)
    try:
        asyncio.run(_serve(live, status))
    except OSError as exc:
        raise UserInputError(
            f"cannot listen on {args.address}:{args.port} (UDP and TCP): "
            f"{exc.strerror or exc} (another server there? choose one with --port)"
        ) from None
    status.done()
    counts = live.responder.counts
    answered = sum(v for k, v in counts.items() if k.isupper())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
    print(f"stopped: {answered} queries answered ({detail or 'none'})", flush=True)
    return EXIT_OK


async def _serve(live, status: _Status) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    def ready(live) -> None:
        server, zone = live.server, live.driver.watched()
        host = server.address if ":" not in server.address else f"[{server.address}]"
        print(f"  listening on {host}:{server.port} (UDP and TCP); Ctrl-C stops", flush=True)
        if not ipaddress.ip_address(server.address).is_loopback:
            print("  warning: not loopback - anyone who can reach this host can query", flush=True)
        if zone:
            target = server.address if server.address not in ("0.0.0.0", "::") else "127.0.0.1"
            qname = zone[0][1].to_text(omit_final_dot=True)
            print(f"  try: dig @{target} -p {server.port} {qname} A", flush=True)

    await live.run(stop, ready=ready, status=status)


class _Status:
    """The status line: redrawn in place on a terminal, else a line when the records change."""

    def __init__(self, out) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last: str | None = None
        self.drawn = False

    def __call__(self, driver, responder, lag: float) -> None:
        from ..core.units import format_duration

        counts = responder.counts
        queries = sum(v for k, v in counts.items() if k.isupper())
        if self.tty:  # the short, moving parts first: the line is cut at the terminal's width
            text = f"sim {driver.iso()} | {queries} queries"
            if lag > 1:
                text += f" | behind by {format_duration(round(lag))}"
            text += f" | {driver.describe(with_time=False)}"
            width = shutil.get_terminal_size((120, 20)).columns - 1
            self.out.write("\r\x1b[2K" + text[:width])
            self.out.flush()
            self.drawn = True
            return
        state = driver.describe(with_time=False)
        if state != self.last:
            self.last = state
            print(f"  {driver.describe()}", file=self.out, flush=True)

    def done(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.out.flush()
