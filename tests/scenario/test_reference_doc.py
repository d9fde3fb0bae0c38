"""docs/scenario-reference.md is generated from the models and must stay current."""

from pathlib import Path

from pydantic import BaseModel

from simulation.scenario.model import SECTIONS, section_module
from simulation.scenario.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenario-reference.md"


def test_reference_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/scenario-reference.md is stale: run "
        "`python -m simulation.scenario.reference > docs/scenario-reference.md`"
    )


def _undocumented(model: type[BaseModel], path: str, seen: set) -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            missing.append(f"{path}.{name}")
        for tp in _models(field.annotation):
            if tp not in seen:
                seen.add(tp)
                missing += _undocumented(tp, f"{path}.{name}", seen)
    return missing


def _models(tp):
    import typing

    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in _models(a)]


def test_every_section_key_has_a_description():
    missing = []
    for path in SECTIONS:
        missing += _undocumented(section_module(path).Config, path, set())
    assert missing == []
