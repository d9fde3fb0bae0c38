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
from .views import Plot, Series, Switch, Views

__all__ = [
    "Action",
    "Component",
    "Detector",
    "Duration",
    "Level",
    "Location",
    "NoParams",
    "Plot",
    "Rate",
    "Recorder",
    "Results",
    "ScenarioClock",
    "ScenarioError",
    "SectionConfig",
    "Series",
    "SimEnv",
    "SimulationError",
    "Size",
    "Switch",
    "Tally",
    "Timestamp",
    "UnitError",
    "UserInputError",
    "Views",
    "WiringError",
]
