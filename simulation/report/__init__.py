"""Incident reports rendered from a run directory (so `outage-sim report DIR` needs no re-run).

This is the first, plain version: header, status, milestones, expectations, operator actions,
statistics and impact, and the scenario as run. Every string from a scenario is escaped in HTML.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

REQUIRED = ("summary.json", "scenario.json", "run.json")


def load_run(run_dir: Path) -> dict[str, Any]:
    """The JSON files of a run directory; raises FileNotFoundError naming the missing one."""
    data = {}
    for name in REQUIRED:
        path = run_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; is {run_dir} a run directory?")
        data[name.split(".")[0]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, value))


def _sections(run: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    s = run["summary"]
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    ms = sorted(s["milestones"].items(), key=lambda kv: (kv[1] is None, kv[1] or "", kv[0]))
    tables.append(("Milestones (detected)", ["milestone", "time"], [[k, _fmt(v)] for k, v in ms]))
    tables.append(
        (
            "Expectations",
            ["name", "expected", "actual", "result"],
            [
                [
                    e["name"],
                    _fmt(e.get("expected")),
                    _fmt(e.get("actual")),
                    "ok" if e["ok"] else "DEVIATED",
                ]
                for e in s["expectations"]
            ],
        )
    )
    tables.append(
        (
            "Operator actions",
            ["time", "action", "target", "note"],
            [[a["time"], a["name"], a["target"], a.get("note", "")] for a in s["operator_actions"]],
        )
    )
    for title, key in (("Impact", "impact"), ("Statistics", "statistics")):
        rows: list[tuple[str, Any]] = []
        _flatten("", s.get(key, {}), rows)
        tables.append((title, ["figure", "value"], [[k, _fmt(v)] for k, v in rows]))
    return tables


def render_markdown(run_dir: Path) -> str:
    run = load_run(run_dir)
    s, prov = run["summary"], run["run"]
    lines = [
        f"# {s['scenario']}",
        "",
        f"- Status: **{s['status']}**" + (f" ({s['failure']})" if s.get("failure") else ""),
        f"- Seed: {s['seed']}; outage-sim {prov['version']}",
        f"- Simulated: {s['sim_start']} to {s['sim_end']}",
        "",
    ]
    for title, head, rows in _sections(run):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["(none)", ""]
            continue
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        lines.append("")
    lines += [
        "## Appendix: scenario as run",
        "",
        "```json",
        json.dumps(run["scenario"], indent=2, ensure_ascii=False),
        "```",
        "",
    ]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:auto;
padding:1rem;line-height:1.45;color:#1a1a1a}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem;font-size:.92rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f2f2f2}.ok{color:#0a6b2d}.bad{color:#a40000;font-weight:bold}
pre{background:#f6f6f6;padding:.75rem;overflow-x:auto;font-size:.85rem}
@media print{pre{white-space:pre-wrap}}
"""


def render_html(run_dir: Path) -> str:
    run = load_run(run_dir)
    s, prov = run["summary"], run["run"]
    e = html.escape
    status_cls = "ok" if s["status"] == "ok" else "bad"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(s['scenario'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(s['scenario'])}</h1>",
        f"<p>Status: <span class='{status_cls}'>{e(s['status'])}</span>"
        + (f" ({e(s['failure'])})" if s.get("failure") else "")
        + f"<br>Seed {e(str(s['seed']))}; outage-sim {e(prov['version'])}"
        + f"<br>Simulated {e(s['sim_start'])} to {e(s['sim_end'])}</p>",
    ]
    for title, head, rows in _sections(run):
        parts.append(f"<h2>{e(title)}</h2>")
        if not rows:
            parts.append("<p>(none)</p>")
            continue
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
        parts.append("</thead><tbody>")
        for r in rows:
            cells = []
            for c in r:
                cls = " class='bad'" if c == "DEVIATED" else (" class='ok'" if c == "ok" else "")
                cells.append(f"<td{cls}>{e(c)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("<h2>Appendix: scenario as run</h2>")
    parts.append(f"<pre>{e(json.dumps(run['scenario'], indent=2, ensure_ascii=False))}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
