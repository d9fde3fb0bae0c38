"""The kernel: SimEnv (time, seeded RNG streams, recorder), Component, units, errors."""

from .clock import ScenarioClock
from .component import Action, Component, Detector, NoParams
from .config import SectionConfig
from .env import SimEnv
from .errors import (
    Location,
    ScenarioError,
    SimulationError,
    UnitError,
    UserInputError,
    WiringError,
)
from .recorder import Level, Recorder, Tally
from .results import Results
from .units import Duration, Rate, Size, Timestamp

__all__ = [
    "Action",
    "Component",
    "Detector",
    "Duration",
    "Level",
    "Location",
    "NoParams",
    "Rate",
    "Recorder",
    "Results",
    "ScenarioClock",
    "ScenarioError",
    "SectionConfig",
    "SimEnv",
    "SimulationError",
    "Size",
    "Tally",
    "Timestamp",
    "UnitError",
    "UserInputError",
    "WiringError",
]
