"""Shared pieces of the command modules: exit codes and the argparse class that exits 2."""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_DEVIATED, EXIT_BAD_INPUT = 0, 1, 2
FORMATTER = argparse.RawDescriptionHelpFormatter


class Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line of usage and the problem (as it does), never more."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")
