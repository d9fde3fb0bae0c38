"""Components: a tree of dotted scopes, wiring checked before the run, hooks for the runner.

A component gets its RNG stream, logger and recorder from the SimEnv, bound to its scope
(`region.dns.enactor[az2]`). It declares the connections it needs in `requires`; the runner calls
`check_wiring()` on the root before the simulation starts, and a missing connection is an error
naming both ends. Four hooks let a finished run ask the tree what happened, without the runner
knowing any subsystem:

- `actions()`: the operator actions this component accepts (name, parameter model, callable);
- `detectors()`: milestone detectors, each computing a time (or None) from the records;
- `statistics(results)`: figures for the summary (labs: throughput, goodput, quantiles ...);
- `impact(results)`: per-subsystem impact for the summary (error minutes, peak error rate ...);
- `plots()`, `switches()` and `links()`: what the report should draw of this component's series,
  which design switches (fixes) are on or off, and the causal links of its chain (`core.views`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .env import SimEnv
from .errors import WiringError

if TYPE_CHECKING:
    import random

    from .recorder import Level, Tally
    from .results import Results
    from .views import Link, Plot, Switch


class NoParams(BaseModel):
    """Parameters of an action that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Action:
    """An operator action a component accepts: `run(params)` is called at the action's time.

    `check(params)`, if given, is called when the scenario is bound, before the run: it returns
    a message for parameters that are well-formed but wrong for this model (an unknown host ...).
    """

    name: str
    run: Callable[[Any], None]
    params: type[BaseModel] = NoParams
    doc: str = ""
    check: Callable[[Any], str | None] | None = None


Detector = Callable[["Results"], float | None]
"""A milestone's sim time computed from the records of a finished run (None: it did not happen)."""


class Component:
    """A node of the model tree. Subclasses build children in `__init__` and start processes."""

    requires: ClassVar[tuple[str, ...]] = ()
    """Names of the connections this component needs before the run can start."""

    def __init__(self, parent: Component | SimEnv, name: str, index: int | str | None = None):
        if isinstance(parent, SimEnv):
            self.env, self.parent = parent, None
            base = ""
        else:
            self.env, self.parent = parent.env, parent
            base = parent.scope + "."
            parent.children.append(self)
        self.name = name
        self.index = index
        self.scope = f"{base}{name}" if index is None else f"{base}{name}[{index}]"
        self.children: list[Component] = []
        self.connections: dict[str, Any] = {}
        self._rng: random.Random | None = None
        self.log = self.env.logger(self.scope)

    # -- environment, bound to the scope --------------------------------------------------
    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = self.env.rng(self.scope)
        return self._rng

    def level(self, name: str, unit: str = "", initial: float | None = None) -> Level:
        return self.env.recorder.level(self.scope, name, unit, initial)

    def tally(self, name: str, unit: str = "") -> Tally:
        return self.env.recorder.tally(self.scope, name, unit)

    def event(self, kind: str, detail: Any = "") -> None:
        self.env.recorder.event(self.scope, kind, detail)

    # -- wiring ----------------------------------------------------------------------------
    def connect(self, name: str, target: Any) -> None:
        """Connect this component's port `name` to `target` (a component or any object)."""
        self.connections[name] = target

    def conn(self, name: str) -> Any:
        try:
            return self.connections[name]
        except KeyError:
            raise WiringError(f"{self.scope} has no connection '{name}'") from None

    def check_wiring(self) -> None:
        """Raise WiringError listing every required connection left unconnected in the tree."""
        missing = [
            f"{c.scope} needs connection '{port}' -> nothing connected "
            f"(connect it with {c.scope}.connect('{port}', <target>))"
            for c in self.walk()
            for port in c.requires
            if c.connections.get(port) is None
        ]
        if missing:
            raise WiringError("; ".join(missing))

    def find(self, scope: str) -> Component | None:
        """The component with exactly this scope in this subtree (e.g. `region.dynamodb_dns`)."""
        for comp in self.walk():
            if comp.scope == scope:
                return comp
        return None

    def walk(self) -> Iterator[Component]:
        """This component and all its descendants, depth first, in creation order."""
        yield self
        for child in self.children:
            yield from child.walk()

    # -- hooks read by the runner -----------------------------------------------------------
    def actions(self) -> list[Action]:
        return []

    def detectors(self) -> dict[str, Detector]:
        return {}

    def statistics(self, results: Results) -> dict[str, Any]:
        return {}

    def impact(self, results: Results) -> dict[str, Any]:
        return {}

    def plots(self) -> list[Plot]:
        return []

    def switches(self) -> list[Switch]:
        return []

    def links(self) -> list[Link]:
        """Causal links between this component's milestones, events and actions (core.views)."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scope}>"
