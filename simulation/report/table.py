"""Tables for the templates: pandas frames turned into rows of text, numbers formatted once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass
class Table:
    """A table for the templates: column names and rows of text (every cell a string)."""

    columns: list[str]
    rows: list[list[str]]
    status_column: int | None = None
    """Column whose cells are ok / deviated / ... (styled in HTML)."""

    @classmethod
    def of(cls, frame: pd.DataFrame, status_column: str | None = None) -> Table:
        cols = [str(c) for c in frame.columns]
        rows = [[fmt_cell(v) for v in rec] for rec in frame.itertuples(index=False, name=None)]
        return cls(cols, rows, None if status_column is None else cols.index(status_column))

    def __bool__(self) -> bool:
        return bool(self.rows)


def fmt_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
