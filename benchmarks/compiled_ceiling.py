"""Experiment: the model with its hot modules compiled (mypyc or Cython), beside pure Python.

Issue #10 asks for whole-run events/s of at least half raw simpy's. In pure Python the models
spend ~3.7 us per event against ~1 us for a raw simpy event (README, "Profiling"), so the
question this script answers is whether compiling the hot modules closes that gap. It is an
experiment, not a build: the package stays pure Python.

It copies `simulation/` to a temporary directory, makes the few source changes a compiler needs
(below), compiles the hot modules there, then runs `bench_run.py` on the pure and the compiled
tree in alternation (`--rounds`; best of each shown) and checks that the compiled tree writes
byte-identical summary.json, timeline.csv and metrics.parquet.

    .venv/bin/python benchmarks/compiled_ceiling.py --build-python /tmp/buildenv/bin/python
    .venv/bin/python benchmarks/compiled_ceiling.py --build-python ... --compiler cython

`--build-python` is an interpreter of the same Python version with the compiler installed
(`python3 -m venv /tmp/buildenv && /tmp/buildenv/bin/pip install mypy cython setuptools simpy
pydantic dnspython`: mypy reads the package's imports); a C compiler must be on PATH.

Source changes made in the copy only (each asserted, so a changed source fails loudly):
- the pydantic sections of the compiled modules move to a sibling `<module>_cfg.py`, imported
  back (a compiled class body cannot hold pydantic `Field`s);
- lines mypy rejects get `# type: ignore` (mypyc compiles what mypy accepts; a wrong annotation
  then fails at run time, which is how the two fixed in hosts.py were found);
- `call_in` builds `Call(...)` (compiled classes refuse `object.__new__`) and is a method of
  `SimEnv` (a function assigned in a class body is an attribute to mypyc);
- the lease table's wake tick is stored as a float (mypyc keeps int and float apart).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "scenarios/aws-us-east-1-2025-10-20.yaml"

HOT = [
    "core/env.py",
    "core/timers.py",
    "core/recorder.py",
    "primitives/servers/worker.py",
    "primitives/resilience/admission.py",
    "primitives/resilience/lease.py",
    "primitives/resilience/throttle.py",
    "primitives/load.py",
    "primitives/dns/resolver.py",
    "subsystems/nlb/checker.py",
    "subsystems/nlb/balancer.py",
    "subsystems/ec2/hosts.py",
    "subsystems/ec2/dwfm.py",
    "subsystems/ec2/launches.py",
    "subsystems/ec2/network_manager.py",
    "subsystems/ec2/fleet.py",
]
"""The modules most of a reference run's samples are in (py-spy, README "Profiling" 9)."""

CONFIG_BASES = {"SectionConfig", "BaseModel"}

PATCHES = {
    "core/env.py": [
        (
            "    call = _new(Call)  # Call(callback, value) without the __init__ frame "
            "(2.6 M a reference run)\n    call.callbacks = [] if callback is None else "
            "[callback]\n    call.value = value\n",
            "    call = Call(callback, value)\n",
        ),
        (
            "    call_in = call_in\n",
            "    def call_in(self, delay: float, callback: Callable[[Call], None] | None, "
            "value: Any = None, priority: int = NORMAL) -> Call:\n"
            "        if delay < 0:\n"
            '            raise ValueError(f"Negative delay {delay}")\n'
            "        call = Call(callback, value)\n"
            "        heappush(self._queue, (self._now + delay, priority, next(self._eid), call))\n"
            "        return call\n",
        ),
    ],
    "primitives/resilience/lease.py": [
        ("self._wake_tick = tick\n", "self._wake_tick = float(tick)\n"),
        ("self._wake_tick = -1  #", "self._wake_tick = -1.0  #"),
    ],
}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def split_configs(path: Path) -> list[str]:
    """Move the module's pydantic sections to `<stem>_cfg.py` and import them back."""
    src = path.read_text()
    lines = src.splitlines(keepends=True)
    tree = ast.parse(src)
    bases, moved = set(CONFIG_BASES), []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            getattr(b, "id", getattr(b, "attr", None)) in bases for b in node.bases
        ):
            bases.add(node.name)
            moved.append(node)
    if not moved:
        return []
    used = {n.id for c in moved for n in ast.walk(c) if isinstance(n, ast.Name)}
    header = [  # the imports, and the module's aliases the sections use (Discipline, ...)
        "".join(lines[n.lineno - 1 : n.end_lineno])
        for n in tree.body
        if isinstance(n, ast.Import | ast.ImportFrom)
        or (
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id in used for t in n.targets)
        )
    ]
    drop: set[int] = set()
    body = []
    for node in moved:
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        body.append("".join(lines[start - 1 : node.end_lineno]))
        drop.update(range(start - 1, node.end_lineno))
    cfg = path.with_name(f"{path.stem}_cfg.py")
    cfg.write_text("".join(header) + "\n\n" + "\n\n".join(body))
    last_import = max(
        n.end_lineno or n.lineno for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
    )
    keep = [line for i, line in enumerate(lines) if i not in drop]
    names = ", ".join(n.name for n in moved)
    keep.insert(
        last_import - sum(1 for i in drop if i < last_import), f"from .{cfg.stem} import {names}\n"
    )
    path.write_text("".join(keep))
    return [n.name for n in moved]


