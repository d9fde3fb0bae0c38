"""What a component asks the report to show: plots of its own series, and its design switches.

The report knows no subsystem. Each component declares, through `Component.plots()`, which of
its recorded series belong together in a picture (and what to look for), and through
`Component.switches()`, which fixes ("design switches") are on or off in this run, so the report
can list contributing factors and action items. The runner collects both into `views.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Series:
    """One recorded series (`scope`, `metric`, as recorded) drawn in a plot."""

    scope: str
    metric: str
    label: str
    axis: Literal["left", "right"] = "left"
    style: Literal["step", "line", "points"] = "step"
    scale: float = 1.0
    """Multiply values by this before drawing (e.g. 1/60 to show seconds as minutes)."""


@dataclass(frozen=True)
class Plot:
    """A picture of related series over sim time."""

    key: str
    """Stable identifier, also the file name stem (`dns-record`)."""
    title: str
    series: tuple[Series, ...]
    ylabel: str = ""
    y2label: str = ""
    caption: str = ""
    """One sentence: what to look for in this picture."""
    order: int = 50
    """Position in the report (lower first)."""


@dataclass(frozen=True)
class Switch:
    """A design switch of the model: a fix that is on or off in this run."""

    name: str
    """Human name, e.g. 'Enactor apply-time version check'."""
    on: bool
    action_item: str
    """What to do when it is off, e.g. 'Compare-and-set the plan version inside the apply
    transaction'."""
    scope: str = ""
    config_key: str = ""
    """Scenario key that turns it on, e.g. `dynamodb_dns.apply_version_check`."""


@dataclass
class Views:
    plots: list[Plot] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plots": [asdict(p) for p in sorted(self.plots, key=lambda p: (p.order, p.key))],
            "switches": [asdict(s) for s in self.switches],
        }
