"""The base of every scenario section's configuration model.

A scenario section (`dynamodb_dns:`, `labs.server_patterns:` ...) is a pydantic model deriving from
`SectionConfig`: unknown keys are errors, values are immutable, every field has a default and a
`description` (the scenario reference is generated from them). Units come from `core.units`.
A subsystem module that provides a section exports `Config` (this model) and
`build(parent: Component, config: Config) -> Component`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SectionConfig(BaseModel):
    """Strict, frozen, documented configuration (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