def ignore_type_errors(build_python: str, tree: Path, modules: list[str]) -> int:
    """Append `# type: ignore` to every line mypy rejects (mypyc compiles only what it accepts)."""
    total = 0
    for _ in range(3):
        proc = subprocess.run(
            [
                build_python,
                "-m",
                "mypy",
                "--ignore-missing-imports",
                "--follow-imports=silent",
                *modules,
            ],
            cwd=tree,
            capture_output=True,
            text=True,
        )
        errors: dict[str, set[int]] = defaultdict(set)
        for line in proc.stdout.splitlines():
            m = re.match(r"^(.+?\.py):(\d+): error:", line)
            if m:
                errors[m.group(1)].add(int(m.group(2)))
        if not errors:
            return total
        for file, numbers in errors.items():
            text = (tree / file).read_text().split("\n")
            for n in numbers:
                text[n - 1] = re.sub(r"\s*# type: ignore(\[[^\]]*\])?", "", text[n - 1])
                text[n - 1] += "  # type: ignore"
                total += 1
            (tree / file).write_text("\n".join(text))
    sys.exit(f"mypy still rejects the copy:\n{proc.stdout[-2000:]}")


def prepare(build_python: str, compiler: str, work: Path, also: list[str]) -> Path:
    tree = work / "tree"
    shutil.copytree(ROOT / "simulation", tree / "simulation")
    modules = [f"simulation/{m}" for m in HOT + also]
    for rel, patches in PATCHES.items() if compiler == "mypyc" else ():
        path = tree / "simulation" / rel
        text = path.read_text()
        for old, new in patches:
            if old not in text:
                sys.exit(f"{rel}: the source changed; update PATCHES ({old.strip()[:60]!r})")
            text = text.replace(old, new)
        path.write_text(text)
    for m in modules:
        moved = split_configs(tree / m)
        if moved:
            say(f"  {m}: {', '.join(moved)} -> {Path(m).stem}_cfg.py")
    if compiler == "mypyc":
        say(f"  {ignore_type_errors(build_python, tree, modules)} lines mypy rejects ignored")
        cmd = [build_python, "-m", "mypyc", "--ignore-missing-imports", "--follow-imports=silent"]
    else:
        cmd = [build_python, "-m", "Cython.Build.Cythonize", "-i", "-3", "-j", "2", "-q"]
    say(f"  compiling {len(modules)} modules with {compiler} ...")
    proc = subprocess.run(cmd + modules, cwd=tree, capture_output=True, text=True)
    built = list((tree / "simulation").rglob("*.so"))
    if proc.returncode != 0 or len(built) < len(modules):
        sys.exit(
            f"{compiler} failed ({len(built)} of {len(modules)} built):\n"
            f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}"
        )
    return tree


