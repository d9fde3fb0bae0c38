"""What a component asks the report to show: plots of its own series, and its design switches.

The report knows no subsystem. Each component declares, through `Component.plots()`, which of
its recorded series belong together in a picture (and what to look for), and through
`Component.switches()`, which fixes ("design switches") are on or off in this run, so the report
can list contributing factors and action items. A component may also define `links() ->
list[Link]`: causal edges between milestones, operator actions and event kinds, from which the
report draws the causal chain (trigger -> sustaining effects -> recovery); a services component
can derive them from its dependency graph. The runner collects all three into `views.json`.

Health rows: a `Plot` of kind `health` is merged with every other one into the report's strip
chart (one row per series, coloured ok / degraded / down). A series there either records codes
(0 ok, 1 degraded, 2 down) or says how to read its values with `health` (see `Series.health`).
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
    health: tuple[float, float] | None = None
    """Health rows only: `(ok_limit, down_limit)`. The row is ok while the value is on the ok
    side of `ok_limit` (inclusive) and down once it reaches `down_limit` (inclusive), degraded in
    between; `ok_limit < down_limit` means higher is worse (failing clients: `(0, 200)`), the
    other way round lower is worse (addresses of a record: `(8, 0)`). None: the values are the
    codes 0 ok, 1 degraded, 2 down."""


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
    kind: Literal["time", "health"] = "time"
    """`time`: series against time; `health`: rows of the report's health strip chart (all
    health plots of a run are merged into one chart)."""


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


@dataclass(frozen=True)
class Link:
    """A causal edge of the report's chain: `cause` leads to `effect` through `mechanism`.

    Nodes are written `milestone:NAME` (a detected milestone), `action:NAME` (an operator action,
    by the name a component offers it under or the scenario entry's name) or `event:KIND` (an
    event kind of the timeline; the report takes its first occurrence at or after its causes).
    Edges whose ends did not happen in a run are not drawn.
    """

    cause: str
    effect: str
    mechanism: str = ""
    """Why the cause leads to the effect, e.g. 'cached answers expire (record TTL 60 s)'."""
    recovers: bool | None = None
    """Is the effect a recovery (True) or harm (False)? None: a recovery when the cause is an
    operator action or itself a recovery, else harm. Say False for harm that follows a repair
    (a collapse when the dependency comes back) or an action that injects a fault; an action
    whose every link says False is drawn as a trigger."""


LINK_KINDS = ("milestone", "action", "event")


@dataclass
class Views:
    plots: list[Plot] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plots": [asdict(p) for p in sorted(self.plots, key=lambda p: (p.order, p.key))],
            "switches": [asdict(s) for s in self.switches],
            "links": [asdict(link) for link in self.links],
        }


def check_link(link: Link) -> None:
    """Raise ValueError for a node not written `milestone:` / `action:` / `event:` NAME."""
    for node in (link.cause, link.effect):
        kind, _, name = node.partition(":")
        if kind not in LINK_KINDS or not name:
            raise ValueError(
                f"causal link node {node!r}: expected 'milestone:NAME', 'action:NAME' or "
                "'event:KIND'"
            )
