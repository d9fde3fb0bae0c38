"""One exception hierarchy for the whole tool.

Everything a user can cause (a bad scenario, a bad option) is a `UserInputError`: the CLI prints
its message on one screen and exits 2, never a traceback. Everything else is a `SimulationError`
raised by the model itself (a bug or an impossible configuration found while running).
"""

from __future__ import annotations

from dataclasses import dataclass


class SimulationError(Exception):
    """Base of every error this package raises on purpose."""


class UserInputError(SimulationError):
    """Bad input from the user: printed as one located message, exit code 2."""


class UnitError(UserInputError, ValueError):
    """A value with a missing or unknown unit (`'30 parsecs'`)."""


class WiringError(SimulationError):
    """A component needs a connection that nobody made; names both ends."""


@dataclass(frozen=True)
class Location:
    """Where in which file a problem is: 1-based line and column, both optional."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class ScenarioError(UserInputError):
    """A problem in a scenario file, located by file, line, column and key path.

    Rendered as ``file:line:col: key.path: message`` so editors and terminals can jump to it.
    Several problems in one file are carried together (`problems`), one per line.
    """

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.location = location
        self.key = key
        self.problems: list[ScenarioError] = [self]
        super().__init__(self.render())

    @classmethod
    def many(cls, problems: list[ScenarioError]) -> ScenarioError:
        """Bundle several located problems into one error (printed one per line)."""
        first = problems[0]
        err = cls(first.message, first.location, first.key)
        err.problems = list(problems)
        err.args = ("\n".join(p.render() for p in problems),)
        return err

    def render(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        key = f"{self.key}: " if self.key else ""
        return f"{prefix}{key}{self.message}"

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)
