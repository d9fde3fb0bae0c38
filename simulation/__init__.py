"""outage-sim: a discrete-event simulator of distributed outages (simpy)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("outage-sim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