def loaded_from(tree: Path | None) -> str:
    """Where `simulation.core.env` comes from with this PYTHONPATH, outside any checkout: the
    compiled tree must give an extension module, the pure one a .py file."""
    proc = subprocess.run(
        [sys.executable, "-c", "import simulation.core.env as m; print(m.__file__)"],
        cwd=tempfile.gettempdir(),
        env={**os.environ, "PYTHONPATH": str(tree or ROOT)},
        capture_output=True,
        text=True,
    )
    where = proc.stdout.strip()
    compiled = where.endswith(".so") or where.endswith(".pyd")
    if (tree is not None) != compiled or (tree is not None and not where.startswith(str(tree))):
        sys.exit(f"the {'compiled' if tree else 'pure'} run would import {where or proc.stderr}")
    return where


def bench(tree: Path | None, scenario: str) -> dict:
    """`bench_run.py` (a script: its own directory, then PYTHONPATH, on sys.path)."""
    env = {**os.environ, "PYTHONPATH": str(tree or ROOT)}  # this checkout, or its compiled copy
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_run.py"), scenario, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    row = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {}
    if "whole_s" not in row:
        sys.exit(
            f"{scenario} failed in the {tree or 'pure'} tree:\n{row.get('error', proc.stderr)}"
        )
    return row


def outputs(tree: Path | None, scenario: str, out: Path) -> dict[str, bytes]:
    """The run's outputs. `python -m` puts the working directory first on sys.path, so both runs
    start in the temporary directory, which holds no package (a run from the checkout would
    import its sources whatever PYTHONPATH says), and both record the same scenario path."""
    base = tree or ROOT
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulation",
            "run",
            str(ROOT / scenario),
            "--out",
            str(out),
            "--progress",
            "none",
        ],
        cwd=out.parent,
        env={**os.environ, "PYTHONPATH": str(base)},
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 1):
        sys.exit(f"{scenario} failed in the {tree or 'pure'} tree:\n{proc.stderr[-1500:]}")
    return {f: (out / f).read_bytes() for f in ("summary.json", "timeline.csv", "metrics.parquet")}


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("scenarios", nargs="*", default=[REFERENCE], help=f"default: {REFERENCE}")
    p.add_argument("--build-python", required=True, help="a Python with mypy / Cython installed")
    p.add_argument("--compiler", choices=("mypyc", "cython"), default="mypyc")
    p.add_argument("--rounds", type=int, default=2, help="alternated runs of each tree")
    p.add_argument(
        "--also",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="more modules to compile "
        "(paths under simulation/, e.g. primitives/connections/client.py)",
    )
    args = p.parse_args()
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        print("no C compiler on PATH: the experiment needs one", file=sys.stderr)
        return 2
    module = {"mypyc": "mypyc", "cython": "Cython"}[args.compiler]
    try:
        subprocess.run(
            [args.build_python, "-c", f"import {module}"], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        print(
            f"--build-python {args.build_python}: cannot import {module} there "
            "(see --help for how to make one)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="outage-sim-compiled-") as tmp:
        work = Path(tmp)
        say(f"preparing a compiled copy in {work} ...")
        tree = prepare(args.build_python, args.compiler, work, args.also)
        for t in (None, tree):
            say(f"  {'compiled' if t else 'pure'} runs import {loaded_from(t)}")
        say("measuring ...")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"{time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, {args.compiler}, "
            f"load average {load:.2f}, best of {args.rounds} alternated run(s) per tree"
        )
        print(f"{'scenario':<44} {'tree':<9} {'whole s':>8} {'ratio':>6} {'events':>10}  identical")
        for scenario in args.scenarios:
            best: dict[str, dict] = {}
            for _ in range(args.rounds):
                for name, t in (("python", None), (args.compiler, tree)):
                    r = bench(t, scenario)
                    if name not in best or r["whole_s"] < best[name]["whole_s"]:
                        best[name] = r
            same = outputs(None, scenario, work / "py") == outputs(tree, scenario, work / "c")
            for name, r in best.items():
                print(
                    f"{scenario:<44} {name:<9} {r['whole_s']:>8.2f} {r['ratio_whole']:>6.3f} "
                    f"{r['events']:>10,}  {'yes' if same else 'NO'}"
                )
            speed = best["python"]["whole_s"] / best[args.compiler]["whole_s"]
            print(f"{'':<44} speed-up x{speed:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
